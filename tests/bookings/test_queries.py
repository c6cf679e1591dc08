"""Reads: one booking, by reference, history, my-bookings, search scoped by role,
the triage queue, hospital history and statistics; literal routes vs /{id}."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from app.timeutil import to_iso, utcnow


def get(client, world, path, who="patient", **params):
    return client.get(path, query_string=params, headers=world.headers[who])


def ids(response):
    return [item["id"] for item in response.json]


VISIBILITY = [("patient", 200), ("authority", 200), ("admin", 200),
              ("other_patient", 404), ("other_authority", 404), ("anonymous", 401)]


@pytest.mark.parametrize("who, code", VISIBILITY)
def test_one_booking_its_history_and_reference_per_role(client, make, world, who, code):
    booking = make.booking(world.patient, world.hospital)
    for path in (f"/api/bookings/{booking['id']}", f"/api/bookings/{booking['id']}/history",
                 f"/api/bookings/reference/{booking['booking_reference']}",
                 f"/api/bookings/reference/{booking['booking_reference'].lower()}"):
        r = get(client, world, path, who)
        assert r.status_code == code, (path, r.json)
        assert r.json["code"] == code if code != 200 else True
    if code == 200:
        assert get(client, world, f"/api/bookings/{booking['id']}", who).json["bookingReference"] == \
            booking["booking_reference"]


@pytest.mark.parametrize("path", ["/api/bookings/999999", "/api/bookings/999999/history",
                                  "/api/bookings/reference/RC-2026-999999",
                                  "/api/bookings/reference/nonsense",
                                  "/api/bookings/reference/" + "R" * 65,
                                  f"/api/bookings/{2**63}", "/api/bookings/12abc",
                                  "/api/bookings/0x10"])
def test_unknown_and_malformed_lookups_are_404(client, world, path):
    assert get(client, world, path, "admin").status_code == 404


def test_history_lists_old_new_who_when_why(client, make, world):
    booking = make.booking(world.patient, world.hospital)
    client.put(f"/api/bookings/{booking['id']}/decline", json={"reason": "Full"},
               headers=world.headers["authority"])
    r = get(client, world, f"/api/bookings/{booking['id']}/history")
    assert [(h["oldStatus"], h["newStatus"], h["changedBy"], h["changedByRole"], h["reason"])
            for h in r.json] == [(None, "pending", world.patient["id"], "user", None),
                                 ("pending", "declined", world.authority["id"], "hospital-authority", "Full")]
    assert all(h["createdAt"] for h in r.json)


def test_literal_routes_are_not_shadowed_by_the_id_route(client, make, world):
    booking = make.booking(world.patient, world.hospital)
    assert isinstance(get(client, world, "/api/bookings/search").json, list)
    assert isinstance(get(client, world, "/api/bookings/my-bookings").json, list)
    assert "unreadCount" in get(client, world, "/api/bookings/notifications").json
    assert get(client, world, f"/api/bookings/reference/{booking['booking_reference']}").json["id"] == booking["id"]
    assert "summary" in get(client, world, f"/api/bookings/hospital/{world.hospital['id']}/pending", "authority").json
    r = client.put("/api/bookings/notifications/read-all", headers=world.headers["patient"])
    assert r.status_code == 200 and r.json["marked"] == 1


# --- my-bookings ---------------------------------------------------------------------------

def _bookings_at(make, user, hospital, count, *, start=None, **kwargs):
    """``count`` bookings created one minute apart (oldest first), each on its own day."""
    start = start or utcnow() - timedelta(hours=1)
    return [make.booking(user, hospital, scheduled_in=timedelta(days=2 + i),
                         created_at=to_iso(start + timedelta(minutes=i)), **kwargs)
            for i in range(count)]


def test_my_bookings_newest_first_paginated_and_only_mine(client, make, world):
    mine = _bookings_at(make, world.patient, world.hospital, 3)
    make.booking(world.other_patient, world.hospital)
    r = get(client, world, "/api/bookings/my-bookings")
    assert ids(r) == [b["id"] for b in reversed(mine)]
    assert json.loads(r.headers["X-Pagination"])["total"] == 3
    r = get(client, world, "/api/bookings/my-bookings", page=2, page_size=2)
    assert ids(r) == [mine[0]["id"]]
    assert len(get(client, world, "/api/bookings/my-bookings", page_size=5000).json) == 3  # capped, fine
    for params in ({"page_size": 100_000}, {"page": 0}, {"page": "x"}, {"page": 10**20}):
        assert get(client, world, "/api/bookings/my-bookings", **params).status_code == 422, params


@pytest.mark.parametrize("who, code", [("authority", 403), ("admin", 403), ("anonymous", 401)])
def test_my_bookings_is_for_patients(client, world, who, code):
    assert get(client, world, "/api/bookings/my-bookings", who).status_code == code


# --- search --------------------------------------------------------------------------------

@pytest.fixture
def spread(make, world):
    """Bookings of both patients at both hospitals."""
    return {
        "mine_here": make.booking(world.patient, world.hospital, patient_name="Anwar Hossain"),
        "mine_there": make.booking(world.patient, world.other_hospital, urgency="critical"),
        "theirs_here": make.booking(world.other_patient, world.hospital, resource_type="icu",
                                    patient_name="Fatema 100%_Khan"),
        "theirs_there": make.booking(world.other_patient, world.other_hospital, status="approved"),
    }


def _search(client, world, who, **params):
    r = get(client, world, "/api/bookings/search", who, **params)
    assert r.status_code == 200, r.json
    return set(ids(r))


def test_search_is_scoped_by_role(client, make, world, spread):
    ids_of = lambda *names: {spread[n]["id"] for n in names}  # noqa: E731
    assert _search(client, world, "patient") == ids_of("mine_here", "mine_there")
    assert _search(client, world, "authority") == ids_of("mine_here", "theirs_here")
    assert _search(client, world, "other_authority") == ids_of("mine_there", "theirs_there")
    assert _search(client, world, "admin") == ids_of(*spread)
    # asking for another hospital never widens the scope
    assert _search(client, world, "authority", hospitalId=world.other_hospital["id"]) == set()
    assert _search(client, world, "patient", hospitalId=world.other_hospital["id"]) == ids_of("mine_there")
    # defect 2: an authority without a hospital sees nothing, never everything
    stray = make.user("hospital-authority")
    r = client.get("/api/bookings/search", headers=make.auth(stray))
    assert r.status_code == 200 and r.json == []


def test_search_filters(client, world, spread):
    ids_of = lambda *names: {spread[n]["id"] for n in names}  # noqa: E731
    s = lambda **p: _search(client, world, "admin", **p)  # noqa: E731
    # Exact whole tokens through the blind index (README "Encryption at rest"), every
    # query token must match, in any order, case and punctuation aside; no substrings.
    assert s(patientName="anwar") == ids_of("mine_here")
    assert s(patientName="HOSSAIN  anwar") == ids_of("mine_here")
    assert s(patientName="anw") == set()
    assert s(patientName="anwar fatema") == set()
    assert s(patientName="Fatema 100%_Khan") == ids_of("theirs_here")
    assert s(patientName="100khan") == ids_of("theirs_here")  # punctuation is dropped
    assert s(patientName="An%n") == set()  # no wildcards
    assert s(patientName="%_") == set()  # nothing left to look for finds nothing
    assert s(bookingReference=spread["mine_there"]["booking_reference"].lower()) == ids_of("mine_there")
    assert s(status="approved") == ids_of("theirs_there")
    assert s(urgency="critical") == ids_of("mine_there")
    assert s(resourceType="icu") == ids_of("theirs_here")
    assert s(hospitalId=world.hospital["id"]) == ids_of("mine_here", "theirs_here")
    assert s(hospitalId=world.hospital["id"], status="pending", resourceType="beds") == ids_of("mine_here")
    today = datetime.now(timezone(timedelta(hours=6))).date()  # platform time zone: Asia/Dhaka
    assert s(startDate=today.isoformat(), endDate=today.isoformat()) == ids_of(*spread)
    assert s(endDate=(today - timedelta(days=1)).isoformat()) == set()
    assert s(startDate=(today + timedelta(days=1)).isoformat()) == set()


@pytest.mark.parametrize("params", [
    {"status": "bogus"}, {"urgency": "urgent"}, {"resourceType": "ventilator"},
    {"hospitalId": "abc"}, {"hospitalId": 0}, {"hospitalId": 2**70}, {"startDate": "2026-13-01"},
    {"startDate": "yesterday"}, {"startDate": "2026-03-02", "endDate": "2026-03-01"},
    {"endDate": "9999-12-31"}, {"patientName": "x" * 201}, {"bookingReference": "R" * 33},
    {"page_size": 0},
])
def test_bad_search_arguments_are_422(client, world, params):
    r = get(client, world, "/api/bookings/search", "admin", **params)
    assert r.status_code == 422, (params, r.json)


def test_search_needs_a_login(client, world):
    assert get(client, world, "/api/bookings/search", "anonymous").status_code == 401


# --- the triage queue ----------------------------------------------------------------------

def test_pending_queue_orders_critical_to_low_then_oldest_first(client, make, world):
    now = utcnow().replace(microsecond=0)
    plan = [("low", 50), ("critical", 10), ("medium", 30), ("critical", 40), ("high", 5), ("high", 125)]
    made = {}
    for i, (urgency, minutes_ago) in enumerate(plan):
        booking = make.booking(world.patient, world.hospital, urgency=urgency,
                               scheduled_in=timedelta(days=2 + i),
                               created_at=to_iso(now - timedelta(minutes=minutes_ago)))
        made[(urgency, minutes_ago)] = booking["id"]
    make.booking(world.other_patient, world.hospital, status="approved")  # not pending
    make.booking(world.other_patient, world.other_hospital, urgency="critical")  # other hospital
    with freeze_time(now):
        r = get(client, world, f"/api/bookings/hospital/{world.hospital['id']}/pending", "authority")
    assert r.status_code == 200
    expected = [("critical", 40), ("critical", 10), ("high", 125), ("high", 5), ("medium", 30), ("low", 50)]
    assert [item["id"] for item in r.json["items"]] == [made[key] for key in expected]
    assert r.json["summary"] == {"totalPending": 6, "critical": 2, "high": 2, "medium": 1, "low": 1}
    first_high = r.json["items"][2]
    assert first_high["waitingTime"] == {"seconds": 125 * 60, "human": "2h 5m"}
    # pages keep the order; the summary counts the whole queue
    page = get(client, world, f"/api/bookings/hospital/{world.hospital['id']}/pending", "authority",
               page=2, page_size=4)
    assert [item["id"] for item in page.json["items"]] == [made[key] for key in expected[4:]]
    assert page.json["summary"]["totalPending"] == 6
    assert json.loads(page.headers["X-Pagination"])["total"] == 6


@pytest.mark.parametrize("who, code", [("authority", 200), ("admin", 200), ("other_authority", 404),
                                       ("patient", 403), ("anonymous", 401)])
@pytest.mark.parametrize("kind", ["pending", "history", "statistics"])
def test_hospital_lists_per_role(client, world, who, code, kind):
    r = get(client, world, f"/api/bookings/hospital/{world.hospital['id']}/{kind}", who)
    assert r.status_code == code


@pytest.mark.parametrize("kind", ["pending", "history", "statistics"])
def test_hospital_lists_of_an_unknown_hospital_are_404(client, world, kind):
    assert get(client, world, f"/api/bookings/hospital/999999/{kind}", "admin").status_code == 404


def test_waiting_time_wording():
    from app.bookings.service import waiting_time
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    cases = [(timedelta(seconds=42), "42s"), (timedelta(minutes=7, seconds=3), "7m"),
             (timedelta(days=3, hours=4, minutes=9), "3d 4h"), (timedelta(seconds=-5), "0s")]
    for delta, human in cases:
        assert waiting_time(start, start + delta)["human"] == human


# --- hospital history and statistics -------------------------------------------------------

def test_hospital_history_filters_and_pages(client, make, world):
    old = make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=3),
                       created_at=to_iso(utcnow() - timedelta(days=10)))
    recent = make.booking(world.other_patient, world.hospital, status="approved")
    make.booking(world.patient, world.other_hospital)
    url = f"/api/bookings/hospital/{world.hospital['id']}/history"
    assert ids(get(client, world, url, "authority")) == [recent["id"], old["id"]]
    assert ids(get(client, world, url, "authority", status="approved")) == [recent["id"]]
    week_ago = (utcnow() - timedelta(days=7)).date().isoformat()
    assert ids(get(client, world, url, "authority", startDate=week_ago)) == [recent["id"]]
    assert ids(get(client, world, url, "authority", endDate=week_ago)) == [old["id"]]
    assert ids(get(client, world, url, "authority", page=2, page_size=1)) == [old["id"]]
    assert get(client, world, url, "authority", status="nope").status_code == 422


def test_statistics_count_and_sum_by_status_over_a_range(client, make, world):
    url = f"/api/bookings/hospital/{world.hospital['id']}/statistics"
    a = make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=2))
    b = make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=3))
    make.booking(world.other_patient, world.hospital, status="declined")
    make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=4),
                 created_at=to_iso(utcnow() - timedelta(days=40)))
    make.booking(world.patient, world.other_hospital)
    for booking in (a, b):
        client.put(f"/api/bookings/{booking['id']}/approve", headers=world.headers["authority"])
    client.put(f"/api/bookings/{b['id']}/complete", headers=world.headers["authority"])

    r = get(client, world, url, "authority")
    by_status = {row["status"]: (row["count"], row["amount"]) for row in r.json["byStatus"]}
    assert by_status == {"pending": (1, "0.00"), "approved": (1, "1500.00"), "declined": (1, "0.00"),
                         "cancelled": (0, "0.00"), "completed": (1, "1500.00")}
    assert (r.json["totalBookings"], r.json["totalAmount"], r.json["currency"]) == (4, "3000.00", "BDT")
    month_ago = (utcnow() - timedelta(days=30)).date().isoformat()
    r = get(client, world, url, "admin", startDate=month_ago)
    assert r.json["totalBookings"] == 3 and r.json["startDate"] == month_ago
    assert get(client, world, url, "admin", startDate="2026-02-30").status_code == 422
