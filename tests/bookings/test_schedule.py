"""Scheduled capacity through the API: the README's example, create's window check,
extend, availability over a window and the staff day view (issue #15)."""
from datetime import datetime, time, timedelta, timezone

import pytest

from app.bookings import jobs
from app.ops import invariants
from app.timeutil import to_iso, utcnow
from tests.bookings.helpers import booking_body

BASE = datetime.combine((utcnow() + timedelta(days=3)).date(), time.min, timezone.utc)


def at(hour, minute=0):
    return BASE + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def icu(make):
    """An ICU with five units, priced, and its authority's headers."""
    hospital = make.hospital(resources={"icu": 5}, prices={"icu": 500000})
    return hospital, make.auth(make.authority(hospital))


def hold(make, hospital, start_hour, hours, *, status="approved", user=None):
    return make.booking(user or make.user(), hospital, resource_type="icu", status=status,
                        scheduled_date=to_iso(at(start_hour)), estimated_duration_hours=hours)


def mark(client, hospital, headers, **counts):
    return client.put(f"/api/hospital-resources/{hospital['id']}/icu",
                      json={**counts, "reason": "ward check"}, headers=headers)


def test_the_readme_example(client, make, icu):
    hospital, staff = icu
    assert mark(client, hospital, staff, maintenance=1).status_code == 200
    for start, hours in [(8, 12), (10, 4), (12, 6), (13, 2)]:  # A, B, C, D
        hold(make, hospital, start, hours)
    late = hold(make, hospital, 11, 5, status="pending")
    r = client.put(f"/api/bookings/{late['id']}/approve", headers=staff)
    assert r.status_code == 409, r.json
    assert to_iso(at(13)) in r.json["message"] and "4 held" in r.json["message"]
    fits = hold(make, hospital, 14, 2, status="pending")
    r = client.put(f"/api/bookings/{fits['id']}/approve", headers=staff)
    assert r.status_code == 200, r.json
    assert r.json["scheduledEnd"] == to_iso(at(16))
    r = mark(client, hospital, staff, maintenance=2)
    assert r.status_code == 409 and "4" in r.json["message"], r.json


def test_create_refuses_a_window_that_cannot_fit(client, make, world):
    # the world's one ICU unit, held 10:00-14:00
    hold(make, world.hospital, 10, 4)
    body = booking_body(world.hospital, resourceType="icu", scheduledDate=to_iso(at(12)),
                        estimatedDuration=1)
    r = client.post("/api/bookings", json=body, headers=world.headers["patient"])
    assert r.status_code == 409 and to_iso(at(12)) in r.json["message"], r.json
    # half-open: from 14:00 on the unit is free again
    body = booking_body(world.hospital, resourceType="icu", scheduledDate=to_iso(at(14)),
                        estimatedDuration=1)
    r = client.post("/api/bookings", json=body, headers=world.headers["patient"])
    assert r.status_code == 201, r.json
    assert r.json["scheduledEnd"] == to_iso(at(15))


def test_extend_checks_the_longer_window_and_audits_it(client, db, make, world):
    first = hold(make, world.hospital, 10, 2)
    hold(make, world.hospital, 13, 2)  # the one ICU unit again from 13:00
    url = f"/api/bookings/{first['id']}/extend"
    staff = world.headers["authority"]
    r = client.put(url, json={"estimatedDuration": 4}, headers=staff)
    assert r.status_code == 409 and to_iso(at(13)) in r.json["message"], r.json
    r = client.put(url, json={"estimatedDuration": 3, "reason": "slow recovery"}, headers=staff)
    assert r.status_code == 200, r.json
    assert (r.json["estimatedDuration"], r.json["scheduledEnd"]) == (3, to_iso(at(13)))
    r = client.put(url, json={"estimatedDuration": 1}, headers=staff)
    assert r.status_code == 200 and r.json["scheduledEnd"] == to_iso(at(11))
    reasons = [row["reason"] for row in db.execute(
        "SELECT reason FROM resource_audit_log WHERE booking_id = ? ORDER BY id", (first["id"],))]
    assert reasons[0].endswith(f"extended to 3 h (slow recovery): holds 1 unit from "
                               f"{to_iso(at(10))} to {to_iso(at(13))}")
    assert "shortened to 1 h" in reasons[1]


@pytest.mark.parametrize("body", [{"estimatedDuration": 0}, {"estimatedDuration": 169},
                                  {"estimatedDuration": "3"}, {}, {"estimatedDuration": 3, "x": 1}])
def test_extend_with_a_bad_body_is_422(client, make, world, body):
    booking = hold(make, world.hospital, 10, 2)
    r = client.put(f"/api/bookings/{booking['id']}/extend", json=body,
                   headers=world.headers["authority"])
    assert r.status_code == 422, r.json


def test_extend_is_for_staff_and_approved_bookings_only(client, make, world):
    approved = hold(make, world.hospital, 10, 2)
    pending = hold(make, world.hospital, 20, 2, status="pending")
    body = {"estimatedDuration": 3}
    assert client.put(f"/api/bookings/{approved['id']}/extend", json=body,
                      headers=world.headers["patient"]).status_code == 403
    assert client.put(f"/api/bookings/{approved['id']}/extend", json=body,
                      headers=world.headers["other_authority"]).status_code == 404
    r = client.put(f"/api/bookings/{pending['id']}/extend", json=body,
                   headers=world.headers["authority"])
    assert r.status_code == 409 and "pending" in r.json["message"]


