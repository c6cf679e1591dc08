"""Issue #16, items 1, 3 and 4: the hospital profile (licence number, facilities,
operating hours, emergency contact), reinstating a suspended hospital, and edits of an
approved hospital (identity admin-only, every edit audited with old and new values)."""
import json

import pytest

from tests.factories import build_world
from tests.hospitals.helpers import ROLES

PROFILE = {
    "name": "Khulna Lifeline Hospital",
    "address": "KDA Avenue, Khulna 9100",
    "city": "Khulna",
    "specialties": ["trauma"],
    "licenseNumber": "DGHS-K-0042",
    "facilities": ["Ambulance", "pharmacy", "blood bank"],
    "operatingHours": "24/7",
    "emergencyContact": "+880 41 999999",
}


def audit_rows(db, action):
    rows = db.execute("SELECT * FROM admin_audit_log WHERE action = ? ORDER BY id",
                      (action,)).fetchall()
    return [{**row, "details": json.loads(row["details"])} for row in rows]


def status_of(db, hospital_id):
    return db.execute("SELECT status FROM hospitals WHERE id = ?", (hospital_id,)).fetchone()["status"]


# --- 1. the profile -------------------------------------------------------------------


def test_registration_takes_the_profile_fields(client, make):
    authority = make.user("hospital-authority")
    r = client.post("/api/hospitals", json=PROFILE, headers=make.auth(authority))
    assert r.status_code == 201, r.json
    assert r.json["licenseNumber"] == "DGHS-K-0042"
    assert r.json["facilities"] == ["Ambulance", "pharmacy", "blood bank"]
    assert r.json["operatingHours"] == "24/7" and r.json["emergencyContact"] == "+880 41 999999"
    mine = client.get("/api/hospitals/my-hospital", headers=make.auth(authority)).json
    assert mine["licenseNumber"] == "DGHS-K-0042" and mine["facilities"] == PROFILE["facilities"]


def test_the_profile_fields_are_optional_at_registration(client, make):
    r = client.post("/api/hospitals", json={"name": "Bare", "address": "1 Road"},
                    headers=make.auth(make.user("hospital-authority")))
    assert r.status_code == 201, r.json
    assert r.json["licenseNumber"] is None and r.json["facilities"] == []
    assert r.json["operatingHours"] is None and r.json["emergencyContact"] is None


