"""Idempotency-Key on process, top-up and refund."""
import threading
from datetime import timedelta

import pytest
from freezegun import freeze_time

from app.db import transaction
from app.payments import idempotency
from app.timeutil import to_iso, utcnow
from tests.payments.helpers import (
    PRICE,
    approved_booking,
    balance,
    count,
    fund,
    hospital,
    key_headers,
)

URL = "/api/payments/process"


@pytest.fixture
def patient(make):
    return make.user()


@pytest.fixture
def booking(make, db, patient):
    return approved_booking(make, db, patient, hospital(make))[0]


def process(client, make, user, booking_id, key, method="wallet"):
    return client.post(URL, json={"bookingId": booking_id, "method": method},
                       headers=key_headers(make, user, key))


def test_replay_returns_the_first_response_with_no_second_effect(client, make, db, patient,
                                                                 booking):
    fund(db, patient, 3 * PRICE)
    first = process(client, make, patient, booking["id"], "key-1")
    again = process(client, make, patient, booking["id"], "key-1")
    assert first.status_code == again.status_code == 200
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert balance(db, patient) == 2 * PRICE
    assert count(db, "balance_transactions", "type = 'debit'") == 1


def test_a_refusal_is_replayed_too(client, make, db, patient, booking):
    first = process(client, make, patient, booking["id"], "key-402")
    assert first.status_code == 402
    fund(db, patient, PRICE)
    again = process(client, make, patient, booking["id"], "key-402")
    assert again.status_code == 402 and again.json == first.json
    assert balance(db, patient) == PRICE
    # a new key is a new attempt
    assert process(client, make, patient, booking["id"], "key-402-b").status_code == 200


def test_same_key_with_another_body_is_409(client, make, db, patient, booking):
    fund(db, patient, 3 * PRICE)
    assert process(client, make, patient, booking["id"], "key-2").status_code == 200
    other = process(client, make, patient, booking["id"], "key-2", method="sslcommerz")
    assert other.status_code == 409 and "different request" in other.json["message"]


def test_same_key_for_another_payment_path_is_409(client, make, db, patient, booking):
    admin = make.admin()
    fund(db, patient, PRICE)
    process(client, make, patient, booking["id"], "pk")
    payment_id = db.execute("SELECT id FROM transactions").fetchone()["id"]
    body = {"amount": "10.00", "reason": "goodwill"}
    headers = key_headers(make, admin, "refund-key")
    assert client.post(f"/api/payments/{payment_id}/refund", json=body,
                       headers=headers).status_code == 201
    r = client.post(f"/api/payments/{payment_id + 1}/refund", json=body, headers=headers)
    assert r.status_code == 409
    assert count(db, "refunds") == 1


def test_keys_are_scoped_per_user(client, make, db, patient, booking):
    other = make.user()
    other_booking = approved_booking(make, db, other, hospital(make))[0]
    fund(db, patient, PRICE)
    fund(db, other, PRICE)
    assert process(client, make, patient, booking["id"], "shared-key").status_code == 200
    r = process(client, make, other, other_booking["id"], "shared-key")
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    assert balance(db, patient) == balance(db, other) == 0


def test_keys_are_scoped_per_endpoint(client, make, db, gateway, patient, booking):
    fund(db, patient, PRICE)
    assert process(client, make, patient, booking["id"], "one-key").status_code == 200
    r = client.post("/api/wallet/topup", json={"amount": "100.00"},
                    headers=key_headers(make, patient, "one-key"))
    assert r.status_code == 201 and r.json["kind"] == "wallet_topup"


def test_canonical_body_ignores_key_order_and_whitespace(client, make, db, patient, booking):
    fund(db, patient, 2 * PRICE)
    headers = {**key_headers(make, patient, "canon"), "Content-Type": "application/json"}
    a = client.post(URL, data=f'{{"bookingId": {booking["id"]}, "method": "wallet"}}',
                    headers=headers)
    b = client.post(URL, data=f'{{ "method":"wallet",\n "bookingId":{booking["id"]} }}',
                    headers=headers)
    assert a.status_code == 200 and b.status_code == 200
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert balance(db, patient) == PRICE


def test_expired_keys_are_forgotten(client, make, db, patient, booking):
    fund(db, patient, 2 * PRICE)
    with freeze_time(utcnow()) as frozen:
        first = process(client, make, patient, booking["id"], "old-key")
        assert first.status_code == 200
        frozen.tick(timedelta(hours=24, seconds=1))
        # the key is free again: the request runs (and is refused: already paid)
        again = process(client, make, patient, booking["id"], "old-key")
    assert again.status_code == 409 and "already paid" in again.json["message"]
    assert balance(db, patient) == PRICE


