"""Races over HTTP against real gunicorn workers (several processes, one SQLite file)."""
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from tests.factories import Factory
from tests.live_server import LiveServer
from tests.payments.helpers import (
    PRICE,
    assert_money_invariants,
    balance,
    fund,
    payment_due,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("payments-live"), workers=4) as server:
        conn = server.connect()
        yield server, conn, Factory(conn)
        conn.close()


def fire(requests_to_send):
    """Send every request at (nearly) the same moment; returns the responses."""
    barrier = threading.Barrier(len(requests_to_send))

    def send(spec):
        method, url, kwargs = spec
        barrier.wait()
        return requests.request(method, url, timeout=30, **kwargs)

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(send, requests_to_send))


def approved_bookings(make, conn, user, n):
    hospital = make.hospital(resources={"beds": n})
    bookings = []
    for day in range(n):
        booking = make.booking(user, hospital, status="approved",
                               scheduled_in=timedelta(days=2 + day))
        payment_due(conn, booking)
        bookings.append(booking)
    return bookings


def test_concurrent_wallet_debits_never_overdraw(live):
    server, conn, make = live
    user = make.user()
    k, n, remainder = 3, 10, 99_999
    start = k * PRICE + remainder  # enough for exactly k bookings
    fund(conn, user, start)
    bookings = approved_bookings(make, conn, user, n)
    auth = make.auth(user)
    responses = fire([
        ("POST", server.url + "/api/payments/process",
         {"json": {"bookingId": b["id"], "method": "wallet"},
          "headers": {**auth, "Idempotency-Key": str(uuid.uuid4())}})
        for b in bookings
    ])
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * (start // PRICE) + [402] * (n - start // PRICE), \
        [r.text for r in responses if r.status_code not in (200, 402)]
    assert balance(conn, user) == start - k * PRICE == remainder
    paid = conn.execute(
        "SELECT count(*) AS n FROM transactions WHERE user_id = ? AND status = 'completed'",
        (user["id"],)).fetchone()["n"]
    assert paid == k
    shortfalls = {r.json()["shortfall"] for r in responses if r.status_code == 402}
    assert shortfalls == {"500.01"}  # 1500.00 due against 999.99 left
    assert_money_invariants(conn)


def test_twenty_concurrent_requests_with_one_key_have_one_effect(live):
    server, conn, make = live
    user = make.user()
    fund(conn, user, 10 * PRICE)
    [booking] = approved_bookings(make, conn, user, 1)
    headers = {**make.auth(user), "Idempotency-Key": "one-key-" + uuid.uuid4().hex}
    responses = fire([
        ("POST", server.url + "/api/payments/process",
         {"json": {"bookingId": booking["id"], "method": "wallet"}, "headers": headers})
    ] * 20)
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 409} and 200 in codes, codes
    in_progress = [r for r in responses if r.status_code == 409]
    assert all("in progress" in r.json()["message"] and r.headers["Retry-After"] == "1"
               for r in in_progress)
    bodies = {r.text for r in responses if r.status_code == 200}
    assert len(bodies) == 1  # the replays are the first response, byte for byte
    debits = conn.execute(
        "SELECT count(*) AS n FROM balance_transactions WHERE user_id = ? AND type = 'debit'",
        (user["id"],)).fetchone()["n"]
    assert debits == 1 and balance(conn, user) == 9 * PRICE
    # the losers retry as told and get the stored response
    retry = requests.post(server.url + "/api/payments/process",
                          json={"bookingId": booking["id"], "method": "wallet"},
                          headers=headers, timeout=30)
    assert retry.status_code == 200 and retry.text in bodies
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert_money_invariants(conn)


def test_concurrent_refunds_never_exceed_the_amount_paid(live):
    server, conn, make = live
    user, admin = make.user(), make.admin()
    fund(conn, user, PRICE)
    [booking] = approved_bookings(make, conn, user, 1)
    r = requests.post(server.url + "/api/payments/process",
                      json={"bookingId": booking["id"], "method": "wallet"},
                      headers={**make.auth(user), "Idempotency-Key": uuid.uuid4().hex},
                      timeout=30)
    assert r.status_code == 200
    payment_id = r.json()["id"]
    admin_auth = make.auth(admin)
    responses = fire([
        ("POST", f"{server.url}/api/payments/{payment_id}/refund",
         {"json": {"amount": "200.00", "reason": "race"},
          "headers": {**admin_auth, "Idempotency-Key": uuid.uuid4().hex}})
        for _ in range(12)
    ])
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 7 + [409] * 5, [r.text for r in responses]  # 7 x 200 <= 1500 < 8 x 200
    payment = conn.execute("SELECT * FROM transactions WHERE id = ?", (payment_id,)).fetchone()
    assert payment["refunded_minor"] == 140_000 and payment["status"] == "partially_refunded"
    assert balance(conn, user) == 140_000
    assert_money_invariants(conn)
