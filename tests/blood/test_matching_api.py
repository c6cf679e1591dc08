"""Compatible-request search and volunteering as a donor, per role, with bad input and races."""
import json
import logging
import threading
from datetime import timedelta

import pytest

from app.blood import queries
from app.blood.compatibility import BLOOD_TYPES
from tests.blood.helpers import insert_blood_request, past
from tests.blood.test_compatibility import antigens


def count(db, table):
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def match(client, request_id, headers, donor_type="O-", **extra):
    return client.post(f"/api/blood/requests/{request_id}/match",
                       json={"donorBloodType": donor_type, **extra}, headers=headers)


# --- compatible requests ---------------------------------------------------------------

@pytest.mark.parametrize("donor_type", BLOOD_TYPES)
def test_compatible_lists_exactly_the_requests_this_donor_can_give_to(client, db, world,
                                                                     donor_type):
    by_type = {t: insert_blood_request(db, world.other_patient, blood_type=t)["id"]
               for t in BLOOD_TYPES}
    for t in BLOOD_TYPES:  # the caller's own requests never show up
        insert_blood_request(db, world.patient, blood_type=t)
    for status in ("fulfilled", "cancelled", "expired"):
        insert_blood_request(db, world.other_patient, blood_type="AB+", status=status)
    insert_blood_request(db, world.other_patient, blood_type="AB+", required_by=past(seconds=1))

    r = client.get("/api/blood/requests/compatible", query_string={"donorBloodType": donor_type},
                   headers=world.headers["patient"])
    assert r.status_code == 200, r.json
    expected = {by_type[t] for t in BLOOD_TYPES if antigens(donor_type) <= antigens(t)}
    assert {item["id"] for item in r.json} == expected
    assert json.loads(r.headers["X-Pagination"])["total"] == len(expected)


def test_compatible_is_most_urgent_then_soonest_needed_first(client, db, world):
    o = world.other_patient
    medium = insert_blood_request(db, o, blood_type="AB+", urgency="medium")
    critical_open = insert_blood_request(db, o, blood_type="O-", urgency="critical")
    critical_soon = insert_blood_request(db, o, blood_type="A-", urgency="critical",
                                         required_in=timedelta(hours=1))
    high = insert_blood_request(db, o, blood_type="B+", urgency="high",
                                required_in=timedelta(hours=1))
    r = client.get("/api/blood/requests/compatible?donorBloodType=O-",
                   headers=world.headers["authority"])
    assert [item["id"] for item in r.json] == [
        critical_soon["id"], critical_open["id"], high["id"], medium["id"]]
    page = client.get("/api/blood/requests/compatible?donorBloodType=O-&page=2&page_size=3",
                      headers=world.headers["authority"])
    assert [item["id"] for item in page.json] == [medium["id"]]


@pytest.mark.parametrize(
    "query",
    ["", "donorBloodType=", "donorBloodType=C%2B", "donorBloodType=a%2B",
     "donorBloodType=O+",  # unencoded '+' arrives as "O "
     "donorBloodType=O%20-", "donorBloodType=5", "donorBloodType=" + "A" * 5000,
     "donorBloodType=O-&page_size=0", "donorBloodType=O-&page=0"],
)
def test_compatible_bad_queries_are_422(client, world, query):
    r = client.get(f"/api/blood/requests/compatible?{query}", headers=world.headers["patient"])
    assert r.status_code == 422 and r.json["code"] == 422


# --- volunteering ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["patient", "authority", "other_authority", "admin"])
def test_any_other_user_can_volunteer_and_the_requester_is_notified(client, db, world, role):
    req = insert_blood_request(db, world.other_patient, blood_type="A+")
    donor = getattr(world, role)
    r = match(client, req["id"], world.headers[role], "O-", phone="+8801811111111")
    assert r.status_code == 201, r.json
    assert r.json["bloodRequestId"] == req["id"] and r.json["donorId"] == donor["id"]
    assert r.json["donorBloodType"] == "O-" and r.json["phone"] == "+8801811111111"
    stored = db.execute("SELECT * FROM blood_donor_matches").fetchall()
    assert [(m["blood_request_id"], m["donor_id"]) for m in stored] == [(req["id"], donor["id"])]
    notes = db.execute("SELECT * FROM booking_notifications").fetchall()
    assert len(notes) == 1
    note = notes[0]
    assert note["user_id"] == world.other_patient["id"] and note["blood_request_id"] == req["id"]
    assert note["type"] == "blood_match" and note["title"] and note["booking_id"] is None
    assert "8801811111111" not in note["message"]
    detail = client.get(f"/api/blood/requests/{req['id']}", headers=world.headers["patient"])
    assert detail.json["matchCount"] == 1


def test_phone_defaults_to_the_donor_profile_phone(client, db, world):
    db.execute("UPDATE users SET phone = '+8801999999999' WHERE id = ?", (world.patient["id"],))
    req = insert_blood_request(db, world.other_patient, blood_type="B+")
    r = match(client, req["id"], world.headers["patient"], "B-")
    assert r.status_code == 201 and r.json["phone"] == "+8801999999999"
    assert "+8801999999999" not in db.execute(
        "SELECT message FROM booking_notifications").fetchone()["message"]


def test_donor_phone_is_never_logged(client, db, world, caplog):
    req = insert_blood_request(db, world.other_patient)
    with caplog.at_level(logging.DEBUG):
        assert match(client, req["id"], world.headers["patient"], phone="+8801555555555").status_code == 201
    assert "8801555555555" not in caplog.text


