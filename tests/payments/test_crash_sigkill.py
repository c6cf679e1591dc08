"""A card refund whose worker is SIGKILLed after the refund committed (issue #12, item 1).

The real service runs under gunicorn (one sync worker, so the worker serving the
refund is the one there is) against the stand-in SSLCommerz. The stand-in makes
the refund and then holds its answer back; while the worker waits for it, the
refund row is committed and the Idempotency-Key's answer is not yet stored.
That worker is SIGKILLed there. The client retries with the same key, as the
contract invites: at once (409, in progress), then once the claim has timed
out (IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS, shortened here). The retry must answer
from the refund that committed: one refund row, one refund at the gateway (the
refund is sent again under its own reference, RF<id>, which the gateway treats
as the same refund), refunded once, the ledger consistent.
"""
import os
import signal
import threading
import time

import pytest
import requests

from app.ops import invariants
from tests.factories import Factory
from tests.live_server import LiveServer, _running
from tests.payments.fake_gateway import STORE_ID, STORE_PASSWORD
from tests.payments.helpers import (
    PRICE,
    approved_booking,
    assert_money_invariants,
    count,
    hospital,
    tx,
)

pytestmark = pytest.mark.slow

CLAIM_TIMEOUT_SECONDS = 3
IPN = "/api/payments/sslcommerz/ipn"


@pytest.fixture
def server(tmp_path, gateway):
    live = LiveServer(tmp_path, workers=1, env={
        "RAPIDCARE_SSLCOMMERZ_BASE_URL": gateway.base_url,
        "RAPIDCARE_SSLCOMMERZ_STORE_ID": STORE_ID,
        "RAPIDCARE_SSLCOMMERZ_STORE_PASSWORD": STORE_PASSWORD,
        "RAPIDCARE_SSLCOMMERZ_TIMEOUT_SECONDS": "20",
        "RAPIDCARE_IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS": str(CLAIM_TIMEOUT_SECONDS),
    })
    with live:
        yield live


def post(server, path, **kwargs):
    return requests.post(server.url + path, timeout=30, **kwargs)


def wait_for_a_new_worker(server, dead_pid, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if pids and dead_pid not in pids:
            try:
                if requests.get(server.url + "/api/health", timeout=2).status_code == 200:
                    return pids
            except requests.RequestException:
                pass
        time.sleep(0.05)
    raise AssertionError(f"gunicorn started no new worker:\n{server.log_text()}")


def test_a_refund_killed_between_commit_and_answer_is_made_once(server, gateway):
    conn = server.connect()
    try:
        make = Factory(conn)
        patient, admin = make.user(), make.admin()
        booking, due = approved_booking(make, conn, patient, hospital(make))
        paying = post(server, "/api/payments/process",
                      json={"bookingId": booking["id"], "method": "sslcommerz"},
                      headers={**make.auth(patient), "Idempotency-Key": "pay"})
        assert paying.status_code == 201, paying.text
        settled = post(server, IPN, data=gateway.pay(due["transaction_ref"]))
        assert settled.json()["result"] == "completed"

        url = f"/api/payments/{due['id']}/refund"
        body = {"amount": "600.00", "reason": "goodwill"}
        headers = {**make.auth(admin), "Idempotency-Key": "refund-once"}
        gateway.mode["refund"] = "hold"
        outcome = {}

        def first_attempt():
            try:
                outcome["response"] = post(server, url, json=body, headers=headers)
            except requests.RequestException as error:
                outcome["error"] = error

        client = threading.Thread(target=first_attempt)
        client.start()
        assert gateway.arrived("refund"), "the refund never reached the gateway"
        [worker] = server.worker_pids()
        os.kill(worker, signal.SIGKILL)  # the gateway has refunded; the worker never hears it
        deadline = time.monotonic() + 10
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.01)
        del gateway.mode["refund"]
        gateway.release("refund")
        client.join(timeout=30)
        assert "error" in outcome, outcome  # the client got no answer
        wait_for_a_new_worker(server, worker)

        # the window: the refund is committed, its answer is not stored
        [pending] = conn.execute("SELECT * FROM refunds").fetchall()
        assert pending["status"] == "pending"
        claim = conn.execute("SELECT * FROM idempotency_keys WHERE idempotency_key = ?",
                             ("refund-once",)).fetchone()
        assert claim["response_status"] is None
        assert len(gateway.refunds) == 1

        too_soon = post(server, url, json=body, headers=headers)
        assert too_soon.status_code == 409 and too_soon.headers["Retry-After"] == "1"
        time.sleep(CLAIM_TIMEOUT_SECONDS + 0.5)

        retry = post(server, url, json=body, headers=headers)
        assert retry.status_code == 201, retry.text
        assert retry.json()["id"] == pending["id"] and retry.json()["status"] == "processing"
        replay = post(server, url, json=body, headers=headers)
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.json() == retry.json()

        # refunded once: one row, one refund at the gateway, asked for under one reference
        assert count(conn, "refunds") == 1
        assert len(gateway.refunds) == 1
        [(reference, made)] = gateway.refunds.items()
        assert made["amount"] == "600.00"
        assert {call["refe_id"] for call in gateway.calls_to("refund")} == {f"RF{pending['id']}"}
        refunded = conn.execute("SELECT * FROM refunds").fetchone()
        assert refunded["gateway_refund_ref"] == reference
        payment = tx(conn, due["id"])
        assert payment["refunded_minor"] == 60_000 and payment["status"] == "partially_refunded"
        assert payment["amount_minor"] == PRICE
        assert_money_invariants(conn)
        assert invariants.check_all(conn) == []
    finally:
        gateway.release("refund")
        conn.close()
