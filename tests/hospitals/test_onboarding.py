"""Onboarding: an authority registers its hospital, edits it, resubmits after rejection;
who may see a hospital in each status."""
import pytest

from tests.factories import build_world
from tests.hospitals.helpers import ROLES

NEW = {
    "name": "Rajshahi Care Hospital",
    "address": "Laxmipur, Rajshahi 6000",
    "city": "Rajshahi",
    "phone": "+880 721 772150",
    "email": "Contact@RajshahiCare.example",
    "website": "https://rajshahicare.example",
    "specialties": ["nephrology", "dialysis"],
    "description": "Kidney care.",
}


def test_authority_registers_a_pending_hospital_and_becomes_its_authority(client, make, db):
    authority = make.user("hospital-authority")
    r = client.post("/api/hospitals", json=NEW, headers=make.auth(authority))
    assert r.status_code == 201, r.json
    body = r.json
    assert body["status"] == "pending" and body["name"] == NEW["name"]
    assert body["specialties"] == ["nephrology", "dialysis"]
    assert body["timezone"] == "Asia/Dhaka" and body["email"] == "contact@rajshahicare.example"
    user = db.execute("SELECT hospital_id FROM users WHERE id = ?", (authority["id"],)).fetchone()
    assert user["hospital_id"] == body["id"]
    created_by = db.execute("SELECT created_by FROM hospitals WHERE id = ?", (body["id"],)).fetchone()
    assert created_by["created_by"] == authority["id"]


def test_registering_a_second_hospital_is_409_and_leaves_nothing(client, make, db):
    authority = make.user("hospital-authority")
    headers = make.auth(authority)
    first = client.post("/api/hospitals", json=NEW, headers=headers)
    assert first.status_code == 201
    second = client.post("/api/hospitals", json={**NEW, "name": "Second"}, headers=headers)
    assert second.status_code == 409
    assert db.execute("SELECT count(*) AS n FROM hospitals").fetchone()["n"] == 1
    assert db.execute("SELECT hospital_id FROM users WHERE id = ?",
                      (authority["id"],)).fetchone()["hospital_id"] == first.json["id"]


def test_authority_of_an_existing_hospital_cannot_register_another(client, world, db):
    before = db.execute("SELECT count(*) AS n FROM hospitals").fetchone()["n"]
    r = client.post("/api/hospitals", json=NEW, headers=world.headers["authority"])
    assert r.status_code == 409
    assert db.execute("SELECT count(*) AS n FROM hospitals").fetchone()["n"] == before


@pytest.mark.parametrize("role, code", [("anonymous", 401), ("patient", 403), ("admin", 403)])
def test_only_authorities_register_hospitals(client, world, db, role, code):
    before = db.execute("SELECT count(*) AS n FROM hospitals").fetchone()["n"]
    r = client.post("/api/hospitals", json=NEW, headers=world.headers[role])
    assert r.status_code == code
    assert db.execute("SELECT count(*) AS n FROM hospitals").fetchone()["n"] == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({k: v for k, v in NEW.items() if k != "name"}, "name"),
        ({k: v for k, v in NEW.items() if k != "address"}, "address"),
        ({**NEW, "name": "   "}, "name"),
        ({**NEW, "name": "x" * 201}, "name"),
        ({**NEW, "name": 42}, "name"),
        ({**NEW, "name": "bad\x07bell"}, "name"),
        ({**NEW, "address": "y" * 501}, "address"),
        ({**NEW, "phone": "call us"}, "phone"),
        ({**NEW, "email": "nope"}, "email"),
        ({**NEW, "website": "javascript:alert(1)"}, "website"),
        ({**NEW, "website": "ftp://files.example"}, "website"),
        ({**NEW, "specialties": "cardiology"}, "specialties"),
        ({**NEW, "specialties": ["x"] * 31}, "specialties"),
        ({**NEW, "specialties": [""]}, "specialties"),
        ({**NEW, "specialties": [{"a": 1}]}, "specialties"),
        ({**NEW, "timezone": "Mars/Olympus"}, "timezone"),
        ({**NEW, "status": "approved"}, "status"),
        ({**NEW, "approvedBy": 1}, "approvedBy"),
        ({**NEW, "id": 7}, "id"),
    ],
)
def test_registration_bad_input_is_422_and_writes_nothing(client, make, db, body, field):
    authority = make.user("hospital-authority")
    r = client.post("/api/hospitals", json=body, headers=make.auth(authority))
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert db.execute("SELECT count(*) AS n FROM hospitals").fetchone()["n"] == 0
    assert db.execute("SELECT hospital_id FROM users WHERE id = ?",
                      (authority["id"],)).fetchone()["hospital_id"] is None


def test_my_hospital_shows_own_hospital_with_resources_and_prices(client, world):
    r = client.get("/api/hospitals/my-hospital", headers=world.headers["authority"])
    assert r.status_code == 200
    assert r.json["id"] == world.hospital["id"]
    assert [res["resourceType"] for res in r.json["resources"]] == ["beds", "icu"]
    assert r.json["prices"][0]["basePrice"] == "1500.00"


def test_my_hospital_without_a_hospital_is_404(client, make):
    authority = make.user("hospital-authority")
    headers = make.auth(authority)
    assert client.get("/api/hospitals/my-hospital", headers=headers).status_code == 404
    assert client.put("/api/hospitals/my-hospital", json={"name": "X"},
                      headers=headers).status_code == 404


