"""The window between an idempotent request's effect and its stored answer (issue #12).

Each operation under an Idempotency-Key commits its effect (a payment, a
top-up, a refund, an adjustment) and then stores its answer. Here the worker
"dies" in between: the view has returned, nothing after it runs, not even the
release of the claim, exactly as after a SIGKILL (tests/payments/
test_crash_sigkill.py does it with a real SIGKILL under gunicorn). The
client's retry with the same key, once the claim has timed out, must answer
from the committed effect and never repeat it.
"""
from datetime import timedelta

import pytest

from app.db import transaction
from app.payments import idempotency
from app.timeutil import to_iso, utcnow
from tests.payments.helpers import (
    PRICE,
    approved_booking,
    assert_money_invariants,
    balance,
    count,
    fund,
    hospital,
    key_headers,
    tx,
)

IPN = "/api/payments/sslcommerz/ipn"


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing runs after it, no except or finally of ours."""


class Worker:
    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch

    def dies_before_storing(self):
        """From now on an idempotent request dies after its effect, before its answer
        is stored, and leaves its claim behind as a killed worker does."""

        def killed(*args, **kwargs):
            raise WorkerKilled

        self.monkeypatch.setattr(idempotency, "store", killed)
        self.monkeypatch.setattr(idempotency, "release", lambda *args, **kwargs: None)

    def restart(self):
        self.monkeypatch.undo()


@pytest.fixture
def worker(monkeypatch):
    return Worker(monkeypatch)


def time_out_claims(db, seconds=idempotency.CLAIM_TIMEOUT_SECONDS + 1):
    with transaction(db):
        db.execute("UPDATE idempotency_keys SET created_at = ?",
                   (to_iso(utcnow() - timedelta(seconds=seconds)),))


def crash_then_retry(db, worker, request):
    """``request()`` once dying in the window, then again after the claim timed out."""
    worker.dies_before_storing()
    with pytest.raises(WorkerKilled):
        request()
    in_progress = request()
    assert in_progress.status_code == 409 and in_progress.headers["Retry-After"] == "1"
    worker.restart()
    time_out_claims(db)
    retry = request()
    replay = request()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert (replay.status_code, replay.json) == (retry.status_code, retry.json)
    return retry


@pytest.fixture
def patient(make):
    return make.user()


@pytest.fixture
def h(make):
    return hospital(make)


def test_wallet_payment_is_not_repeated_and_the_retry_gets_the_payment(
        client, make, db, patient, h, worker):
    booking, due = approved_booking(make, db, patient, h)
    fund(db, patient, 2 * PRICE)
    headers = key_headers(make, patient, "pay-1")

    def pay():
        return client.post("/api/payments/process",
                           json={"bookingId": booking["id"], "method": "wallet"}, headers=headers)

    retry = crash_then_retry(db, worker, pay)
    # before: 409 "already paid" for the retry the contract invites
    assert retry.status_code == 200, retry.json
    assert (retry.json["id"], retry.json["status"]) == (due["id"], "completed")
    assert balance(db, patient) == PRICE
    assert count(db, "balance_transactions", "type = 'debit'") == 1
    assert_money_invariants(db)


def test_topup_is_not_started_twice(client, make, db, gateway, patient, worker):
    headers = key_headers(make, patient, "topup-1")

    def topup():
        return client.post("/api/wallet/topup", json={"amount": "100.00"}, headers=headers)

    retry = crash_then_retry(db, worker, topup)
    # before: a second top-up transaction and a second gateway session
    assert count(db, "transactions") == 1 and len(gateway.calls_to("session")) == 1
    started = db.execute("SELECT * FROM transactions").fetchone()
    # its page was opened but never handed over: the answer says so and how it ends
    assert retry.status_code == 502 and started["transaction_ref"] in retry.json["message"]
    assert started["status"] == "processing" and balance(db, patient) == 0


def test_gateway_payment_is_not_started_twice(client, make, db, gateway, patient, h,
                                              worker):
    booking, due = approved_booking(make, db, patient, h)
    headers = key_headers(make, patient, "card-1")

    def pay():
        return client.post("/api/payments/process",
                           json={"bookingId": booking["id"], "method": "sslcommerz"},
                           headers=headers)

    retry = crash_then_retry(db, worker, pay)
    assert retry.status_code == 502 and due["transaction_ref"] in retry.json["message"]
    assert len(gateway.calls_to("session")) == 1
    assert tx(db, due["id"])["status"] == "processing"
    # the attempt still completes through the verified path
    assert client.post(IPN, data=gateway.pay(due["transaction_ref"])).json["result"] == "completed"


def _paid_by_wallet(client, make, db, patient, h):
    booking, due = approved_booking(make, db, patient, h)
    fund(db, patient, PRICE)
    r = client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "wallet"},
                    headers=key_headers(make, patient))
    assert r.status_code == 200
    return due["id"]


def _paid_by_gateway(client, make, db, gateway, patient, h):
    booking, due = approved_booking(make, db, patient, h)
    r = client.post("/api/payments/process",
                    json={"bookingId": booking["id"], "method": "sslcommerz"},
                    headers=key_headers(make, patient))
    assert r.status_code == 201
    assert client.post(IPN, data=gateway.pay(due["transaction_ref"])).json["result"] == "completed"
    return due["id"]


def test_wallet_refund_is_not_repeated(client, make, db, patient, h, worker):
    payment_id = _paid_by_wallet(client, make, db, patient, h)
    headers = key_headers(make, make.admin(), "refund-1")

    def refund():
        return client.post(f"/api/payments/{payment_id}/refund",
                           json={"amount": "400.00", "reason": "goodwill"}, headers=headers)

    retry = crash_then_retry(db, worker, refund)
    assert retry.status_code == 201 and retry.json["status"] == "completed"
    assert count(db, "refunds") == 1 and retry.json["id"] == db.execute(
        "SELECT id FROM refunds").fetchone()["id"]
    assert tx(db, payment_id)["refunded_minor"] == 40_000 and balance(db, patient) == 40_000
    assert retry.json["payment"]["refunded"] == "400.00"
    assert_money_invariants(db)


def test_gateway_refund_left_pending_is_sent_again_under_its_own_reference(
        client, make, db, gateway, patient, h, worker):
    payment_id = _paid_by_gateway(client, make, db, gateway, patient, h)
    headers = key_headers(make, make.admin(), "refund-card")
    gateway.mode["refund"] = "500"  # the first run gets no answer: the refund stays pending

    def refund():
        return client.post(f"/api/payments/{payment_id}/refund",
                           json={"amount": "300.00", "reason": "goodwill"}, headers=headers)

    worker.dies_before_storing()
    with pytest.raises(WorkerKilled):
        refund()
    gateway.mode.clear()
    worker.restart()
    time_out_claims(db)
    retry = refund()
    assert retry.status_code == 201 and retry.json["status"] == "processing"
    [row] = db.execute("SELECT * FROM refunds").fetchall()
    sent = gateway.calls_to("refund")
    assert [call["refe_id"] for call in sent] == [f"RF{row['id']}"] * 2
    assert len(gateway.refunds) == 1 and row["gateway_refund_ref"] in gateway.refunds
    assert tx(db, payment_id)["refunded_minor"] == 30_000
    assert_money_invariants(db)


def test_gateway_refund_the_gateway_made_is_not_made_twice(client, make, db, gateway, patient,
                                                          h, worker):
    """The gateway refunded and answered; the worker died before storing that answer."""
    payment_id = _paid_by_gateway(client, make, db, gateway, patient, h)
    headers = key_headers(make, make.admin(), "refund-card-2")

    def refund():
        return client.post(f"/api/payments/{payment_id}/refund",
                           json={"amount": "300.00", "reason": "goodwill"}, headers=headers)

    retry = crash_then_retry(db, worker, refund)
    assert retry.status_code == 201 and retry.json["status"] == "processing"
    assert count(db, "refunds") == 1 and len(gateway.refunds) == 1
    assert len(gateway.calls_to("refund")) == 1  # recorded as 'processing': not sent again
    assert tx(db, payment_id)["refunded_minor"] == 30_000
    assert_money_invariants(db)


def test_admin_adjustment_is_not_repeated(client, make, db, patient, worker):
    headers = key_headers(make, make.admin(), "adjust-1")

    def adjust():
        return client.post(f"/api/admin/wallets/{patient['id']}/adjust",
                           json={"amount": "9000.00", "reason": "goodwill"}, headers=headers)

    retry = crash_then_retry(db, worker, adjust)
    assert retry.status_code == 200 and retry.json["balance"] == "9000.00"
    [entry] = db.execute("SELECT * FROM balance_transactions").fetchall()
    assert retry.json["entry"]["id"] == entry["id"] and retry.json["entry"]["amount"] == "9000.00"
    assert balance(db, patient) == 900_000 and count(db, "admin_audit_log") == 1
    assert_money_invariants(db)


def test_an_error_after_the_effect_keeps_the_key_and_the_retry_answers_at_once(
        app, client, make, db, patient, monkeypatch):
    """A live worker failing after its commit (a 500, or a 503 on a later write) must not
    free the key as if nothing had happened: the retry answers from the effect."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    headers = key_headers(make, make.admin(), "adjust-500")

    def broken_store(*args, **kwargs):
        raise RuntimeError("the answer could not be stored")

    monkeypatch.setattr(idempotency, "store", broken_store)

    def adjust():
        return client.post(f"/api/admin/wallets/{patient['id']}/adjust",
                           json={"amount": "50.00", "reason": "goodwill"}, headers=headers)

    assert adjust().status_code == 500
    claim = db.execute("SELECT * FROM idempotency_keys").fetchone()
    assert claim["released"] == 1 and claim["effect_kind"] == "ledger_entry"
    monkeypatch.undo()
    retry = adjust()  # no timeout to wait for
    assert retry.status_code == 200 and retry.json["balance"] == "50.00"
    assert count(db, "balance_transactions") == 1
    assert adjust().headers["Idempotent-Replayed"] == "true"


