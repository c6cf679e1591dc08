"""Concurrency scenarios against the real service, shared by the fast stress tests
(tests/stress/test_*.py, small sizes) and the thorough script (benchmarks/stress.py).

Each scenario arranges its own data straight in the database, fires the racing
requests at once from many threads (the server runs several gunicorn worker
processes, so the race is real), then returns a list of problems: wrong status
codes, wrong counts, and every violated invariant (app.ops.invariants). An empty
list is a pass.

A renamed or missing endpoint is a failure like any other (a 404 where a 200 was
expected), never a skip. ``Routes`` reads the routes a running service documents;
the benchmarks (benchmarks/scenarios.py) use it to choose what to measure.
"""
import itertools
import multiprocessing
import re
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests

from app.db import postgres, transaction
from app.ops import invariants
from app.resources import schedule
from app.resources.queries import holds_overlapping, lock_resource, schedule_lock
from app.timeutil import from_iso, to_iso, utcnow
from tests.factories import Factory

_unique = itertools.count(1)


# --- the service's published routes -------------------------------------------------------

def _template_regex(template):
    """'/api/bookings/{booking_id}/approve' -> a regex matching any concrete id there."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
    )


class Routes:
    """The (method, path template) pairs the running service documents in /openapi.json."""

    def __init__(self, spec):
        self.templates = [
            (method.upper(), _template_regex(path))
            for path, operations in spec.get("paths", {}).items()
            for method in operations
            if method.lower() in ("get", "put", "post", "patch", "delete")
        ]

    @classmethod
    def of(cls, base_url):
        return cls(requests.get(base_url + "/openapi.json", timeout=10).json())

    def has(self, method, path):
        """``path`` may be concrete ('/api/bookings/7/approve') or our template ('{id}')."""
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        return any(m == method.upper() and rx.match(concrete) for m, rx in self.templates)

    def missing(self, *routes):
        return [f"{method} {path}" for method, path in routes if not self.has(method, path)]


# --- arranging data ----------------------------------------------------------------------

def fund_wallet(conn, user_id, amount_minor, *, now=None):
    """Credit a wallet the way a verified top-up does: balance row + one ledger row."""
    stamp = to_iso(now or utcnow())
    with transaction(conn):
        row = conn.execute(
            "SELECT balance_minor FROM user_balance WHERE user_id = ?", (user_id,)
        ).fetchone()
        before = row["balance_minor"] if row else 0
        conn.execute(
            """
            INSERT INTO user_balance (user_id, balance_minor, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (user_id) DO UPDATE SET balance_minor = excluded.balance_minor,
                                                updated_at = excluded.updated_at
            """,
            (user_id, before + amount_minor, stamp),
        )
        conn.execute(
            """
            INSERT INTO balance_transactions (user_id, type, amount_minor, balance_before_minor,
                balance_after_minor, description, created_at)
            VALUES (?, 'credit', ?, ?, ?, 'stress test top-up', ?)
            """,
            (user_id, amount_minor, before, before + amount_minor, stamp),
        )


def balance_of(conn, user_id):
    row = conn.execute("SELECT balance_minor FROM user_balance WHERE user_id = ?", (user_id,)).fetchone()
    return row["balance_minor"] if row else 0


def payment_of(conn, booking_id):
    """The live payment row of a booking (created by its approval)."""
    return conn.execute(
        """
        SELECT * FROM transactions
        WHERE booking_id = ? AND kind = 'booking_payment' AND status <> 'failed'
        """,
        (booking_id,),
    ).fetchone()


def pending_bookings(make, hospital, count, *, same_user=False, resource_type="beds",
                     overlapping=False):
    """``count`` pending bookings; one user each, or one user on different days. Their
    24-hour windows follow each other (each starts as the one before ends), or with
    ``overlapping`` start a minute apart, so that every two of them overlap."""
    user = make.user()
    bookings = []
    for n in range(count):
        owner = user if same_user else make.user()
        scheduled_in = timedelta(days=2, minutes=n) if overlapping else timedelta(days=2 + n)
        bookings.append(make.booking(owner, hospital, resource_type=resource_type,
                                     scheduled_in=scheduled_in))
    return bookings


def busiest_instant(conn, hospital_id, resource_type="beds"):
    """The most units the hospital's approved bookings hold at one instant, from the rows
    (independent of the service's own sweep): the level only rises at a hold's start."""
    holds = [(row["scheduled_date"], row["scheduled_end"], row["allocated_units"])
             for row in conn.execute(
                 "SELECT scheduled_date, scheduled_end, allocated_units FROM bookings "
                 "WHERE hospital_id = ? AND resource_type = ? AND status = 'approved'",
                 (hospital_id, resource_type))]
    holds = [(from_iso(start), from_iso(end), units) for start, end, units in holds]
    return max((sum(units for start, end, units in holds if start <= at < end)
                for at, _, _ in holds), default=0)


def a_hospital(make, *, beds, price_minor=150000):
    hospital = make.hospital(resources={"beds": beds}, prices={"beds": price_minor},
                             name=f"Stress Hospital {next(_unique)}")
    return hospital, make.authority(hospital)


# --- firing requests at once -----------------------------------------------------------------

def fire_together(calls, *, threads):
    """Run every zero-argument callable in ``calls`` from ``threads`` threads, started
    together behind a barrier; returns their results in order."""
    threads = max(1, min(threads, len(calls)))
    barrier = threading.Barrier(threads)
    started = threading.local()

    def run(call):
        if not getattr(started, "yes", False):
            started.yes = True
            barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, calls))


def _http(method, url, **kwargs):
    """(status, json body or None); a dropped connection is status 0."""
    try:
        response = requests.request(method, url, timeout=30, **kwargs)
    except requests.RequestException:
        return 0, None
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body


def _status_problems(statuses, expected):
    """Compare a Counter of status codes with ``expected`` {code: count}."""
    counts = Counter(statuses)
    if counts != Counter(expected):
        return [f"status codes {dict(sorted(counts.items()))}, expected {expected}"]
    return []


def _invariant_problems(server):
    conn = server.connect()
    try:
        return invariants.check_all(conn)
    finally:
        conn.close()


def approve(base_url, headers, booking_id):
    # an empty JSON body: approval takes an optional reason
    return _http("PUT", f"{base_url}/api/bookings/{booking_id}/approve", headers=headers, json={})


def pay_with_wallet(base_url, headers, booking_id, key=None):
    return _http(
        "POST", f"{base_url}/api/payments/process",
        json={"bookingId": booking_id, "method": "wallet"},
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


def approved_with_payment_due(base_url, make, hospital, authority, count, *, same_user=True):
    """Bookings approved through the API (which creates each payment due)."""
    bookings = pending_bookings(make, hospital, count, same_user=same_user)
    headers = make.auth(authority)
    for booking in bookings:
        status, body = approve(base_url, headers, booking["id"])
        if status != 200:
            raise AssertionError(f"arranging: approval answered {status} {body}")
    return bookings


# --- the scenarios ------------------------------------------------------------------------

def approvals_vs_capacity(server, *, capacity=5, bookings=20, threads=16):
    """More concurrent approvals of overlapping windows than beds: exactly ``capacity``
    succeed, the rest are 409; the hand-marked counters are left alone."""
    conn = server.connect()
    make = Factory(conn)
    try:
        hospital, authority = a_hospital(make, beds=capacity)
        pending = pending_bookings(make, hospital, bookings, overlapping=True)
        headers = make.auth(authority)
        results = fire_together(
            [lambda b=b: approve(server.url, headers, b["id"]) for b in pending], threads=threads
        )
        problems = _status_problems([s for s, _ in results],
                                    {200: capacity, 409: bookings - capacity})
        beds = conn.execute(
            "SELECT * FROM hospital_resources WHERE hospital_id = ? AND resource_type = 'beds'",
            (hospital["id"],),
        ).fetchone()
        approved = conn.execute(
            "SELECT count(*) AS n FROM bookings WHERE hospital_id = ? AND status = 'approved'",
            (hospital["id"],),
        ).fetchone()["n"]
        busiest = busiest_instant(conn, hospital["id"])
        if (beds["occupied"], beds["available"], approved, busiest) != (
                0, capacity, capacity, capacity):
            problems.append(f"after the race: occupied={beds['occupied']} available="
                            f"{beds['available']} approved={approved} busiest={busiest}, "
                            f"expected 0/{capacity}/{capacity}/{capacity}")
    finally:
        conn.close()
    return problems + _invariant_problems(server)


def concurrent_wallet_debits(server, *, payments=8, affordable=3, threads=8):
    """One wallet, ``payments`` bookings paid at once, money for ``affordable`` of them:
    exactly that many succeed, the others get 402, the balance never goes negative."""
    conn = server.connect()
    make = Factory(conn)
    try:
        hospital, authority = a_hospital(make, beds=payments + 1)
        bookings = approved_with_payment_due(server.url, make, hospital, authority, payments)
        owner_id = bookings[0]["user_id"]
        amounts = {payment_of(conn, b["id"])["amount_minor"] for b in bookings}
        if len(amounts) != 1:
            return [f"arranging: expected one price for identical bookings, got {amounts}"]
        amount = amounts.pop()
        funded = affordable * amount + amount // 2
        fund_wallet(conn, owner_id, funded)
        owner_headers = make.auth({"id": owner_id})
        results = fire_together(
            [lambda b=b: pay_with_wallet(server.url, owner_headers, b["id"]) for b in bookings],
            threads=threads,
        )
        problems = _status_problems([s for s, _ in results],
                                    {200: affordable, 402: payments - affordable})
        balance = balance_of(conn, owner_id)
        if balance != funded - affordable * amount:
            problems.append(f"balance {balance}, expected {funded - affordable * amount}")
    finally:
        conn.close()
    return problems + _invariant_problems(server)


def concurrent_refunds(server, *, parts=3, requests_sent=8, threads=8):
    """One paid booking, ``requests_sent`` refunds of a ``1/parts`` share at once:
    exactly ``parts`` succeed and the total refunded never exceeds the payment."""
    conn = server.connect()
    make = Factory(conn)
    try:
        hospital, authority = a_hospital(make, beds=2)
        (booking,) = approved_with_payment_due(server.url, make, hospital, authority, 1)
        amount = payment_of(conn, booking["id"])["amount_minor"]
        fund_wallet(conn, booking["user_id"], amount)
        status, body = pay_with_wallet(server.url, make.auth({"id": booking["user_id"]}),
                                       booking["id"])
        if status != 200:
            return [f"arranging: payment answered {status} {body}"]
        payment = payment_of(conn, booking["id"])
        share = amount // parts
        authority_headers = make.auth(authority)

        def refund():
            return _http(
                "POST", f"{server.url}/api/payments/{payment['id']}/refund",
                json={"amount": f"{share // 100}.{share % 100:02d}", "reason": "stress refund"},
                headers={**authority_headers, "Idempotency-Key": str(uuid.uuid4())},
            )

        results = fire_together([refund] * requests_sent, threads=threads)
        statuses = [s for s, _ in results]
        succeeded = sum(1 for s in statuses if 200 <= s < 300)
        problems = []
        if succeeded != parts:
            problems.append(f"{succeeded} refunds succeeded, expected {parts}: {Counter(statuses)}")
        refused = [s for s in statuses if not 200 <= s < 300]
        if any(s not in (409, 422) for s in refused):
            problems.append(f"refused refunds must be 409/422, got {Counter(refused)}")
        refunded = payment_of(conn, booking["id"])["refunded_minor"]
        if refunded > amount:
            problems.append(f"refunded {refunded} of a {amount} payment")
    finally:
        conn.close()
    return problems + _invariant_problems(server)


def idempotent_payment_race(server, *, requests_sent=8, threads=8):
    """The same payment with the same Idempotency-Key sent at once: one effect; every
    success is the same response; anything else is a 409 "still in progress"."""
    conn = server.connect()
    make = Factory(conn)
    try:
        hospital, authority = a_hospital(make, beds=2)
        (booking,) = approved_with_payment_due(server.url, make, hospital, authority, 1)
        amount = payment_of(conn, booking["id"])["amount_minor"]
        fund_wallet(conn, booking["user_id"], 3 * amount)
        headers = make.auth({"id": booking["user_id"]})
        key = str(uuid.uuid4())
        results = fire_together(
            [lambda: pay_with_wallet(server.url, headers, booking["id"], key)] * requests_sent,
            threads=threads,
        )
        problems = []
        bodies = [body for status, body in results if status == 200]
        others = Counter(status for status, _ in results if status != 200)
        if not bodies:
            problems.append(f"no request succeeded: {others}")
        elif any(body != bodies[0] for body in bodies):
            problems.append("successful replies differ for one Idempotency-Key")
        if set(others) - {409}:
            problems.append(f"only 200 or 409 (in progress) expected, got {others}")
        payment = payment_of(conn, booking["id"])
        debits = conn.execute(
            "SELECT count(*) AS n FROM balance_transactions WHERE transaction_id = ? AND type = 'debit'",
            (payment["id"],),
        ).fetchone()["n"]
        if debits != 1 or balance_of(conn, booking["user_id"]) != 2 * amount:
            problems.append(f"{debits} debit(s), balance {balance_of(conn, booking['user_id'])}; "
                            f"expected exactly one debit of {amount}")
        # the same key with another body is refused, never a second effect
        status, _ = _http("POST", f"{server.url}/api/payments/process",
                          json={"bookingId": booking["id"], "method": "sslcommerz"},
                          headers={**headers, "Idempotency-Key": key})
        if status not in (409, 422):
            problems.append(f"same key, different body answered {status}, expected 409/422")
    finally:
        conn.close()
    return problems + _invariant_problems(server)


# --- the guarded allocation itself, without HTTP (runs on every build) ----------------------

def _approve_in_process(server, booking_ids, barrier, results):
    conn = server.connect()
    barrier.wait(timeout=30)
    won = 0
    for booking_id in booking_ids:
        outcome = _try_approve(conn, booking_id)
        while outcome == "conflict":  # PostgreSQL aborted it: run it again, as a request is
            outcome = _try_approve(conn, booking_id)
        won += outcome == "approved"
    conn.close()
    results.put(won)


def _try_approve(conn, booking_id):
    """One approval attempt from the service's building blocks (the schedule lock, the
    resource row locked, the window checked against the overlapping holds, the guarded
    UPDATE): "approved", "lost" (approved already, or its window is full) or "conflict"."""
    now = utcnow()
    target = conn.execute("SELECT hospital_id, resource_type FROM bookings WHERE id = ?",
                          (booking_id,)).fetchone()
    hospital_id, resource_type = target["hospital_id"], target["resource_type"]
    try:
        with schedule_lock(conn, hospital_id, resource_type), transaction(conn):
            resource = lock_resource(conn, hospital_id, resource_type)
            booking = conn.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
            if booking["status"] != "pending":
                return "lost"  # another process approved it first
            start, end = from_iso(booking["scheduled_date"]), from_iso(booking["scheduled_end"])
            holds = holds_overlapping(conn, hospital_id, resource_type, to_iso(start), to_iso(end))
            if schedule.first_instant_over(schedule.levels(holds, start, end),
                                           resource["available"]) is not None:
                return "lost"
            conn.execute(
                """
                UPDATE bookings SET status = 'approved', allocated_units = 1,
                       approved_at = :now, updated_at = :now
                WHERE id = :id AND status = 'pending'
                """,
                {"now": to_iso(now), "id": booking_id},
            )
    except Exception as error:
        if postgres.is_retryable(error):
            return "conflict"
        raise
    return "approved"


def sql_allocations_vs_capacity(server, *, capacity=10, bookings=60, processes=4):
    """Approvals written the way the bookings service must (the schedule lock, the
    window check and the guarded UPDATE in one transaction) from several processes at
    once, every process racing for every one of a set of overlapping windows: exactly
    ``capacity`` bookings end up approved, and at no instant do they hold more.
    ``server``: a LiveServer, started or not (only its database is used)."""
    conn = server.connect()
    make = Factory(conn)
    try:
        hospital, _ = a_hospital(make, beds=capacity)
        ids = [b["id"] for b in pending_bookings(make, hospital, bookings, overlapping=True)]
    finally:
        conn.close()
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes), context.Queue()
    # every process races for every booking, in a different order
    offsets = [n * len(ids) // processes for n in range(processes)]
    workers = [
        context.Process(target=_approve_in_process,
                        args=(server, ids[k:] + ids[:k], barrier, results))
        for k in offsets
    ]
    for worker in workers:
        worker.start()
    won = sum(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    problems = [f"{won} approvals won, expected {capacity}"] if won != capacity else []
    conn = server.connect()
    try:
        busiest = busiest_instant(conn, hospital["id"])
    finally:
        conn.close()
    if busiest != capacity:
        problems.append(f"busiest instant holds {busiest}, expected {capacity}")
    return problems + _invariant_problems(server)
