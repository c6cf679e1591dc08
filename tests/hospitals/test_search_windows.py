"""Search's minAvailable: free now (the live counters' rule), or free for the whole of a
from/to window (the fewest free at any instant of it, as /availability answers)."""
import json
from datetime import timedelta

import pytest

from app.timeutil import to_iso, utcnow

NOW = utcnow()
NEXT_WEEK = NOW + timedelta(days=7)


@pytest.fixture
def ward(make):
    """Two one-bed hospitals: 'booked' has its bed approved for a day next week and
    'free' has nothing booked; 'busy' has a bed taken now (a hold under way) and a
    second one free."""
    booked = make.hospital(name="Booked Next Week", resources={"beds": 1})
    free = make.hospital(name="Free All Along", resources={"beds": 1})
    busy = make.hospital(name="Busy Right Now", resources={"beds": 2})
    make.booking(make.user(), booked, status="approved", scheduled_date=to_iso(NEXT_WEEK),
                 estimated_duration_hours=24)
    make.booking(make.user(), busy, status="approved",
                 scheduled_date=to_iso(NOW - timedelta(hours=2)), estimated_duration_hours=10)
    return {"booked": booked["id"], "free": free["id"], "busy": busy["id"]}


def found(client, **args):
    r = client.get("/api/hospitals", query_string={"resourceType": "beds", **args})
    assert r.status_code == 200, r.json
    return {h["name"] for h in r.json}


def window(start, hours):
    return {"from": to_iso(start), "to": to_iso(start + timedelta(hours=hours))}


def test_a_booking_for_next_week_leaves_the_bed_free_now(client, ward):
    assert found(client, minAvailable=1) == {"Booked Next Week", "Free All Along",
                                             "Busy Right Now"}


def test_a_window_covering_next_week_finds_the_bed_taken(client, ward):
    names = found(client, minAvailable=1, **window(NEXT_WEEK - timedelta(hours=3), 6))
    assert names == {"Free All Along", "Busy Right Now"}
    # the window only has to touch the hold: its last hour is enough
    assert "Booked Next Week" not in found(
        client, minAvailable=1, **window(NEXT_WEEK + timedelta(hours=23), 5))
    # a window that ends as the hold starts (half open) or starts as it ends: free
    assert "Booked Next Week" in found(client, minAvailable=1,
                                       **window(NEXT_WEEK - timedelta(hours=5), 5))
    assert "Booked Next Week" in found(client, minAvailable=1,
                                       **window(NEXT_WEEK + timedelta(hours=24), 5))


def test_a_hold_under_way_counts_now_and_in_a_window_that_meets_it(client, ward):
    assert "Busy Right Now" not in found(client, minAvailable=2)
    assert "Busy Right Now" in found(client, minAvailable=1)
    # a window that began in the past counts from now: the hold still runs for 8 hours
    assert "Busy Right Now" not in found(client, minAvailable=2,
                                         **window(NOW - timedelta(hours=1), 3))
    assert "Busy Right Now" in found(client, minAvailable=2, **window(NOW + timedelta(hours=9), 3))


def test_hand_marked_units_count_now_and_in_every_window(client, make, ward):
    marked = make.hospital(name="Marked By Hand", resources={"beds": 3})
    r = client.put(f"/api/hospital-resources/{marked['id']}/beds",
                   json={"occupied": 1, "maintenance": 1, "reason": "walk-in, broken bed"},
                   headers=make.auth(make.authority(marked)))
    assert r.status_code == 200, r.json
    assert "Marked By Hand" in found(client, minAvailable=1)
    assert "Marked By Hand" not in found(client, minAvailable=2)
    assert "Marked By Hand" not in found(client, minAvailable=2, **window(NEXT_WEEK, 4))


def test_without_resource_type_any_type_may_have_the_units(client, make, ward):
    icu = make.hospital(name="ICU Only", resources={"icu": 2})
    make.booking(make.user(), icu, resource_type="icu", status="approved",
                 scheduled_date=to_iso(NEXT_WEEK), estimated_duration_hours=24)
    r = client.get("/api/hospitals", query_string={"minAvailable": 2, **window(NEXT_WEEK, 2)})
    assert r.status_code == 200
    assert {h["name"] for h in r.json} == {"Busy Right Now"}
    r = client.get("/api/hospitals", query_string={"minAvailable": 2})
    assert {h["name"] for h in r.json} == {"ICU Only"}
    assert json.loads(r.headers["X-Pagination"])["total"] == 1


def test_the_window_narrows_the_count_and_the_pages_alike(client, ward):
    r = client.get("/api/hospitals", query_string={"resourceType": "beds", "minAvailable": 1,
                                                   "page_size": 1, **window(NEXT_WEEK, 2)})
    assert r.status_code == 200 and len(r.json) == 1
    assert json.loads(r.headers["X-Pagination"])["total"] == 2


def test_the_listed_resources_stay_the_live_counters(client, ward):
    r = client.get("/api/hospitals", query_string={"q": "booked", **window(NEXT_WEEK, 2),
                                                   "minAvailable": 0})
    [hospital] = r.json
    assert [(x["available"], x["occupied"]) for x in hospital["resources"]] == [(1, 0)]


def test_a_window_without_min_available_filters_nothing(client, ward):
    assert len(found(client, **window(NEXT_WEEK, 2))) == 3


LATER = NOW + timedelta(days=2)


@pytest.mark.parametrize("args", [
    {"from": to_iso(LATER)},                                              # from without to
    {"to": to_iso(LATER)},                                                # to without from
    {"from": to_iso(LATER), "to": to_iso(LATER)},                         # empty window
    {"from": to_iso(LATER), "to": to_iso(LATER - timedelta(hours=1))},    # backwards
    {"from": to_iso(LATER), "to": to_iso(LATER + timedelta(days=31, seconds=1))},  # too long
    {"from": to_iso(NOW - timedelta(days=3)), "to": to_iso(NOW - timedelta(days=2))},  # past
    {"from": "next tuesday", "to": to_iso(LATER)},                        # not a time
    {"from": to_iso(LATER), "to": "12"},
    {"from": LATER.strftime("%Y-%m-%dT%H:%M:%S"), "to": to_iso(LATER + timedelta(hours=1))},  # naive
    {"from": "99999-01-01T00:00:00+00:00", "to": "99999-01-02T00:00:00+00:00"},  # absurd
    {"from": to_iso(LATER), "to": to_iso(LATER + timedelta(hours=1)), "minAvailable": "two"},
    {"from": to_iso(LATER), "to": to_iso(LATER + timedelta(hours=1)), "minAvailable": -1},
])
def test_bad_windows_are_422(client, ward, args):
    r = client.get("/api/hospitals", query_string={"minAvailable": 1, **args})
    assert r.status_code == 422, r.json
    assert r.json["errors"]


def test_a_window_of_exactly_the_maximum_is_fine(client, ward):
    assert len(found(client, minAvailable=1, **window(LATER, 31 * 24))) == 2


def test_the_window_arguments_are_in_the_openapi_document(client):
    params = client.get("/openapi.json").json["paths"]["/api/hospitals"]["get"]["parameters"]
    names = {p["name"] for p in params}
    assert {"from", "to", "minAvailable"} <= names