@pytest.mark.parametrize("role, code", [("anonymous", 401), ("patient", 403), ("admin", 403)])
def test_my_hospital_is_for_authorities(client, world, role, code):
    assert client.get("/api/hospitals/my-hospital", headers=world.headers[role]).status_code == code
    r = client.put("/api/hospitals/my-hospital", json={"name": "X"}, headers=world.headers[role])
    assert r.status_code == code


def test_editing_keeps_unsent_fields_and_clears_nulls(client, world, db):
    headers = world.headers["authority"]
    client.put("/api/hospitals/my-hospital", json={"city": "Dhaka", "phone": "+8801711000000"},
               headers=headers)
    # (not the name: an approved hospital's is the admin's to change, issue #16)
    r = client.put("/api/hospitals/my-hospital", json={"description": "Renamed", "phone": None},
                   headers=headers)
    assert r.status_code == 200
    assert r.json["description"] == "Renamed" and r.json["phone"] is None
    assert r.json["city"] == "Dhaka" and r.json["name"] == world.hospital["name"]
    assert r.json["address"] == world.hospital["address"]
    assert r.json["status"] == "approved"  # editing an approved hospital keeps it approved


def test_editing_updates_the_search_index(client, world):
    client.put("/api/hospitals/my-hospital", json={"specialties": ["oncology"]},
               headers=world.headers["authority"])
    assert [h["id"] for h in client.get("/api/hospitals?q=oncology").json] == [world.hospital["id"]]
    assert client.get("/api/hospitals?q=cardiology").json == []


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": None}, {"address": None},
                                  {"status": "approved"}, {"specialties": None},
                                  {"timezone": None}, {"rejectionReason": None}])
def test_editing_bad_input_is_422_and_changes_nothing(client, world, db, body):
    r = client.put("/api/hospitals/my-hospital", json=body, headers=world.headers["authority"])
    assert r.status_code == 422, r.json
    row = db.execute("SELECT * FROM hospitals WHERE id = ?", (world.hospital["id"],)).fetchone()
    assert row == world.hospital


def test_rejected_hospital_is_resubmitted_by_editing(client, make, db):
    authority = make.user("hospital-authority")
    admin = make.admin()
    headers = make.auth(authority)
    hospital_id = client.post("/api/hospitals", json=NEW, headers=headers).json["id"]
    r = client.put(f"/api/admin/hospitals/{hospital_id}/reject", json={"reason": "Licence missing"},
                   headers=make.auth(admin))
    assert r.json["status"] == "rejected" and r.json["rejectionReason"] == "Licence missing"
    mine = client.get("/api/hospitals/my-hospital", headers=headers).json
    assert mine["status"] == "rejected" and mine["rejectionReason"] == "Licence missing"

    # issue #16: approval needs a licence number, which this hospital lacked
    r = client.put("/api/hospitals/my-hospital",
                   json={"description": "Licence attached.", "licenseNumber": "DGHS-R-77"},
                   headers=headers)
    assert r.status_code == 200
    assert r.json["status"] == "pending" and r.json["rejectionReason"] is None
    approved = client.put(f"/api/admin/hospitals/{hospital_id}/approve", headers=make.auth(admin))
    assert approved.status_code == 200 and approved.json["status"] == "approved"


def test_editing_a_suspended_hospital_does_not_revive_it(client, world, db):
    client.put(f"/api/admin/hospitals/{world.hospital['id']}/suspend", json={"reason": "Fraud"},
               headers=world.headers["admin"])
    # (its name is no longer the staff's to change: issue #16, tests/hospitals/test_profile.py)
    r = client.put("/api/hospitals/my-hospital", json={"description": "New description"},
                   headers=world.headers["authority"])
    assert r.status_code == 200 and r.json["status"] == "suspended"


# Who sees GET /api/hospitals/{id} for a hospital in each status.
VISIBILITY = {
    "approved": {role: 200 for role in ROLES},
    **{status: {"anonymous": 404, "patient": 404, "other_patient": 404, "authority": 200,
                "other_authority": 404, "admin": 200}
       for status in ("pending", "rejected", "suspended")},
}


@pytest.mark.parametrize("status", list(VISIBILITY))
@pytest.mark.parametrize("role", ROLES)
def test_hospital_detail_visibility_per_status_and_role(client, make, status, role):
    world = build_world(make, status=status)
    r = client.get(f"/api/hospitals/{world.hospital['id']}", headers=world.headers[role])
    assert r.status_code == VISIBILITY[status][role]
    if r.status_code == 200:
        assert r.json["id"] == world.hospital["id"]
        assert r.json["resources"][0] == {
            "resourceType": "beds", "total": 10, "available": 10, "occupied": 0, "reserved": 0,
            "maintenance": 0, "lastUpdated": r.json["resources"][0]["lastUpdated"]}
        price = r.json["prices"][0]
        assert (price["resourceType"], price["basePrice"], price["emergencyMultiplier"],
                price["currency"], price["effectiveTo"]) == ("beds", "1500.00", "1", "BDT", None)
    else:
        assert r.json["code"] == 404


@pytest.mark.parametrize("path", ["/api/hospitals/999999", "/api/hospitals/0",
                                  "/api/hospitals/99999999999999999999999999",
                                  "/api/hospitals/-1", "/api/hospitals/abc"])
def test_unknown_hospital_is_404(client, world, path):
    r = client.get(path, headers=world.headers["admin"])
    assert r.status_code == 404 and r.json["code"] == 404
