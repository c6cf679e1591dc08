"""GET /api/bookings/notifications, PUT .../{id}/read, PUT .../read-all."""
import json

import pytest

from app.db import IntegrityError, transaction
from app.timeutil import to_iso, utcnow
from app.vocabulary import NOTIFICATION_TYPES


def notes(client, world, who="patient", **params):
    return client.get("/api/bookings/notifications", query_string=params, headers=world.headers[who])


@pytest.fixture
def three_for_patient(make, world):
    """Three bookings -> three 'booking_submitted' notifications for the patient (and
    three 'booking_request' ones for the hospital's authority)."""
    from datetime import timedelta
    return [make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=d)) for d in (2, 3, 4)]


def test_list_newest_first_with_unread_count_and_filter(client, world, three_for_patient):
    r = notes(client, world)
    assert r.status_code == 200
    assert [n["bookingId"] for n in r.json["items"]] == [b["id"] for b in reversed(three_for_patient)]
    assert r.json["unreadCount"] == 3 and all(n["isRead"] is False for n in r.json["items"])
    first = r.json["items"][-1]
    assert {"id", "type", "title", "message", "createdAt"} <= set(first)

    assert client.put(f"/api/bookings/notifications/{first['id']}/read",
                      headers=world.headers["patient"]).json["isRead"] is True
    unread = notes(client, world, isRead="false")
    assert len(unread.json["items"]) == 2 and unread.json["unreadCount"] == 2
    read = notes(client, world, isRead="true")
    assert [n["id"] for n in read.json["items"]] == [first["id"]]
    assert read.json["unreadCount"] == 2  # the count is of all unread, whatever the filter
    assert json.loads(read.headers["X-Pagination"])["total"] == 1

    page = notes(client, world, page=2, page_size=2)
    assert len(page.json["items"]) == 1 and json.loads(page.headers["X-Pagination"])["total"] == 3


def test_each_sees_only_their_own(client, world, three_for_patient):
    assert notes(client, world, "other_patient").json == {"items": [], "unreadCount": 0}
    authority = notes(client, world, "authority").json
    assert {n["type"] for n in authority["items"]} == {"booking_request"}
    assert authority["unreadCount"] == 3
    assert notes(client, world, "other_authority").json["unreadCount"] == 0


@pytest.mark.parametrize("who", ["other_patient", "authority", "admin"])
def test_marking_someone_elses_notification_is_404_and_changes_nothing(client, db, world, three_for_patient, who):
    notification = notes(client, world).json["items"][0]
    r = client.put(f"/api/bookings/notifications/{notification['id']}/read", headers=world.headers[who])
    assert r.status_code == 404
    assert db.execute("SELECT is_read FROM booking_notifications WHERE id = ?",
                      (notification["id"],)).fetchone()["is_read"] == 0


@pytest.mark.parametrize("notification_id", ["999999", str(2**64), "abc"])
def test_unknown_notification_is_404(client, world, notification_id):
    r = client.put(f"/api/bookings/notifications/{notification_id}/read", headers=world.headers["patient"])
    assert r.status_code == 404


def test_marking_read_twice_is_harmless(client, world, three_for_patient):
    notification_id = notes(client, world).json["items"][0]["id"]
    for _ in range(2):
        r = client.put(f"/api/bookings/notifications/{notification_id}/read", headers=world.headers["patient"])
        assert r.status_code == 200 and r.json["isRead"] is True


def test_read_all_marks_only_mine(client, world, three_for_patient):
    r = client.put("/api/bookings/notifications/read-all", headers=world.headers["patient"])
    assert r.status_code == 200 and r.json == {"marked": 3, "unreadCount": 0}
    assert notes(client, world).json["unreadCount"] == 0
    assert notes(client, world, "authority").json["unreadCount"] == 3
    again = client.put("/api/bookings/notifications/read-all", headers=world.headers["patient"])
    assert again.json["marked"] == 0


@pytest.mark.parametrize("request_args", [
    ("get", "/api/bookings/notifications"), ("put", "/api/bookings/notifications/1/read"),
    ("put", "/api/bookings/notifications/read-all")])
def test_anonymous_is_401(client, request_args):
    method, path = request_args
    assert getattr(client, method)(path).status_code == 401


@pytest.mark.parametrize("params", [{"isRead": "maybe"}, {"page_size": 10**6}, {"page": -1}])
def test_bad_arguments_are_422(client, world, params):
    assert notes(client, world, **params).status_code == 422


# --- issue #16, item 7: the types as the platform names them, constrained ----------------

@pytest.mark.parametrize("type_", NOTIFICATION_TYPES)
def test_every_named_type_is_accepted(db, world, type_):
    with transaction(db):
        db.execute(
            "INSERT INTO booking_notifications (user_id, type, title, message, created_at) "
            "VALUES (?, ?, 't', 'm', ?)", (world.patient["id"], type_, to_iso(utcnow())))


@pytest.mark.parametrize("type_", ["booking_created", "", "BOOKING_APPROVED", "spam"])
def test_any_other_type_is_refused_by_the_database(db, world, type_):
    with pytest.raises(IntegrityError, match="notification type not allowed|check"):
        with transaction(db):
            db.execute(
                "INSERT INTO booking_notifications (user_id, type, title, message, created_at) "
                "VALUES (?, ?, 't', 'm', ?)", (world.patient["id"], type_, to_iso(utcnow())))
    booking = world.make.booking(world.patient, world.hospital)
    with pytest.raises(IntegrityError, match="notification type not allowed|check"):
        with transaction(db):
            db.execute("UPDATE booking_notifications SET type = ? WHERE booking_id = ?",
                       (type_, booking["id"]))


def test_a_patients_cancellation_is_told_to_every_active_authority(client, db, world, make):
    second = make.authority(world.hospital)
    inactive = make.user("hospital-authority", hospital_id=world.hospital["id"], status="inactive")
    booking = world.make.booking(world.patient, world.hospital)
    r = client.delete(f"/api/bookings/{booking['id']}", json={"reason": "Feeling better"},
                      headers=world.headers["patient"])
    assert r.status_code == 200, r.json
    for staff in (world.authority, second):
        rows = db.execute("SELECT booking_id, type, message FROM booking_notifications "
                          "WHERE user_id = ? ORDER BY id", (staff["id"],)).fetchall()
        assert [row["type"] for row in rows] == ["booking_request", "booking_cancelled"]
        assert rows[-1]["booking_id"] == booking["id"]
        assert booking["booking_reference"] in rows[-1]["message"]
        assert "Feeling better" in rows[-1]["message"]
    for user in (inactive, world.other_authority):
        assert db.execute("SELECT count(*) AS n FROM booking_notifications WHERE user_id = ?",
                          (user["id"],)).fetchone()["n"] == 0
    patient_types = [row["type"] for row in db.execute(
        "SELECT type FROM booking_notifications WHERE user_id = ? ORDER BY id",
        (world.patient["id"],)).fetchall()]
    assert patient_types == ["booking_submitted", "booking_cancelled"]


@pytest.mark.parametrize("who", ["authority", "admin"])
def test_a_cancellation_by_staff_is_not_echoed_to_the_staff(client, db, world, who):
    booking = world.make.booking(world.patient, world.hospital, status="approved")
    r = client.delete(f"/api/bookings/{booking['id']}", json={"reason": "Ward closed"},
                      headers=world.headers[who])
    assert r.status_code == 200, r.json
    staff_types = [row["type"] for row in db.execute(
        "SELECT type FROM booking_notifications WHERE user_id = ? ORDER BY id",
        (world.authority["id"],)).fetchall()]
    assert staff_types == ["booking_request"]