@pytest.mark.parametrize("body, field", [
    ({"licenseNumber": ""}, "licenseNumber"),
    ({"licenseNumber": "x" * 101}, "licenseNumber"),
    ({"licenseNumber": 42}, "licenseNumber"),
    ({"licenseNumber": "bad\x07bell"}, "licenseNumber"),
    ({"facilities": "pharmacy"}, "facilities"),
    ({"facilities": [""]}, "facilities"),
    ({"facilities": ["x" * 101]}, "facilities"),
    ({"facilities": ["x"] * 31}, "facilities"),
    ({"facilities": None}, "facilities"),
    ({"operatingHours": "x" * 201}, "operatingHours"),
    ({"emergencyContact": "call the front desk"}, "emergencyContact"),
    ({"emergencyContact": 999}, "emergencyContact"),
])
def test_bad_profile_fields_are_422_and_write_nothing(client, make, db, body, field):
    authority = make.user("hospital-authority")
    r = client.post("/api/hospitals", json={**PROFILE, **body}, headers=make.auth(authority))
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert db.execute("SELECT count(*) AS n FROM hospitals").fetchone()["n"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_the_licence_number_is_shown_to_admins_and_the_hospitals_staff_only(client, world, role):
    sees = role in ("authority", "admin")
    one = client.get(f"/api/hospitals/{world.hospital['id']}", headers=world.headers[role])
    assert one.status_code == 200
    assert ("licenseNumber" in one.json) == sees
    if sees:
        assert one.json["licenseNumber"] == world.hospital["license_number"]
    listed = client.get("/api/hospitals", headers=world.headers[role]).json
    [mine] = [h for h in listed if h["id"] == world.hospital["id"]]
    [other] = [h for h in listed if h["id"] == world.other_hospital["id"]]
    assert ("licenseNumber" in mine) == sees
    # another hospital's staff are the public to this one, and the reverse
    assert ("licenseNumber" in other) == (role in ("other_authority", "admin"))
    assert mine["facilities"] == [] and "operatingHours" in mine


def test_a_licence_number_belongs_to_one_hospital(client, world, make, db):
    taken = world.other_hospital["license_number"]
    r = client.post("/api/hospitals", json={**PROFILE, "licenseNumber": taken},
                    headers=make.auth(make.user("hospital-authority")))
    assert r.status_code == 409 and "licence number" in r.json["message"]
    pending = make.hospital(status="pending", license_number=None)
    staff = make.authority(pending)
    r = client.put("/api/hospitals/my-hospital", json={"licenseNumber": taken},
                   headers=make.auth(staff))
    assert r.status_code == 409 and "licence number" in r.json["message"]
    r = client.put(f"/api/admin/hospitals/{pending['id']}", json={"licenseNumber": taken},
                   headers=world.headers["admin"])
    assert r.status_code == 409
    row = db.execute("SELECT license_number FROM hospitals WHERE id = ?", (pending["id"],)).fetchone()
    assert row["license_number"] is None
    assert audit_rows(db, "hospital.edit") == []


def test_approval_without_a_licence_number_is_409(client, make, db):
    admin = make.admin()
    hospital = make.hospital(status="pending", license_number=None)
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/approve", headers=make.auth(admin))
    assert r.status_code == 409
    assert "licence number" in r.json["message"]
    assert status_of(db, hospital["id"]) == "pending"
    assert audit_rows(db, "hospital.approve") == []


def test_the_admin_review_list_shows_the_licence_number(client, make):
    hospital = make.hospital(status="pending", license_number="DGHS-REVIEW-1")
    r = client.get("/api/admin/hospitals?status=pending", headers=make.auth(make.admin()))
    assert [(h["id"], h["licenseNumber"]) for h in r.json] == [(hospital["id"], "DGHS-REVIEW-1")]


def test_facilities_are_searchable_like_specialties(client, make):
    hospital = make.hospital(facilities=("Ambulance", "Blood bank"), specialties=("general",))
    make.hospital(facilities=("pharmacy",))
    assert [h["id"] for h in client.get("/api/hospitals?q=ambul").json] == [hospital["id"]]
    assert [h["id"] for h in client.get("/api/hospitals?q=blood bank").json] == [hospital["id"]]


def test_the_facility_filter_matches_a_whole_facility_in_any_case(client, make):
    both = make.hospital(facilities=("Ambulance", "pharmacy"), resources={"beds": 2})
    ambulance = make.hospital(facilities=("ambulance",))
    make.hospital(facilities=("pharmacy",))
    make.hospital(facilities=("Ambulance",), status="pending")

    def found(query):
        r = client.get(f"/api/hospitals?{query}")
        assert r.status_code == 200, r.json
        return sorted(h["id"] for h in r.json)

    assert found("facility=AMBULANCE") == sorted([both["id"], ambulance["id"]])
    assert found("facility=ambu") == []
    assert found("facility=ambulance&resourceType=beds") == [both["id"]]
    assert found("facility=pharmacy&q=ambulance") == [both["id"]]


@pytest.mark.parametrize("query", ["facility=", "facility=" + "x" * 101, "facility=%07"])
def test_bad_facility_filter_is_422(client, query):
    assert client.get(f"/api/hospitals?{query}").status_code == 422


def test_editing_the_facilities_updates_the_search_index(client, world):
    r = client.put("/api/hospitals/my-hospital", json={"facilities": ["helipad"]},
                   headers=world.headers["authority"])
    assert r.status_code == 200 and r.json["facilities"] == ["helipad"]
    assert [h["id"] for h in client.get("/api/hospitals?q=helipad").json] == [world.hospital["id"]]
    assert [h["id"] for h in client.get("/api/hospitals?facility=helipad").json] == [
        world.hospital["id"]]


# --- 3. reinstating a suspended hospital ---------------------------------------------


def test_admin_reinstates_a_suspended_hospital(client, world, db):
    hospital_id = world.hospital["id"]
    client.put(f"/api/admin/hospitals/{hospital_id}/suspend", json={"reason": "Unlicensed ICU"},
               headers=world.headers["admin"])
    assert client.get(f"/api/hospitals/{hospital_id}").status_code == 404
    r = client.put(f"/api/admin/hospitals/{hospital_id}/reinstate",
                   json={"reason": "ICU licence produced"}, headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    assert r.json["status"] == "approved" and r.json["suspensionReason"] is None
    assert client.get(f"/api/hospitals/{hospital_id}").status_code == 200
    [entry] = audit_rows(db, "hospital.reinstate")
    assert (entry["actor_id"], entry["target_type"], entry["target_id"]) == (
        world.admin["id"], "hospital", hospital_id)
    assert entry["details"] == {"from": "suspended", "to": "approved",
                                "reason": "ICU licence produced"}
    assert entry["ip_address"] == "127.0.0.1"


@pytest.mark.parametrize("status", ["pending", "approved", "rejected"])
def test_only_a_suspended_hospital_is_reinstated(client, make, db, status):
    hospital = make.hospital(status=status)
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/reinstate", json={"reason": "why"},
                   headers=make.auth(make.admin()))
    assert r.status_code == 409
    assert "suspended" in r.json["message"] and status in r.json["message"]
    assert status_of(db, hospital["id"]) == status
    assert audit_rows(db, "hospital.reinstate") == []


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "  "}, {"reason": 5},
                                  {"reason": "x" * 1001}])
