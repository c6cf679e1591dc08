"""Capacity under real concurrency: four gunicorn workers, many simultaneous requests.

Each scenario fires its requests from threads released together by a barrier,
then checks the outcome codes and the invariants in SQL: `available` never
negative and the counters equal to what the bookings table implies.
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

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


def assert_counters_match_bookings(db, hospital_id, total):
    row = db.execute(
        """
        SELECT r.total, r.available, r.occupied,
               (SELECT coalesce(sum(allocated_units), 0) FROM bookings
                WHERE hospital_id = r.hospital_id AND resource_type = r.resource_type
                  AND status = 'approved') AS held,
               (SELECT count(*) FROM bookings WHERE hospital_id = r.hospital_id
                  AND status <> 'approved' AND allocated_units <> 0) AS stray
        FROM hospital_resources AS r WHERE r.hospital_id = ? AND r.resource_type = 'beds'
        """,
        (hospital_id,),
    ).fetchone()
    assert row["available"] >= 0 and row["total"] == total
    assert row["available"] + row["held"] == row["total"], dict(row)
    assert row["occupied"] == row["held"] and row["stray"] == 0
    audit = db.execute(
        """
        SELECT sum(CASE WHEN action = 'allocate' THEN 1 ELSE 0 END) AS allocations,
               sum(CASE WHEN action = 'release' THEN 1 ELSE 0 END) AS releases
        FROM resource_audit_log WHERE hospital_id = ?
        """,
        (hospital_id,),
    ).fetchone()
    assert (audit["allocations"] or 0) - (audit["releases"] or 0) == row["held"]
    return row


def statuses(db, hospital_id):
    return {row["status"]: row["n"] for row in db.execute(
        "SELECT status, count(*) AS n FROM bookings WHERE hospital_id = ? GROUP BY status", (hospital_id,))}


def test_fifty_simultaneous_approvals_never_overbook(server, db, make):
    for _round in range(3):
        hospital = make.hospital(resources={"beds": BEDS}, prices={"beds": 150000})
        staff = [make.auth(make.authority(hospital)), make.auth(make.admin())]
        patient = make.user()
        bookings = [make.booking(patient, hospital, scheduled_in=timedelta(days=1 + i)) for i in range(50)]
        codes = fire(server, [("PUT", f"/api/bookings/{b['id']}/approve", staff[i % 2], None)
                              for i, b in enumerate(bookings)])
        assert sorted(codes) == [200] * BEDS + [409] * (50 - BEDS), codes
        row = assert_counters_match_bookings(db, hospital["id"], BEDS)
        assert row["available"] == 0
        assert statuses(db, hospital["id"]) == {"approved": BEDS, "pending": 50 - BEDS}
        assert db.execute("SELECT count(*) AS n FROM transactions WHERE hospital_id = ?",
                          (hospital["id"],)).fetchone()["n"] == BEDS
        assert db.execute(
            """
            SELECT count(*) AS n FROM booking_status_history AS h JOIN bookings AS b ON b.id = h.booking_id
            WHERE b.hospital_id = ? AND h.new_status = 'approved'
            """, (hospital["id"],)).fetchone()["n"] == BEDS


def test_twenty_simultaneous_approvals_of_one_booking_approve_it_once(server, db, make):
    for _round in range(3):
        hospital = make.hospital(resources={"beds": BEDS}, prices={"beds": 150000})
        headers = make.auth(make.authority(hospital))
        booking = make.booking(make.user(), hospital)
        codes = fire(server, [("PUT", f"/api/bookings/{booking['id']}/approve", headers, None)] * 20)
        assert sorted(codes) == [200] + [409] * 19, codes
        row = assert_counters_match_bookings(db, hospital["id"], BEDS)
        assert row["available"] == BEDS - 1
        assert db.execute("SELECT count(*) AS n FROM booking_status_history WHERE booking_id = ?",
                          (booking["id"],)).fetchone()["n"] == 2
        assert db.execute("SELECT count(*) AS n FROM transactions WHERE booking_id = ?",
                          (booking["id"],)).fetchone()["n"] == 1


def test_cancels_racing_approvals_keep_the_counters_exact(server, db, make):
    for _round in range(3):
        hospital = make.hospital(resources={"beds": BEDS}, prices={"beds": 150000})
        authority = make.auth(make.authority(hospital))
        patients = [make.user() for _ in range(6)]
        owner_headers = {p["id"]: make.auth(p) for p in patients}
        bookings = [make.booking(patients[i % 6], hospital, scheduled_in=timedelta(days=1 + i))
                    for i in range(30)]
        # five already approved, so cancels also release while approvals take
        for b in bookings[:BEDS]:
            assert requests.put(f"{server.url}/api/bookings/{b['id']}/approve",
                                headers=authority, timeout=30).status_code == 200
        calls = [("PUT", f"/api/bookings/{b['id']}/approve", authority, None) for b in bookings[BEDS:]]
        calls += [("DELETE", f"/api/bookings/{b['id']}", owner_headers[b["user_id"]], {"reason": "race"})
                  for b in bookings[::2]]
        codes = fire(server, calls)
        approvals, cancels = codes[:len(bookings) - BEDS], codes[len(bookings) - BEDS:]
        assert set(approvals) <= {200, 409} and set(cancels) == {200}, codes
        assert_counters_match_bookings(db, hospital["id"], BEDS)
        final = statuses(db, hospital["id"])
        assert final.get("cancelled") == len(bookings[::2])
        assert final.get("approved", 0) <= BEDS
        # every approval that succeeded took a unit, every cancel of an approved one gave it back
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
