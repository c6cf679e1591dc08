"""Capacity under real concurrency: four gunicorn workers, many simultaneous requests.

Each scenario fires its requests from threads released together by a barrier,
then checks the outcome codes and that at no instant do the approved holds exceed
the capacity (an oracle here, and the shared invariants): overlapping windows
compete for the units, back-to-back windows all succeed.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from app.ops import invariants
from app.timeutil import from_iso
from tests.bookings.helpers import booking_body, future
from tests.factories import Factory
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

BEDS = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("live-bookings")
    # The rate limit is on, so it is proven across workers too; the capacity
    # scenarios make their bookings with the factory, which the limit never sees.
    with LiveServer(tmp_path, workers=4, env={"RAPIDCARE_BOOKING_RATE_LIMIT": "3/300"}) as live:
        yield live


@pytest.fixture
def db(server):
    conn = server.connect()
    yield conn
    conn.close()


@pytest.fixture
def make(db):
    return Factory(db)


def fire(server, calls):
    """Run ``calls`` [(method, path, headers, json)] at once; returns the status codes."""
    barrier = threading.Barrier(len(calls))

    def one(call):
        method, path, headers, body = call
        barrier.wait()
        return requests.request(method, server.url + path, headers=headers, json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def busiest(db, hospital_id):
    """The most units approved bookings of the hospital's beds hold at one instant,
    computed here from the rows (an oracle independent of the service's sweep): the
    level only rises at a hold's start, so checking every start suffices."""
    holds = [(from_iso(row["scheduled_date"]), from_iso(row["scheduled_end"]), row["allocated_units"])
             for row in db.execute(
                 "SELECT scheduled_date, scheduled_end, allocated_units FROM bookings "
                 "WHERE hospital_id = ? AND resource_type = 'beds' AND status = 'approved'",
                 (hospital_id,))]
    return max((sum(units for start, end, units in holds if start <= at < end)
                for at, _, _ in holds), default=0)


def assert_within_capacity(db, hospital_id, total):
    """At no instant do the approved holds exceed ``total`` (nothing is marked by hand
    in these scenarios); the shared invariants agree; every approval has its
    allocate row and every ended hold its release row."""
    assert busiest(db, hospital_id) <= total
    broken = [row for name in ("schedule_within_capacity", "allocation_matches_status",
                               "booking_window_stored")
              for row in invariants.offending_rows(db, name)
              if row.get("hospital_id", hospital_id) == hospital_id]
    assert broken == []
    audit = db.execute(
        """
        SELECT sum(CASE WHEN action = 'allocate' THEN 1 ELSE 0 END) AS allocations,
               sum(CASE WHEN action = 'release' THEN 1 ELSE 0 END) AS releases
        FROM resource_audit_log WHERE hospital_id = ?
        """,
        (hospital_id,),
    ).fetchone()
    approved = statuses(db, hospital_id).get("approved", 0)
    assert (audit["allocations"] or 0) - (audit["releases"] or 0) == approved


def statuses(db, hospital_id):
    return {row["status"]: row["n"] for row in db.execute(
        "SELECT status, count(*) AS n FROM bookings WHERE hospital_id = ? GROUP BY status", (hospital_id,))}


def approve_all(server, staff, bookings):
    return fire(server, [("PUT", f"/api/bookings/{b['id']}/approve", staff[i % len(staff)], None)
                         for i, b in enumerate(bookings)])


def test_fifty_simultaneous_approvals_of_overlapping_windows_never_overbook(server, db, make):
    for _round in range(3):
        hospital = make.hospital(resources={"beds": BEDS}, prices={"beds": 150000})
        staff = [make.auth(make.authority(hospital)), make.auth(make.admin())]
        # 24-hour windows starting a minute apart: every two of them overlap
        bookings = [make.booking(make.user(), hospital, scheduled_in=timedelta(days=1, minutes=i))
                    for i in range(50)]
        codes = approve_all(server, staff, bookings)
        assert sorted(codes) == [200] * BEDS + [409] * (50 - BEDS), codes
        assert_within_capacity(db, hospital["id"], BEDS)
        assert busiest(db, hospital["id"]) == BEDS
        assert statuses(db, hospital["id"]) == {"approved": BEDS, "pending": 50 - BEDS}
        assert db.execute("SELECT count(*) AS n FROM transactions WHERE hospital_id = ?",
                          (hospital["id"],)).fetchone()["n"] == BEDS
        assert db.execute(
            """
            SELECT count(*) AS n FROM booking_status_history AS h JOIN bookings AS b ON b.id = h.booking_id
            WHERE b.hospital_id = ? AND h.new_status = 'approved'
            """, (hospital["id"],)).fetchone()["n"] == BEDS


def test_fifty_simultaneous_approvals_of_back_to_back_windows_all_succeed_with_one_bed(
        server, db, make):
    hospital = make.hospital(resources={"beds": 1}, prices={"beds": 150000})
    staff = [make.auth(make.authority(hospital)), make.auth(make.admin())]
    patient = make.user()
    # [day 1+i, day 2+i): each ends exactly where the next begins (half-open windows)
    bookings = [make.booking(patient, hospital, scheduled_in=timedelta(days=1 + i))
                for i in range(50)]
    codes = approve_all(server, staff, bookings)
    assert codes == [200] * 50, codes
    assert_within_capacity(db, hospital["id"], 1)
    assert busiest(db, hospital["id"]) == 1


def test_mixed_windows_fill_each_slot_exactly_to_capacity(server, db, make):
    """Ten slots a day apart, five requests overlapping within each slot, two beds:
    exactly two approvals per slot, whatever the order the workers run them in."""
    hospital = make.hospital(resources={"beds": 2}, prices={"beds": 150000})
    staff = [make.auth(make.authority(hospital)), make.auth(make.admin())]
    bookings = [make.booking(make.user(), hospital, estimated_duration_hours=12,
                             scheduled_in=timedelta(days=1 + slot, minutes=10 * k))
                for slot in range(10) for k in range(5)]
    codes = approve_all(server, staff, bookings)
    assert sorted(codes) == [200] * 20 + [409] * 30, codes
    per_slot = [codes[5 * slot:5 * slot + 5].count(200) for slot in range(10)]
    assert per_slot == [2] * 10, per_slot
    assert_within_capacity(db, hospital["id"], 2)


def test_isolated_windows_all_succeed_while_overlapping_ones_compete_in_the_same_burst(
        server, db, make):
    """Issue #15 item 2 in one burst: twenty windows that overlap nothing (back to back,
    days 1-20) and thirty that all overlap each other (day 30) are approved at once,
    interleaved, across the four workers: every isolated window is approved, exactly
    the capacity of the crowded ones, and no instant is ever over capacity."""
    hospital = make.hospital(resources={"beds": 2}, prices={"beds": 150000})
    staff = [make.auth(make.authority(hospital)), make.auth(make.admin())]
    isolated = [make.booking(make.user(), hospital, scheduled_in=timedelta(days=1 + i))
                for i in range(20)]
    crowded = [make.booking(make.user(), hospital,
                            scheduled_in=timedelta(days=30, minutes=i)) for i in range(30)]
    both = [b for pair in zip(crowded, isolated + [None] * 10) for b in pair if b is not None]
    codes = dict(zip((b["id"] for b in both), approve_all(server, staff, both)))
    assert [codes[b["id"]] for b in isolated] == [200] * 20, codes
    assert sorted(codes[b["id"]] for b in crowded) == [200] * 2 + [409] * 28, codes
    assert_within_capacity(db, hospital["id"], 2)
    assert busiest(db, hospital["id"]) == 2


def test_twenty_simultaneous_approvals_of_one_booking_approve_it_once(server, db, make):
    for _round in range(3):
        hospital = make.hospital(resources={"beds": BEDS}, prices={"beds": 150000})
        headers = make.auth(make.authority(hospital))
        booking = make.booking(make.user(), hospital)
        codes = fire(server, [("PUT", f"/api/bookings/{booking['id']}/approve", headers, None)] * 20)
        assert sorted(codes) == [200] + [409] * 19, codes
        assert_within_capacity(db, hospital["id"], BEDS)
        assert busiest(db, hospital["id"]) == 1
        assert db.execute("SELECT count(*) AS n FROM booking_status_history WHERE booking_id = ?",
                          (booking["id"],)).fetchone()["n"] == 2
        assert db.execute("SELECT count(*) AS n FROM transactions WHERE booking_id = ?",
                          (booking["id"],)).fetchone()["n"] == 1


def test_cancels_racing_approvals_never_overbook(server, db, make):
    for _round in range(3):
        hospital = make.hospital(resources={"beds": BEDS}, prices={"beds": 150000})
        authority = make.auth(make.authority(hospital))
        patients = [make.user() for _ in range(30)]
        owner_headers = {p["id"]: make.auth(p) for p in patients}
        # all thirty windows overlap: capacity is the whole story
        bookings = [make.booking(patients[i], hospital, scheduled_in=timedelta(days=1, minutes=i))
                    for i in range(30)]
        # five already approved, so cancels also end holds while approvals take them
        for b in bookings[:BEDS]:
            assert requests.put(f"{server.url}/api/bookings/{b['id']}/approve",
                                headers=authority, timeout=30).status_code == 200
        calls = [("PUT", f"/api/bookings/{b['id']}/approve", authority, None) for b in bookings[BEDS:]]
        calls += [("DELETE", f"/api/bookings/{b['id']}", owner_headers[b["user_id"]], {"reason": "race"})
                  for b in bookings[::2]]
        codes = fire(server, calls)
        approvals, cancels = codes[:len(bookings) - BEDS], codes[len(bookings) - BEDS:]
        assert set(approvals) <= {200, 409} and set(cancels) == {200}, codes
        assert_within_capacity(db, hospital["id"], BEDS)
        final = statuses(db, hospital["id"])
        assert final.get("cancelled") == len(bookings[::2])
        assert final.get("approved", 0) <= BEDS
        allocations = db.execute("SELECT count(*) AS n FROM resource_audit_log WHERE hospital_id = ? "
                                 "AND action = 'allocate'", (hospital["id"],)).fetchone()["n"]
        assert allocations == BEDS + approvals.count(200)


def test_rate_limit_and_one_open_booking_per_day_hold_across_workers(server, db, make):
    hospital = make.hospital(resources={"beds": BEDS}, prices={"beds": 150000})
    patient = make.user()
    headers = make.auth(patient)
    # twelve different days at once: the limit (3 per 300 s) admits exactly three
    codes = fire(server, [("POST", "/api/bookings",
                           headers, booking_body(hospital, scheduledDate=future(days=2 + i)))
                          for i in range(12)])
    assert sorted(codes) == [201] * 3 + [429] * 9, codes
    # ten identical requests at once from a fresh patient: one booking, the rest conflicts
    other = make.user()
    body = booking_body(hospital)
    codes = fire(server, [("POST", "/api/bookings", make.auth(other), body)] * 10)
    assert sorted(codes) == [201] + [409] * 9, codes
    counts = {row["user_id"]: row["n"] for row in db.execute(
        "SELECT user_id, count(*) AS n FROM bookings WHERE hospital_id = ? GROUP BY user_id", (hospital["id"],))}
    assert counts == {patient["id"]: 3, other["id"]: 1}
    references = [row["booking_reference"] for row in db.execute("SELECT booking_reference FROM bookings")]
    assert len(references) == len(set(references))
