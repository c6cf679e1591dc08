"""POST /api/bookings: validation, hospital rules, capacity, one open booking per day,
the reference, and the history/notifications the triggers write."""
import re
from datetime import datetime, time, timedelta, timezone

import pytest

from app.db import IntegrityError
from app.timeutil import utcnow
from tests.bookings.helpers import booking_body, counters, future, history, notifications


def count(db, table):
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def test_patient_creates_a_pending_booking(client, db, world):
    body = booking_body(world.hospital)
    r = client.post("/api/bookings", json=body, headers=world.headers["patient"])
    assert r.status_code == 201, r.json
    booking = r.json
    assert booking["status"] == "pending" and booking["userId"] == world.patient["id"]
    assert re.fullmatch(r"RC-\d{4}-\d{6}", booking["bookingReference"])
    assert booking["hospitalName"] == world.hospital["name"]
    for key in ("resourceType", "patientName", "patientAge", "patientGender", "medicalCondition",
                "urgency", "emergencyContactName", "emergencyContactPhone",
                "emergencyContactRelationship", "estimatedDuration", "notes"):
        assert booking[key] == body[key], key
    scheduled = datetime.fromisoformat(booking["scheduledDate"])
    assert scheduled == datetime.fromisoformat(body["scheduledDate"])
    assert scheduled.utcoffset() == timedelta(0)  # stored in UTC
    assert booking["amount"] is None and booking["currency"] == "BDT"
    assert booking["allocatedUnits"] == 0 and booking["approvedAt"] is None
    # creating a booking takes nothing: capacity moves only on approval
    assert counters(db, world.hospital["id"])["available"] == 5


def test_defaults_urgency_medium_and_duration_24(client, world):
    body = booking_body(world.hospital, urgency=..., estimatedDuration=..., notes=...)
    r = client.post("/api/bookings", json=body, headers=world.headers["patient"])
    assert r.status_code == 201, r.json
    assert (r.json["urgency"], r.json["estimatedDuration"], r.json["notes"]) == ("medium", 24, None)


def test_creation_writes_one_history_row_and_notifies_patient_and_authorities(client, db, make, world):
    second_authority = make.authority(world.hospital)
    make.user("hospital-authority", hospital_id=world.hospital["id"], status="inactive")
    r = client.post("/api/bookings", json=booking_body(world.hospital), headers=world.headers["patient"])
    booking_id = r.json["id"]
    assert history(db, booking_id) == [
        {"old_status": None, "new_status": "pending", "changed_by": world.patient["id"], "reason": None}
    ]
    assert [n["type"] for n in notifications(db, world.patient["id"])] == ["booking_submitted"]
    for authority in (world.authority, second_authority):
        assert [(n["booking_id"], n["type"]) for n in notifications(db, authority["id"])] == [
            (booking_id, "booking_request")
        ]
    assert notifications(db, world.other_authority["id"]) == []
    assert count(db, "booking_notifications") == 3  # not the inactive authority


def test_references_are_sequential_and_never_reused(client, db, world):
    refs = []
    for days in (2, 3, 4):
        r = client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=future(days=days)),
                        headers=world.headers["patient"])
        refs.append(r.json["bookingReference"])
    numbers = [int(ref.rsplit("-", 1)[1]) for ref in refs]
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    # a refused request takes no number; a cancelled booking keeps its own
    client.delete(f"/api/bookings/{r.json['id']}", headers=world.headers["patient"])
    assert client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=future(days=2)),
                       headers=world.headers["patient"]).status_code == 409
    r = client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=future(days=5)),
                    headers=world.headers["patient"])
    assert int(r.json["bookingReference"].rsplit("-", 1)[1]) == numbers[2] + 1
    assert db.execute("SELECT count(DISTINCT booking_reference) AS n FROM bookings").fetchone()["n"] == 4


@pytest.mark.parametrize("role, code", [("anonymous", 401), ("authority", 403), ("admin", 403)])
def test_only_users_may_request_bookings(client, db, world, role, code):
    r = client.post("/api/bookings", json=booking_body(world.hospital), headers=world.headers[role])
    assert r.status_code == code and r.json["code"] == code
    assert count(db, "bookings") == 0


BAD_FIELDS = [
    ("hospitalId", ...), ("hospitalId", "1"), ("hospitalId", 1.5), ("hospitalId", True),
    ("hospitalId", None), ("hospitalId", 0), ("hospitalId", -3), ("hospitalId", 2**70),
    ("resourceType", ...), ("resourceType", "ventilator"), ("resourceType", ["beds"]),
    ("patientName", ...), ("patientName", ""), ("patientName", "   "), ("patientName", "x" * 201),
    ("patientName", 42), ("patientName", "a\x00b"), ("patientName", "bell\x07"),
    ("patientAge", ...), ("patientAge", -1), ("patientAge", 151), ("patientAge", "40"),
    ("patientAge", 40.5), ("patientAge", None), ("patientAge", 10**30),
    ("patientGender", ...), ("patientGender", "unknown"), ("patientGender", "MALE"),
    ("medicalCondition", ...), ("medicalCondition", ""), ("medicalCondition", "x" * 2001),
    ("urgency", "extreme"), ("urgency", None), ("urgency", 3),
    ("emergencyContactName", ...), ("emergencyContactName", "x" * 201),
    ("emergencyContactPhone", ...), ("emergencyContactPhone", "call me"),
    ("emergencyContactPhone", "12"), ("emergencyContactPhone", "+" + "1" * 40),
    ("emergencyContactPhone", 8801711000000),
    ("emergencyContactRelationship", ...), ("emergencyContactRelationship", "x" * 101),
    ("scheduledDate", ...), ("scheduledDate", "tomorrow"), ("scheduledDate", "2030-01-01"),
    ("scheduledDate", "2030-01-01T10:00:00"),  # naive: no offset
    ("scheduledDate", "2000-01-01T10:00:00+06:00"),  # past
    ("scheduledDate", "9999-12-31T23:59:59-14:00"),  # out of range once in UTC
    ("scheduledDate", 1893456000), ("scheduledDate", None),
    ("estimatedDuration", 0), ("estimatedDuration", 169), ("estimatedDuration", "24"),
    ("estimatedDuration", 2.5), ("estimatedDuration", -24),
    ("notes", "x" * 2001), ("notes", 5),
    ("status", "approved"), ("userId", 1), ("bookingReference", "RC-2026-000001"),
    ("amount", "0.01"),
]


