"""Crash safety: SIGKILL the gunicorn master and every worker in the middle of a write
load, restart on the same database, and check that nothing acknowledged was lost.

Several client threads write through the API; every request that got a 2xx is
recorded with what it created. After the kill and restart each record must be in
the database, PRAGMA integrity_check must be ok and the invariants must hold.

The operations are a list (OPERATIONS), every one of them driven in every run:
an operation whose route is missing or renamed acknowledges nothing, and the test
fails on that.
"""
import hashlib
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable

import pytest
import requests

from app.ops import invariants
from tests.factories import PASSWORD, Factory
from tests.live_server import LiveServer
from tests.stress import scenarios

pytestmark = pytest.mark.slow

CLIENT_THREADS = 6
LOAD_SECONDS = 1.5
ROUNDS = 2  # kill and restart this many times


@dataclass
class Operation:
    name: str
    # prepare(ctx) arranges what the operation consumes; call(ctx, n) returns a record
    # for a 2xx (None otherwise); verify(conn, record) returns a problem or None.
    call: Callable
    verify: Callable
    prepare: Callable = lambda ctx: None
    done: list = field(default_factory=list)


def _post(ctx, path, **kwargs):
    return requests.post(ctx["url"] + path, timeout=10, **kwargs)


# --- accounts ------------------------------------------------------------------------------

def register(ctx, n):
    email = f"crash-{uuid.uuid4().hex[:12]}@example.test"
    response = _post(ctx, "/api/auth/register",
                     json={"name": f"Crash {n}", "email": email, "password": "crash-password-1"})
    return {"email": email} if response.status_code == 201 else None


def registered(conn, record):
    if conn.execute("SELECT 1 FROM users WHERE email = ?", (record["email"],)).fetchone() is None:
        return f"acknowledged registration of {record['email']} is missing"


def login(ctx, n):
    user = ctx["login_users"][n % len(ctx["login_users"])]
    response = _post(ctx, "/api/auth/login", json={"email": user["email"], "password": PASSWORD})
    return {"token": response.json()["token"]} if response.status_code == 200 else None


def logged_in(conn, record):
    token_hash = hashlib.sha256(record["token"].encode()).hexdigest()
    if conn.execute("SELECT 1 FROM api_tokens WHERE token_hash = ?", (token_hash,)).fetchone() is None:
        return "an issued login token is missing"


def prepare_logins(ctx):
    ctx["login_users"] = [ctx["make"].user() for _ in range(4)]


# --- bookings and payments -------------------------------------------------------------------

def prepare_bookings(ctx):
    make = ctx["make"]
    ctx["hospital"], ctx["authority"] = scenarios.a_hospital(make, beds=10_000)
    ctx["patients"] = [make.user() for _ in range(CLIENT_THREADS)]
    ctx["patient_headers"] = {p["id"]: make.auth(p) for p in ctx["patients"]}
    ctx["authority_headers"] = make.auth(ctx["authority"])