def test_reinstating_needs_a_reason(client, make, db, body):
    hospital = make.hospital(status="suspended")
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/reinstate", json=body,
                   headers=make.auth(make.admin()))
    assert r.status_code == 422
    assert status_of(db, hospital["id"]) == "suspended"


def test_reinstating_an_unknown_hospital_is_404(client, make):
    r = client.put("/api/admin/hospitals/424242/reinstate", json={"reason": "x"},
                   headers=make.auth(make.admin()))
    assert r.status_code == 404


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_admins_reinstate(client, make, db, role):
    world = build_world(make, status="suspended")
    r = client.put(f"/api/admin/hospitals/{world.hospital['id']}/reinstate",
                   json={"reason": "x"}, headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)
    assert status_of(db, world.hospital["id"]) == "suspended"


# --- 4. edits of an approved hospital ------------------------------------------------


@pytest.mark.parametrize("status", ["approved", "suspended"])
@pytest.mark.parametrize("change", [{"name": "Renamed"}, {"licenseNumber": "NEW-1"},
                                    {"name": "Renamed", "city": "Gazipur"}])
def test_staff_cannot_change_the_identity_of_a_reviewed_hospital(client, make, db, status, change):
    world = build_world(make, status=status)
    r = client.put("/api/hospitals/my-hospital", json=change, headers=world.headers["authority"])
    assert r.status_code == 409
    assert "admin" in r.json["message"]
    row = db.execute("SELECT name, license_number, city FROM hospitals WHERE id = ?",
                     (world.hospital["id"],)).fetchone()
    assert row == {key: world.hospital[key] for key in ("name", "license_number", "city")}
    assert audit_rows(db, "hospital.edit") == []