def test_availability_over_a_window(client, make, icu):
    hospital, staff = icu
    for start, hours in [(8, 12), (10, 4), (12, 6)]:
        hold(make, hospital, start, hours)
    url = f"/api/hospital-resources/{hospital['id']}/icu/availability"
    r = client.get(url)
    assert r.status_code == 200 and "window" not in r.json and r.json["available"] == 5
    r = client.get(url, query_string={"from": to_iso(at(9)), "to": to_iso(at(11))})
    assert r.json["window"] == {"from": to_iso(at(9)), "to": to_iso(at(11)), "available": 3,
                                "isAvailable": True}  # A and B from 10:00
    r = client.get(url, query_string={"from": to_iso(at(12)), "to": to_iso(at(13))})
    assert r.json["window"]["available"] == 2 and r.json["window"]["isAvailable"] is True
    r = client.get(url, query_string={"from": to_iso(at(20)), "to": to_iso(at(22))})
    assert r.json["window"]["available"] == 5
    r = client.get(url, query_string={"from": to_iso(at(20))})
    assert r.status_code == 422
    r = client.get(url, query_string={"from": to_iso(at(20)), "to": to_iso(at(19))})
    assert r.status_code == 422
    r = client.get(url, query_string={"from": "tomorrow", "to": to_iso(at(19))})
    assert r.status_code == 422
    r = client.get(url, query_string={"from": to_iso(at(0)), "to": to_iso(at(24 * 40))})
    assert r.status_code == 422


def test_staff_day_view_lists_holds_and_free_units_hour_by_hour(client, make, icu):
    hospital, staff = icu
    a = hold(make, hospital, 8, 12)
    hold(make, hospital, 10, 4)
    url = f"/api/hospital-resources/{hospital['id']}/icu/schedule"
    day = (at(12) + timedelta(hours=6)).date().isoformat()  # the hospital's day (UTC+6)
    r = client.get(url, query_string={"date": day}, headers=staff)
    assert r.status_code == 200, r.json
    assert r.json["total"] == 5 and r.json["markedUnavailable"] == 0
    assert a["id"] in [h["bookingId"] for h in r.json["holds"]]
    by_start = {hour["from"]: hour for hour in r.json["hours"]}
    assert len(r.json["hours"]) == 24
    assert by_start[to_iso(at(10))]["held"] == 2 and by_start[to_iso(at(10))]["available"] == 3
    assert by_start[to_iso(at(14))]["held"] == 1
    assert client.get(url, query_string={"date": day},
                      headers=make.auth(make.user())).status_code in (403, 404)
    assert client.get(url, query_string={"date": "2026-02-30"}, headers=staff).status_code == 422


def test_overstay_job_tells_the_authorities_once_and_names_the_collisions(db, make, world):
    now = utcnow()

    def approved(start, hours):
        return make.booking(make.user(), world.hospital, resource_type="icu", status="approved",
                            scheduled_date=to_iso(now + start), estimated_duration_hours=hours)

    overstay = approved(timedelta(hours=-5), 2)  # ended three hours ago, not completed
    collides = approved(timedelta(hours=2), 3)  # the one ICU unit, in two hours
    later = approved(timedelta(hours=30), 3)  # beyond the 24-hour horizon
    assert jobs.notify_overstays(db, now=now, config=None) == "reported 1 overstay(s)"
    [notice] = db.execute("SELECT * FROM booking_notifications WHERE user_id = ? "
                          "AND type = 'booking_overstay'", (world.authority["id"],)).fetchall()
    assert notice["booking_id"] == overstay["id"]
    assert overstay["booking_reference"] in notice["message"]
    assert collides["booking_reference"] in notice["message"]
    assert later["booking_reference"] not in notice["message"]
    assert db.execute("SELECT count(*) AS n FROM booking_notifications WHERE type = "
                      "'booking_overstay' AND user_id = ?",
                      (world.other_authority["id"],)).fetchone()["n"] == 0
    # once per booking: the next run reports nothing new
    assert jobs.notify_overstays(db, now=now + timedelta(minutes=15), config=None) == \
        "reported 0 overstay(s)"
    assert invariants.check_capacity(db) == []


def test_overstay_job_ignores_completed_and_running_bookings(db, make, world):
    now = utcnow()
    running = make.booking(make.user(), world.hospital, status="approved",
                           scheduled_date=to_iso(now - timedelta(hours=1)),
                           estimated_duration_hours=5)
    make.booking(make.user(), world.hospital, status="completed",
                 scheduled_date=to_iso(now - timedelta(hours=10)), estimated_duration_hours=2)
    assert jobs.notify_overstays(db, now=now, config=None) == "reported 0 overstay(s)"
    assert running["scheduled_end"] > to_iso(now)


def test_approving_a_window_that_has_ended_is_409(client, make, world):
    ended = make.booking(world.patient, world.hospital, status="pending",
                         scheduled_date=to_iso(utcnow() - timedelta(hours=30)),
                         estimated_duration_hours=24)
    r = client.put(f"/api/bookings/{ended['id']}/approve", headers=world.headers["authority"])
    assert r.status_code == 409 and "ended" in r.json["message"], r.json


def test_approving_a_window_under_way_checks_only_from_now(client, db, make, world):
    # the one ICU unit was held until an hour ago; a booking that started three hours
    # ago and runs two more fits from now on
    now = utcnow()
    make.booking(make.user(), world.hospital, resource_type="icu", status="approved",
                 scheduled_date=to_iso(now - timedelta(hours=5)), estimated_duration_hours=4)
    under_way = make.booking(make.user(), world.hospital, resource_type="icu",
                             scheduled_date=to_iso(now - timedelta(hours=3)),
                             estimated_duration_hours=5)
    r = client.put(f"/api/bookings/{under_way['id']}/approve", headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    r = client.get(f"/api/hospital-resources/{world.hospital['id']}/icu/availability")
    assert (r.json["available"], r.json["occupied"]) == (0, 1)  # held right now