def create_booking(ctx, n):
    patients = ctx["patients"]
    patient = patients[n % len(patients)]
    # one open booking per user, hospital, type and day; all within the coming year
    day = date.today() + timedelta(days=3 + n // len(patients))
    response = _post(ctx, "/api/bookings", headers=ctx["patient_headers"][patient["id"]], json={
        "hospitalId": ctx["hospital"]["id"], "resourceType": "beds",
        "patientName": "Crash Patient", "patientAge": 40, "patientGender": "other",
        "medicalCondition": "Observation", "urgency": "medium",
        "emergencyContactName": "Kin", "emergencyContactPhone": "+8801700000000",
        "emergencyContactRelationship": "sibling",
        "scheduledDate": f"{day.isoformat()}T10:00:00+06:00", "estimatedDuration": 24,
    })
    return {"id": response.json()["id"]} if response.status_code == 201 else None


def booking_exists(conn, record):
    if conn.execute("SELECT 1 FROM bookings WHERE id = ?", (record["id"],)).fetchone() is None:
        return f"acknowledged booking {record['id']} is missing"


def prepare_approvals(ctx):
    if "hospital" not in ctx:
        prepare_bookings(ctx)
    ctx["to_approve"] = scenarios.pending_bookings(ctx["make"], ctx["hospital"], 300)


def approve(ctx, n):
    if n >= len(ctx["to_approve"]):
        return None
    booking = ctx["to_approve"][n]
    status, _ = scenarios.approve(ctx["url"], ctx["authority_headers"], booking["id"])
    return {"id": booking["id"]} if status == 200 else None


def approved(conn, record):
    row = conn.execute("SELECT status FROM bookings WHERE id = ?", (record["id"],)).fetchone()
    if row["status"] not in ("approved", "completed", "cancelled"):
        return f"acknowledged approval of booking {record['id']} is lost ({row['status']})"


def prepare_payments(ctx):
    if "hospital" not in ctx:
        prepare_bookings(ctx)
    make = ctx["make"]
    ctx["to_pay"] = scenarios.approved_with_payment_due(
        ctx["url"], make, ctx["hospital"], ctx["authority"], 150, same_user=False)
    for booking in ctx["to_pay"]:
        scenarios.fund_wallet(ctx["conn"], booking["user_id"], 10**9)
    ctx["payer_headers"] = {b["user_id"]: make.auth({"id": b["user_id"]}) for b in ctx["to_pay"]}


def pay(ctx, n):
    if n >= len(ctx["to_pay"]):
        return None
    booking = ctx["to_pay"][n]
    status, _ = scenarios.pay_with_wallet(ctx["url"], ctx["payer_headers"][booking["user_id"]],
                                          booking["id"])
    return {"booking_id": booking["id"]} if status == 200 else None


def paid(conn, record):
    row = scenarios.payment_of(conn, record["booking_id"])
    if row is None or row["status"] not in ("completed", "partially_refunded", "refunded"):
        return f"acknowledged payment of booking {record['booking_id']} is lost"


OPERATIONS = [
    Operation("register", register, registered),
    Operation("login", login, logged_in, prepare_logins),
    Operation("create booking", create_booking, booking_exists, prepare_bookings),
    Operation("approve booking", approve, approved, prepare_approvals),
    Operation("pay from wallet", pay, paid, prepare_payments),
]


def drive(ctx, operations, counters, stop):
    """One client thread: cycle through the operations until told to stop."""
    for operation in itertools.cycle(operations):
        if stop.is_set():
            return
        try:
            record = operation.call(ctx, next(counters[operation.name]))
        except (requests.RequestException, ValueError):
            continue  # the server is down: the outcome is unknown, so nothing is claimed
        if record is not None:
            operation.done.append(record)


def test_acknowledged_writes_survive_sigkill(tmp_path):
    server = LiveServer(tmp_path, workers=4)
    server.start()
    conn = server.connect()
    try:
        ctx = {"url": server.url, "database": server.database, "conn": conn, "make": Factory(conn)}
        for operation in OPERATIONS:
            operation.prepare(ctx)
        counters = {op.name: itertools.count() for op in OPERATIONS}

        for _round in range(ROUNDS):
            stop = threading.Event()
            threads = [threading.Thread(target=drive, args=(ctx, OPERATIONS, counters, stop))
                       for _ in range(CLIENT_THREADS)]
            for thread in threads:
                thread.start()
            time.sleep(LOAD_SECONDS)
            killed = server.kill()  # mid-load: requests are in flight in every worker
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            assert len(killed) == 1 + server.workers
            server.start()  # same database, same port

        problems = [
            problem
            for op in OPERATIONS for record in op.done
            if (problem := op.verify(conn, record))
        ]
        acknowledged = {op.name: len(op.done) for op in OPERATIONS}
        print(f"crash test: acknowledged writes checked after {ROUNDS} kills: {acknowledged}")
        assert all(acknowledged.values()), acknowledged
        assert problems == []
        assert invariants.check_all(conn) == []
        # and the restarted service works
        assert requests.get(server.url + "/api/health", timeout=5).json()["database"] == "ok"
        assert register(ctx, 0) is not None
    finally:
        conn.close()
        server.stop()
        server.drop()  # its PostgreSQL database (nothing on SQLite)