@pytest.mark.parametrize("field, value", BAD_FIELDS)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(client, db, world, field, value):
    body = booking_body(world.hospital, **{field: value})
    r = client.post("/api/bookings", json=body, headers=world.headers["patient"])
    assert r.status_code == 422, (field, value, r.json)
    assert field in r.json["errors"]["json"]
    assert count(db, "bookings") == count(db, "booking_reference_counters") == 0


def test_past_moment_and_far_future_are_refused(client, world):
    past = (utcnow() - timedelta(minutes=1)).isoformat()
    too_far = (utcnow() + timedelta(days=400)).isoformat()
    for value in (past, too_far):
        r = client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=value),
                        headers=world.headers["patient"])
        assert r.status_code == 422 and "scheduledDate" in r.json["errors"]["json"]


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", '"text"', "null", ""])
def test_malformed_body_is_a_4xx(client, db, world, payload):
    r = client.post("/api/bookings", data=payload, content_type="application/json",
                    headers=world.headers["patient"])
    assert r.status_code in (400, 422) and r.json["code"] == r.status_code
    assert count(db, "bookings") == 0


def test_unknown_hospital_is_404(client, world):
    r = client.post("/api/bookings", json=booking_body({"id": 999999}), headers=world.headers["patient"])
    assert r.status_code == 404


@pytest.mark.parametrize("status", ["pending", "rejected", "suspended"])
def test_a_hospital_that_is_not_approved_is_404_like_an_unknown_one(client, db, make, world, status):
    hospital = make.hospital(status=status, resources={"beds": 5}, prices={"beds": 1000})
    r = client.post("/api/bookings", json=booking_body(hospital), headers=world.headers["patient"])
    assert r.status_code == 404, r.json
    assert count(db, "bookings") == 0


def test_nothing_available_is_409(client, db, make, world):
    full = make.hospital(resources={"beds": 0, "icu": 2})
    r = client.post("/api/bookings", json=booking_body(full), headers=world.headers["patient"])
    assert r.status_code == 409 and "available" in r.json["message"]
    r = client.post("/api/bookings", json=booking_body(full, resourceType="operationTheatres"),
                    headers=world.headers["patient"])
    assert r.status_code == 409  # no row of that type at all
    assert count(db, "bookings") == 0


def _at(day, hour):
    return datetime.combine(day, time(hour), tzinfo=timezone.utc).isoformat()


def test_one_open_booking_per_user_hospital_type_and_local_day(client, world):
    """Asia/Dhaka is UTC+6: 19:00 and 20:00 UTC are the next local day, 17:00 UTC is not."""
    day = (utcnow() + timedelta(days=10)).date()
    post = lambda **kw: client.post(  # noqa: E731
        "/api/bookings", json=booking_body(world.hospital, **kw), headers=world.headers["patient"]
    )
    first = post(scheduledDate=_at(day, 20))
    assert first.status_code == 201 and first.json["scheduledDay"] == (day + timedelta(days=1)).isoformat()
    clash = post(scheduledDate=_at(day, 19))
    assert clash.status_code == 409 and first.json["bookingReference"] in clash.json["message"]
    assert post(scheduledDate=_at(day, 17)).status_code == 201  # local day before
    assert post(scheduledDate=_at(day, 19), resourceType="icu").status_code == 201  # other type
    other = client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=_at(day, 19)),
                        headers=world.headers["other_patient"])
    assert other.status_code == 201  # other user
    # once the first is no longer open, the day is free again
    assert client.delete(f"/api/bookings/{first.json['id']}", headers=world.headers["patient"]).status_code == 200
    assert post(scheduledDate=_at(day, 19)).status_code == 201


def test_the_day_follows_the_hospitals_time_zone(client, db, world):
    db.execute("UPDATE hospitals SET timezone = 'UTC' WHERE id = ?", (world.hospital["id"],))
    day = (utcnow() + timedelta(days=10)).date()
    r = client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=_at(day, 20)),
                    headers=world.headers["patient"])
    assert r.json["scheduledDay"] == day.isoformat()
    r = client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=_at(day + timedelta(days=1), 2)),
                    headers=world.headers["patient"])
    assert r.status_code == 201  # 08:00 next day in Dhaka, but a different UTC day


def test_the_unique_index_backs_the_one_open_booking_rule(db, make, world):
    """Even a writer that skips the service's check cannot insert a second open booking."""
    first = make.booking(world.patient, world.hospital)
    with pytest.raises(IntegrityError):
        make.booking(world.patient, world.hospital, scheduled_day=first["scheduled_day"])


def test_replaying_the_same_request_creates_one_booking(client, db, world):
    body = booking_body(world.hospital)
    codes = [client.post("/api/bookings", json=body, headers=world.headers["patient"]).status_code
             for _ in range(3)]
    assert codes == [201, 409, 409]
    assert count(db, "bookings") == 1