def test_staff_may_resend_the_identity_unchanged(client, world):
    r = client.put("/api/hospitals/my-hospital",
                   json={"name": world.hospital["name"],
                         "licenseNumber": world.hospital["license_number"], "city": "Gazipur"},
                   headers=world.headers["authority"])
    assert r.status_code == 200 and r.json["city"] == "Gazipur"


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_staff_change_the_identity_before_approval(client, make, db, status):
    world = build_world(make, status=status)
    r = client.put("/api/hospitals/my-hospital", json={"name": "Renamed", "licenseNumber": "N-9"},
                   headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    assert r.json["name"] == "Renamed" and r.json["licenseNumber"] == "N-9"
    assert r.json["status"] == "pending"  # a rejected hospital is resubmitted
    [entry] = audit_rows(db, "hospital.edit")
    assert entry["actor_id"] == world.authority["id"]
    assert entry["details"]["old"] == {"name": world.hospital["name"],
                                       "license_number": world.hospital["license_number"]}
    assert entry["details"]["new"] == {"name": "Renamed", "license_number": "N-9"}
    assert entry["details"]["status"] == {"from": status, "to": "pending"}


def test_every_edit_by_staff_is_audited_with_old_and_new_values(client, world, db):
    r = client.put("/api/hospitals/my-hospital",
                   json={"operatingHours": "08:00-20:00", "facilities": ["pharmacy"],
                         "phone": "+8801711000000"},
                   headers=world.headers["authority"])
    assert r.status_code == 200
    assert client.get("/api/hospitals").json[0]["name"] == world.hospital["name"]
    [entry] = audit_rows(db, "hospital.edit")
    assert (entry["actor_id"], entry["target_type"], entry["target_id"], entry["ip_address"]) == (
        world.authority["id"], "hospital", world.hospital["id"], "127.0.0.1")
    assert entry["details"]["old"] == {"phone": None, "facilities": [], "operating_hours": None}
    assert entry["details"]["new"] == {"phone": "+8801711000000", "facilities": ["pharmacy"],
                                       "operating_hours": "08:00-20:00"}
    assert entry["details"]["status"] == {"from": "approved", "to": "approved"}


def test_admin_changes_the_identity_of_an_approved_hospital(client, world, db):
    r = client.put(f"/api/admin/hospitals/{world.hospital['id']}",
                   json={"name": "Dhaka Heart Institute", "licenseNumber": "DGHS-NEW"},
                   headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    assert r.json["name"] == "Dhaka Heart Institute" and r.json["licenseNumber"] == "DGHS-NEW"
    assert r.json["status"] == "approved" and r.json["resources"]
    assert client.get(f"/api/hospitals/{world.hospital['id']}").json["name"] == (
        "Dhaka Heart Institute")
    [entry] = audit_rows(db, "hospital.edit")
    assert entry["actor_id"] == world.admin["id"] and entry["ip_address"] == "127.0.0.1"
    assert entry["details"]["old"] == {"name": "Dhaka Heart Centre",
                                       "license_number": world.hospital["license_number"]}
    assert entry["details"]["new"] == {"name": "Dhaka Heart Institute",
                                       "license_number": "DGHS-NEW"}


def test_an_admins_edit_of_a_rejected_hospital_does_not_resubmit_it(client, make, db):
    hospital = make.hospital(status="rejected")
    r = client.put(f"/api/admin/hospitals/{hospital['id']}", json={"city": "Bogura"},
                   headers=make.auth(make.admin()))
    assert r.status_code == 200 and r.json["status"] == "rejected"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": None}, {"status": "approved"},
                                  {"licenseNumber": "x" * 101}])
def test_admin_edit_bad_input_is_422(client, world, db, body):
    r = client.put(f"/api/admin/hospitals/{world.hospital['id']}", json=body,
                   headers=world.headers["admin"])
    assert r.status_code == 422
    assert audit_rows(db, "hospital.edit") == []


def test_admin_edit_of_an_unknown_hospital_is_404(client, make):
    r = client.put("/api/admin/hospitals/424242", json={"name": "X"},
                   headers=make.auth(make.admin()))
    assert r.status_code == 404


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_admins_use_the_admin_edit(client, world, db, role):
    r = client.put(f"/api/admin/hospitals/{world.hospital['id']}", json={"name": "Taken over"},
                   headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)
    assert db.execute("SELECT name FROM hospitals WHERE id = ?",
                      (world.hospital["id"],)).fetchone()["name"] == world.hospital["name"]