def test_a_failure_before_any_effect_still_frees_the_key(client, make, db, patient, monkeypatch,
                                                         app):
    from app.wallet import service

    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash before the commit")

    monkeypatch.setattr(service, "post_credit", boom)
    headers = key_headers(make, make.admin(), "adjust-early")
    body = {"amount": "50.00", "reason": "goodwill"}
    url = f"/api/admin/wallets/{patient['id']}/adjust"
    assert client.post(url, json=body, headers=headers).status_code == 500
    assert count(db, "idempotency_keys") == 0 and count(db, "balance_transactions") == 0
    monkeypatch.undo()
    assert client.post(url, json=body, headers=headers).status_code == 200


def test_a_claim_with_no_effect_is_still_taken_over_and_run(client, make, db, patient, h,
                                                            worker):
    """A worker killed before its effect committed: the retry runs the operation."""
    booking, _ = approved_booking(make, db, patient, h)
    body = {"bookingId": booking["id"], "method": "wallet"}
    idempotency.claim(db, user_id=patient["id"], endpoint="payments.ProcessPayment", key="early",
                      request_fingerprint=idempotency.fingerprint(body, {}), now=utcnow(),
                      ttl_hours=24)
    time_out_claims(db)
    fund(db, patient, PRICE)
    r = client.post("/api/payments/process", json=body,
                    headers=key_headers(make, patient, "early"))
    assert r.status_code == 200 and balance(db, patient) == 0


