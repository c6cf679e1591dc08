"""The expiry job: called directly (never through the scheduler) and under freezegun."""
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from app.blood.jobs import expire_blood_requests
from app.db import transaction
from app.timeutil import utcnow
from tests.blood.helpers import insert_blood_request

T0 = datetime(2031, 3, 1, 8, 0, tzinfo=timezone.utc)


def statuses(db):
    return {r["id"]: r["status"] for r in db.execute("SELECT id, status FROM blood_requests")}


def test_expires_exactly_the_active_requests_past_their_deadline(app, db, world):
    p = world.patient
    due = insert_blood_request(db, p, required_by=T0 + timedelta(hours=1))
    at_the_second = insert_blood_request(db, p, required_by=T0 + timedelta(hours=2))
    later = insert_blood_request(db, p, required_by=T0 + timedelta(hours=3))
    open_ended = insert_blood_request(db, p)
    fulfilled = insert_blood_request(db, p, status="fulfilled", required_by=T0)
    cancelled = insert_blood_request(db, p, status="cancelled", required_by=T0)

    summary = expire_blood_requests(db, now=T0 + timedelta(hours=2), config=app.config)

    assert summary == "expired 2 blood request(s)"
    assert statuses(db) == {
        due["id"]: "expired", at_the_second["id"]: "expired", later["id"]: "active",
        open_ended["id"]: "active", fulfilled["id"]: "fulfilled", cancelled["id"]: "cancelled",
    }
    notes = db.execute(
        "SELECT user_id, blood_request_id, type FROM booking_notifications ORDER BY blood_request_id"
    ).fetchall()
    assert notes == [
        {"user_id": p["id"], "blood_request_id": due["id"], "type": "blood_request_expired"},
        {"user_id": p["id"], "blood_request_id": at_the_second["id"],
         "type": "blood_request_expired"},
    ]
    assert db.execute("SELECT updated_at FROM blood_requests WHERE id = ?",
                      (due["id"],)).fetchone()["updated_at"].startswith("2031-03-01T10:00:00")


def test_running_again_changes_nothing(app, db, world):
    insert_blood_request(db, world.patient, required_by=T0)
    assert expire_blood_requests(db, now=T0, config=app.config) == "expired 1 blood request(s)"
    assert expire_blood_requests(db, now=T0, config=app.config) == "expired 0 blood request(s)"
    assert db.execute("SELECT count(*) AS n FROM booking_notifications").fetchone()["n"] == 1


def test_with_freezegun_time_moves_requests_out(app, db, world, make, client):
    with freeze_time(T0) as frozen:
        req = insert_blood_request(db, world.other_patient, required_in=timedelta(hours=6))
        listed = client.get("/api/blood/requests", headers=make.auth(world.patient)).json
        assert [r["id"] for r in listed] == [req["id"]]

        frozen.tick(timedelta(hours=5, minutes=59))
        assert expire_blood_requests(db, now=utcnow(), config=app.config).startswith("expired 0")

        frozen.tick(timedelta(minutes=1))
        # Past its deadline the request leaves the lists at once, before the job runs.
        # (Tokens live an hour: make a fresh one in the frozen present.)
        assert client.get("/api/blood/requests", headers=make.auth(world.patient)).json == []
        assert expire_blood_requests(db, now=utcnow(), config=app.config) == \
            "expired 1 blood request(s)"
        assert statuses(db) == {req["id"]: "expired"}
        own = client.get("/api/blood/my-requests", headers=make.auth(world.other_patient)).json
        assert own[0]["status"] == "expired"


def test_job_refuses_to_run_inside_an_open_transaction(app, db):
    with pytest.raises(RuntimeError):
        with transaction(db):
            expire_blood_requests(db, now=T0, config=app.config)