def test_volunteering_twice_is_409(client, db, world):
    req = insert_blood_request(db, world.other_patient)
    assert match(client, req["id"], world.headers["patient"]).status_code == 201
    again = match(client, req["id"], world.headers["patient"], "O+")
    assert again.status_code == 409 and "already" in again.json["message"]
    assert count(db, "blood_donor_matches") == 1 and count(db, "booking_notifications") == 1


def test_volunteering_for_your_own_request_is_409(client, db, world):
    req = insert_blood_request(db, world.patient, blood_type="O+")
    r = match(client, req["id"], world.headers["patient"], "O+")
    assert r.status_code == 409 and "own" in r.json["message"]
    assert count(db, "blood_donor_matches") == 0 and count(db, "booking_notifications") == 0


@pytest.mark.parametrize("donor, recipient", [("A+", "O-"), ("O+", "A-"), ("AB-", "B-"),
                                              ("B+", "A+"), ("AB+", "O+")])
def test_incompatible_donor_is_409(client, db, world, donor, recipient):
    req = insert_blood_request(db, world.other_patient, blood_type=recipient)
    r = match(client, req["id"], world.headers["patient"], donor)
    assert r.status_code == 409, r.json
    assert count(db, "blood_donor_matches") == 0 and count(db, "booking_notifications") == 0


@pytest.mark.parametrize("state", ["fulfilled", "cancelled", "expired", "overdue"])
def test_closed_or_overdue_request_refuses_donors(client, db, world, state):
    if state == "overdue":  # still 'active' because the expiry job has not run yet
        req = insert_blood_request(db, world.other_patient, required_by=past(seconds=1))
    else:
        req = insert_blood_request(db, world.other_patient, status=state)
    r = match(client, req["id"], world.headers["patient"])
    assert r.status_code == 409 and "no longer active" in r.json["message"]
    assert count(db, "blood_donor_matches") == 0


@pytest.mark.parametrize(
    "body, field",
    [({}, "donorBloodType"), ({"donorBloodType": "C+"}, "donorBloodType"),
     ({"donorBloodType": "a+"}, "donorBloodType"), ({"donorBloodType": ""}, "donorBloodType"),
     ({"donorBloodType": 5}, "donorBloodType"), ({"donorBloodType": "O -"}, "donorBloodType"),
     ({"donorBloodType": "O-" * 10_000}, "donorBloodType"),
     ({"donorBloodType": "O-", "phone": "call me"}, "phone"),
     ({"donorBloodType": "O-", "phone": "1" * 5000}, "phone"),
     ({"donorBloodType": "O-", "phone": 8801711}, "phone"),
     ({"donorBloodType": "O-", "donorId": 1}, "donorId")],
)
def test_bad_match_bodies_are_422(client, db, world, body, field):
    req = insert_blood_request(db, world.other_patient)
    r = client.post(f"/api/blood/requests/{req['id']}/match", json=body,
                    headers=world.headers["patient"])
    assert r.status_code == 422 and field in r.json["errors"]["json"]
    assert count(db, "blood_donor_matches") == 0


def test_concurrent_duplicate_volunteering_gives_one_match_and_409s(app, db, world, make):
    req = insert_blood_request(db, world.other_patient)
    headers = make.auth(world.patient)
    barrier = threading.Barrier(6)
    codes = []

    def attempt():
        client = app.test_client()  # each thread has its own connection (get_db is per thread)
        barrier.wait()
        codes.append(match(client, req["id"], headers).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [201] + [409] * 5
    assert count(db, "blood_donor_matches") == 1 and count(db, "booking_notifications") == 1


def test_unique_index_backs_the_duplicate_check(client, db, world, monkeypatch):
    """Even if the check were skipped, the UNIQUE index answers 409 and nothing half-written stays."""
    req = insert_blood_request(db, world.other_patient)
    assert match(client, req["id"], world.headers["patient"]).status_code == 201
    monkeypatch.setattr(queries, "donor_has_volunteered", lambda *args: False)
    r = match(client, req["id"], world.headers["patient"])
    assert r.status_code == 409 and r.json["code"] == 409
    assert count(db, "blood_donor_matches") == 1 and count(db, "booking_notifications") == 1


# --- the volunteers of a request -------------------------------------------------------

@pytest.mark.parametrize(
    "role, code",
    [("patient", 200), ("other_patient", 403), ("authority", 200),
     ("other_authority", 403), ("admin", 200)],
)
def test_matches_are_visible_to_the_requester_its_hospital_and_admins(client, db, world, make,
                                                                     role, code):
    req = insert_blood_request(db, world.patient, blood_type="AB+", hospital_id=world.hospital["id"])
    donors = [make.user(), make.user()]
    for donor in donors:
        assert match(client, req["id"], make.auth(donor), "A+", phone="+8801700000001").status_code == 201
    r = client.get(f"/api/blood/requests/{req['id']}/matches", headers=world.headers[role])
    assert r.status_code == code, r.json
    if code == 200:
        assert [m["donorId"] for m in r.json] == [d["id"] for d in donors]
        assert r.json[0]["donorName"] == donors[0]["name"]
        assert r.json[0]["phone"] == "+8801700000001"
        assert json.loads(r.headers["X-Pagination"])["total"] == 2
    else:
        assert "phone" not in json.dumps(r.json)