def test_the_claim_timeout_is_configurable(app, client, make, db, patient):
    app.config["IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS"] = 3600
    body = {"amount": "5.00", "reason": "goodwill"}
    admin = make.admin()
    idempotency.claim(db, user_id=admin["id"], endpoint="wallet.WalletAdjust", key="slow",
                      request_fingerprint=idempotency.fingerprint(body, {"user_id": patient["id"]}),
                      now=utcnow(), ttl_hours=24)
    time_out_claims(db, seconds=idempotency.CLAIM_TIMEOUT_SECONDS + 1)  # past the default
    url = f"/api/admin/wallets/{patient['id']}/adjust"
    r = client.post(url, json=body, headers=key_headers(make, admin, "slow"))
    assert r.status_code == 409 and "in progress" in r.json["message"]
    app.config["IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS"] = 60
    assert client.post(url, json=body, headers=key_headers(make, admin, "slow")).status_code == 200


@pytest.mark.parametrize("value", [0, -1, "soon", True, None])
def test_a_bad_claim_timeout_refuses_to_start(tmp_path, value):
    from app import create_app
    from app.config import TEST_OVERRIDES, ConfigError

    with pytest.raises(ConfigError, match="IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS"):
        create_app({**TEST_OVERRIDES, "DATABASE": str(tmp_path / "x.sqlite3"),
                    "IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS": value})


def test_effects_are_linked_in_the_effects_own_transaction(db, make, patient):
    """recorded_effect/record_effect refuse to run outside a transaction, and a link that
    cannot be written (the claim is gone) rolls the effect back with it."""
    from app.errors import Conflict

    claim_id = idempotency.claim(db, user_id=patient["id"], endpoint="e", key="k",
                                 request_fingerprint="f", now=utcnow(), ttl_hours=24)[1]
    with pytest.raises(RuntimeError):
        idempotency.recorded_effect(db, claim_id, "refund")
    with pytest.raises(RuntimeError):
        idempotency.record_effect(db, claim_id, "refund", 1)
    with transaction(db):
        db.execute("DELETE FROM idempotency_keys")
    with pytest.raises(Conflict):
        with transaction(db):
            fund_row = db.execute(
                "INSERT INTO user_balance (user_id, balance_minor, currency, updated_at) "
                "VALUES (?, 0, 'BDT', ?) RETURNING user_id", (patient["id"], to_iso(utcnow())),
            ).fetchone()
            idempotency.record_effect(db, claim_id, "ledger_entry", fund_row["user_id"])
    assert count(db, "user_balance") == 0