def test_a_key_in_progress_is_409_with_retry_after(client, make, db, patient, booking):
    fund(db, patient, PRICE)
    body = {"bookingId": booking["id"], "method": "wallet"}
    idempotency.claim(
        db, user_id=patient["id"], endpoint="payments.ProcessPayment", key="busy",
        request_fingerprint=idempotency.fingerprint(body, {}), now=utcnow(), ttl_hours=24,
    )
    r = process(client, make, patient, booking["id"], "busy")
    assert r.status_code == 409 and r.headers["Retry-After"] == "1"
    assert "in progress" in r.json["message"] and balance(db, patient) == PRICE


def test_a_claim_left_by_a_dead_worker_is_taken_over(client, make, db, patient, booking):
    fund(db, patient, PRICE)
    body = {"bookingId": booking["id"], "method": "wallet"}
    long_ago = utcnow() - timedelta(seconds=idempotency.CLAIM_TIMEOUT_SECONDS + 1)
    idempotency.claim(
        db, user_id=patient["id"], endpoint="payments.ProcessPayment", key="orphan",
        request_fingerprint=idempotency.fingerprint(body, {}), now=long_ago, ttl_hours=24,
    )
    r = process(client, make, patient, booking["id"], "orphan")
    assert r.status_code == 200 and balance(db, patient) == 0


def test_a_crash_releases_the_key(app, client, make, db, patient, booking, monkeypatch):
    from app.payments import service

    fund(db, patient, PRICE)

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(service, "pay_from_wallet", boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert process(client, make, patient, booking["id"], "crash").status_code == 500
    assert count(db, "idempotency_keys") == 0
    monkeypatch.undo()
    assert process(client, make, patient, booking["id"], "crash").status_code == 200


def test_purge_job_deletes_only_expired_keys(db, make, patient):
    from app.payments.jobs import purge_idempotency_keys

    now = utcnow()
    for key, hours_ago in (("fresh", 1), ("stale", 30)):
        idempotency.claim(db, user_id=patient["id"], endpoint="e", key=key,
                          request_fingerprint="f", now=now - timedelta(hours=hours_ago),
                          ttl_hours=24)
    summary = purge_idempotency_keys(db, now=now, config={})
    assert summary == "deleted 1 expired idempotency key(s)"
    keys = [r["idempotency_key"]
            for r in db.execute("SELECT idempotency_key FROM idempotency_keys")]
    assert keys == ["fresh"]


def test_concurrent_claims_in_threads_let_exactly_one_run(app, db, make, patient):
    """Several connections race for one key: the claim's transaction picks one winner
    (SQLite: BEGIN IMMEDIATE; PostgreSQL: SERIALIZABLE, the losers' conflict retried as
    app/db/retry.py retries a request, after which they find the winner's claim)."""
    from app.db import connect_from_config, postgres

    outcomes, barrier = [], threading.Barrier(8)

    def claim(conn):
        while True:
            try:
                return idempotency.claim(conn, user_id=patient["id"], endpoint="e", key="race",
                                         request_fingerprint="f", now=utcnow(), ttl_hours=24)
            except Exception as error:
                if not postgres.is_retryable(error):
                    raise

    def race():
        conn = connect_from_config(app.config)
        barrier.wait()
        try:
            outcomes.append(claim(conn)[0])
        except Exception as error:  # noqa: BLE001 - the losers' 409 is the point
            outcomes.append(type(error).__name__)
        finally:
            conn.close()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("run") == 1 and outcomes.count("Conflict") == 7
    assert count(db, "idempotency_keys") == 1


def test_the_stored_row_has_status_body_and_expiry(client, make, db, patient, booking):
    fund(db, patient, PRICE)
    with freeze_time(utcnow()):
        process(client, make, patient, booking["id"], "inspect")
        row = db.execute("SELECT * FROM idempotency_keys").fetchone()
        assert row["response_status"] == 200 and '"completed"' in row["response_body"]
        assert row["expires_at"] == to_iso(utcnow() + timedelta(hours=24))
        assert len(row["request_fingerprint"]) == 64


def test_unused_claim_insert_happens_in_its_own_transaction(db, make, patient):
    # the claim commits before the work starts: another connection can see it
    idempotency.claim(db, user_id=patient["id"], endpoint="e", key="k", request_fingerprint="f",
                      now=utcnow(), ttl_hours=24)
    assert not db.in_transaction
    with transaction(db):
        assert count(db, "idempotency_keys") == 1
