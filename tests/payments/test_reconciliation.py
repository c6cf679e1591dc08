"""Reconciliation: the job, the checks (each provoked), the gateway follow-up, the endpoints."""
import json
from datetime import timedelta

import pytest

from app.db import pick, transaction
from app.ops import invariants
from app.reconciliation.jobs import reconcile_daily
from app.timeutil import local_date, utcnow
from app.wallet.ledger import post_debit
from tests import pg
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


@pytest.fixture
def patient(make):
    return make.user()


@pytest.fixture
def h(make):
    return hospital(make)


@pytest.fixture
def admin(make):
    return make.admin()


@pytest.fixture
def stale_now(app):
    """Everything processing counts as stale for this test."""
    app.config["PAYMENT_STALE_MINUTES"] = 0


def run(client, make, admin, body=None):
    r = client.post("/api/reconciliation/daily/trigger", json=body or {}, headers=make.auth(admin))
    assert r.status_code == 201, r.json
    return r.json


def open_findings(db):
    return sorted((d["kind"], d["entity_type"], d["entity_id"]) for d in db.execute(
        "SELECT * FROM reconciliation_discrepancies WHERE status = 'open'"))


def wallet_payment(client, make, db, patient, h, days=2):
    booking, due = approved_booking(make, db, patient, h, days=days)
    fund(db, patient, PRICE)
    r = client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "wallet"},
                    headers=key_headers(make, patient))
    assert r.status_code == 200
    return tx(db, due["id"])


def gateway_attempt(client, make, db, patient, h, days=2):
    booking, due = approved_booking(make, db, patient, h, days=days)
    r = client.post("/api/payments/process",
                    json={"bookingId": booking["id"], "method": "sslcommerz"},
                    headers=key_headers(make, patient))
    assert r.status_code == 201
    return tx(db, due["id"])


# -- a clean world ------------------------------------------------------------------------


def test_a_consistent_ledger_reconciles_clean(client, make, db, gateway, patient, h, admin):
    paid = wallet_payment(client, make, db, patient, h)
    client.post(f"/api/payments/{paid['id']}/refund", json={"amount": "123.45", "reason": "x"},
                headers=key_headers(make, admin))
    attempt = gateway_attempt(client, make, db, patient, h, days=4)
    client.post(IPN, data=gateway.pay(attempt["transaction_ref"]))
    result = run(client, make, admin)
    assert result["status"] == "completed" and result["triggeredBy"] == admin["id"]
    summary = result["summary"]
    assert summary["discrepancies"] == {"found": 0, "new": 0, "kinds": {}}
    assert summary["checked"] == {"wallets": 1, "transactions": 2}
    assert summary["day"]["payments"] == 2 and summary["day"]["paymentsAmount"] == "3000.00"
    assert summary["day"]["refundsAmount"] == "123.45"
    assert open_findings(db) == []


def test_the_job_reconciles_yesterday_and_returns_a_line(app, db):
    now = utcnow()
    line = reconcile_daily(db, now=now, config=app.config)
    yesterday = local_date(now - timedelta(days=1), app.config["TIMEZONE"]).isoformat()
    assert line.startswith(f"reconciled {yesterday}:") and "0 discrepancies" in line
    run_row = db.execute("SELECT * FROM reconciliation_runs").fetchone()
    assert run_row["run_date"] == yesterday and run_row["triggered_by"] is None
    assert run_row["status"] == "completed"


# -- each check, provoked ------------------------------------------------------------------


def test_a_balance_that_left_its_ledger_is_found_and_never_edited(client, make, db, patient, h,
                                                                  admin):
    fund(db, patient, 10_000)
    with transaction(db):  # a bug, or a hand edit, moves the balance without a ledger row
        db.execute("UPDATE user_balance SET balance_minor = 99999 WHERE user_id = ?",
                   (patient["id"],))
    summary = run(client, make, admin)["summary"]
    assert summary["discrepancies"]["kinds"] == {"wallet_balance_mismatch": 1}
    found = db.execute("SELECT * FROM reconciliation_discrepancies").fetchone()
    assert found["severity"] == "critical" and found["entity_id"] == patient["id"]
    assert json.loads(found["details"]) == {"balance": "999.99", "ledgerSum": "100.00",
                                            "lastBalanceAfter": "100.00"}
    assert balance(db, patient) == 99_999  # reported, not "fixed"


def test_a_broken_ledger_chain_is_found(client, make, db, patient, admin):
    fund(db, patient, 10_000)
    with transaction(db):  # as if restored from a damaged copy: the guard trigger is gone
        db.execute(pick(db, pg.drop_trigger("balance_transactions_before_insert_chain", "balance_transactions")))
        db.execute(
            "INSERT INTO balance_transactions (user_id, type, amount_minor, balance_before_minor,"
            " balance_after_minor, description, created_at) VALUES (?, 'credit', 500, 20000,"
            " 20500, 'forged', 'now')", (patient["id"],))
    kinds = run(client, make, admin)["summary"]["discrepancies"]["kinds"]
    assert kinds == {"ledger_chain_broken": 1, "wallet_balance_mismatch": 1}


def test_money_moved_on_an_unpaid_payment_is_found(client, make, db, patient, h, admin):
    _, due = approved_booking(make, db, patient, h)
    fund(db, patient, PRICE)
    with transaction(db):
        post_debit(db, user_id=patient["id"], amount_minor=PRICE, description="stray",
                   created_by=None, now=utcnow(), transaction_id=due["id"])
    assert open_findings(db) == []
    run(client, make, admin)
    assert open_findings(db) == [("ledger_mismatch", "transaction", due["id"])]


def test_earnings_that_do_not_net_to_the_payment_are_found(client, make, db, patient, h, admin):
    paid = wallet_payment(client, make, db, patient, h)
    with transaction(db):
        db.execute("INSERT INTO hospital_earnings (hospital_id, transaction_id, share_minor, "
                   "fee_minor, description, created_at) VALUES (?, ?, -100, 0, 'stray', 'now')",
                   (h["id"], paid["id"]))
    run(client, make, admin)
    assert open_findings(db) == [("earnings_mismatch", "transaction", paid["id"])]


def test_refunded_total_out_of_step_with_refund_rows_is_found(client, make, db, patient, h, admin):
    paid = wallet_payment(client, make, db, patient, h)
    with transaction(db):
        db.execute("UPDATE transactions SET refunded_minor = 100 WHERE id = ?", (paid["id"],))
    kinds = run(client, make, admin)["summary"]["discrepancies"]["kinds"]
    assert kinds == {"earnings_mismatch": 1, "refund_total_mismatch": 1}


def test_one_bank_transaction_on_two_payments_is_found(client, make, db, gateway, patient, h,
                                                      admin):
    first = gateway_attempt(client, make, db, patient, h)
    second = gateway_attempt(client, make, db, patient, h, days=5)
    for attempt in (first, second):
        client.post(IPN, data=gateway.pay(attempt["transaction_ref"]))
    with transaction(db):
        db.execute("UPDATE transactions SET gateway_bank_tran_id = 'SAME' WHERE id IN (?, ?)",
                   (first["id"], second["id"]))
    run(client, make, admin)
    assert open_findings(db) == [("duplicate_gateway_payment", "transaction", first["id"])]


def test_money_taken_on_a_failed_attempt_is_found(client, make, db, gateway, patient, h, admin):
    attempt = gateway_attempt(client, make, db, patient, h)
    client.post(IPN, data=gateway.fail(attempt["transaction_ref"]))
    client.post(IPN, data=gateway.pay(attempt["transaction_ref"]))
    run(client, make, admin)
    found = db.execute("SELECT * FROM reconciliation_discrepancies").fetchone()
    assert (found["kind"], found["severity"], found["entity_id"]) == (
        "paid_after_failure", "high", attempt["id"])


# -- the gateway follow-up ------------------------------------------------------------------


def test_stuck_payment_that_was_paid_is_settled_through_the_validation_api(
        client, make, db, gateway, patient, h, admin, stale_now):
    attempt = gateway_attempt(client, make, db, patient, h)
    gateway.pay(attempt["transaction_ref"])  # the IPN was lost
    summary = run(client, make, admin)["summary"]
    assert summary["gateway"] == {"processing_completed": 1}
    settled = tx(db, attempt["id"])
    assert settled["status"] == "completed" and settled["platform_fee_minor"] == 7_500
    assert len(gateway.calls_to("validate")) == 1
    assert open_findings(db) == []
    assert_money_invariants(db)


def test_stuck_topup_is_credited_once(client, make, db, gateway, patient, admin, stale_now):
    r = client.post("/api/wallet/topup", json={"amount": "700.00"},
                    headers=key_headers(make, patient))
    form = gateway.pay(r.json["transactionRef"])
    run(client, make, admin)
    client.post(IPN, data=form)  # the IPN arrives late after all
    run(client, make, admin)
    assert balance(db, patient) == 70_000
    assert count(db, "balance_transactions", "type = 'credit'") == 1


def test_stuck_payment_the_gateway_never_saw_is_failed(client, make, db, gateway, patient, h,
                                                      admin, stale_now):
    attempt = gateway_attempt(client, make, db, patient, h)
    summary = run(client, make, admin)["summary"]
    assert summary["gateway"] == {"processing_failed": 1}
    assert tx(db, attempt["id"])["status"] == "failed" and open_findings(db) == []


def test_stuck_payment_with_the_gateway_down_is_a_discrepancy(client, make, db, gateway, patient,
                                                             h, admin, stale_now):
    attempt = gateway_attempt(client, make, db, patient, h)
    gateway.mode["query"] = "500"
    run(client, make, admin)
    assert open_findings(db) == [("stuck_processing", "transaction", attempt["id"])]
    assert tx(db, attempt["id"])["status"] == "processing"


def test_fresh_processing_payments_are_left_alone(client, make, db, gateway, patient, h, admin):
    attempt = gateway_attempt(client, make, db, patient, h)
    run(client, make, admin)
    assert gateway.calls_to("query") == [] and tx(db, attempt["id"])["status"] == "processing"


def test_gateway_record_that_disagrees_is_critical(client, make, db, gateway, patient, h, admin,
                                                   stale_now):
    attempt = gateway_attempt(client, make, db, patient, h)
    gateway.pay(attempt["transaction_ref"], amount="15.00")
    run(client, make, admin)
    found = db.execute("SELECT * FROM reconciliation_discrepancies").fetchone()
    assert (found["kind"], found["severity"]) == ("gateway_mismatch", "critical")
    assert tx(db, attempt["id"])["status"] == "processing"


def gateway_refund(client, make, db, gateway, patient, h, admin):
    attempt = gateway_attempt(client, make, db, patient, h)
    client.post(IPN, data=gateway.pay(attempt["transaction_ref"]))
    r = client.post(f"/api/payments/{attempt['id']}/refund",
                    json={"amount": "200.00", "reason": "x"}, headers=key_headers(make, admin))
    return r.json


@pytest.mark.parametrize("gateway_says, ours", [("refunded", "completed"), ("cancelled", "failed"),
                                                ("processing", "processing")])
def test_accepted_gateway_refunds_are_confirmed(client, make, db, gateway, patient, h, admin,
                                                stale_now, gateway_says, ours):
    refund = gateway_refund(client, make, db, gateway, patient, h, admin)
    gateway.refunds[refund["gatewayRefundRef"]]["status"] = gateway_says
    run(client, make, admin)
    row = db.execute("SELECT * FROM refunds").fetchone()
    assert row["status"] == ours
    expected = [("gateway_refund_failed", "refund", row["id"])] if ours == "failed" else []
    assert open_findings(db) == expected
    # a refused refund is still owed, not a broken ledger: the invariants agree
    assert invariants.check_all(db) == []


def test_unconfirmed_gateway_refund_is_reported_not_resent(client, make, db, gateway, patient, h,
                                                           admin, stale_now):
    gateway.mode["refund"] = "slow"
    refund = gateway_refund(client, make, db, gateway, patient, h, admin)
    assert refund["status"] == "pending"
    gateway.mode.clear()
    run(client, make, admin)
    assert open_findings(db) == [("gateway_refund_unconfirmed", "refund", refund["id"])]
    assert len(gateway.calls_to("refund")) == 1


# -- re-runs, resolving, the endpoints --------------------------------------------------------


def test_running_twice_gives_the_same_open_discrepancies(client, make, db, patient, admin):
    fund(db, patient, 1_000)
    with transaction(db):
        db.execute("UPDATE user_balance SET balance_minor = 1 WHERE user_id = ?", (patient["id"],))
    first = run(client, make, admin)["summary"]["discrepancies"]
    second = run(client, make, admin)["summary"]["discrepancies"]
    assert (first["found"], first["new"]) == (1, 1)
    assert (second["found"], second["new"]) == (1, 0)
    assert count(db, "reconciliation_discrepancies") == 1
    assert count(db, "reconciliation_runs") == 2


def test_resolve_then_a_recurring_finding_opens_again(client, make, db, patient, admin):
    fund(db, patient, 1_000)
    with transaction(db):
        db.execute("UPDATE user_balance SET balance_minor = 1 WHERE user_id = ?", (patient["id"],))
    run(client, make, admin)
    found = client.get("/api/reconciliation/discrepancies", headers=make.auth(admin)).json[0]
    assert found["kind"] == "wallet_balance_mismatch" and found["details"]["balance"] == "0.01"
    r = client.put(f"/api/reconciliation/discrepancies/{found['id']}/resolve",
                   json={"notes": "investigated"}, headers=make.auth(admin))
    assert r.status_code == 200 and r.json["status"] == "resolved"
    assert r.json["resolvedBy"] == admin["id"] and r.json["resolutionNotes"] == "investigated"
    again = client.put(f"/api/reconciliation/discrepancies/{found['id']}/resolve",
                       json={"notes": "twice"}, headers=make.auth(admin))
    assert again.status_code == 409
    run(client, make, admin)  # still wrong: a new open finding
    assert count(db, "reconciliation_discrepancies", "status = 'open'") == 1
    listed = client.get("/api/reconciliation/discrepancies?status=all", headers=make.auth(admin))
    assert len(listed.json) == 2
    resolved = client.get("/api/reconciliation/discrepancies?status=resolved&severity=critical",
                          headers=make.auth(admin))
    assert [d["id"] for d in resolved.json] == [found["id"]]


def test_resolving_an_unknown_discrepancy_is_404(client, make, admin):
    r = client.put("/api/reconciliation/discrepancies/4242/resolve", json={"notes": "x"},
                   headers=make.auth(admin))
    assert r.status_code == 404


@pytest.mark.parametrize("body, field", [({}, "notes"), ({"notes": ""}, "notes"),
                                         ({"notes": "x" * 2001}, "notes"),
                                         ({"notes": "x", "status": "open"}, "status")])
def test_resolve_bad_bodies_are_422(client, make, admin, body, field):
    r = client.put("/api/reconciliation/discrepancies/1/resolve", json=body,
                   headers=make.auth(admin))
    assert r.status_code == 422 and field in r.json["errors"]["json"]


def test_history_lists_runs_newest_first(client, make, admin):
    run(client, make, admin, {"date": "2024-02-29"})
    run(client, make, admin)
    r = client.get("/api/reconciliation/history?page_size=1", headers=make.auth(admin))
    assert r.status_code == 200 and len(r.json) == 1
    assert json.loads(r.headers["X-Pagination"])["total"] == 2
    older = client.get("/api/reconciliation/history?page=2&page_size=1", headers=make.auth(admin))
    assert older.json[0]["runDate"] == "2024-02-29"


@pytest.mark.parametrize("body", [{"date": "2999-01-01"}, {"date": "yesterday"},
                                  {"date": "2024-02-30"}, {"date": 20240101}, {"day": "2024-01-01"},
                                  {"date": "1999-12-31"}])
def test_trigger_bad_dates_are_422(client, make, db, admin, body):
    r = client.post("/api/reconciliation/daily/trigger", json=body, headers=make.auth(admin))
    assert r.status_code == 422
    assert count(db, "reconciliation_runs") == 0


@pytest.mark.parametrize("method, path", [
    ("get", "/api/reconciliation/history"),
    ("get", "/api/reconciliation/discrepancies"),
    ("post", "/api/reconciliation/daily/trigger"),
    ("put", "/api/reconciliation/discrepancies/1/resolve"),
])
@pytest.mark.parametrize("who, code", [("anonymous", 401), ("patient", 403), ("authority", 403)])
def test_reconciliation_is_admin_only(client, make, db, method, path, who, code):
    headers = {} if who == "anonymous" else make.auth(
        make.user() if who == "patient" else make.authority(make.hospital()))
    kwargs = {"json": {"notes": "x"}} if method == "put" else (
        {"json": {}} if method == "post" else {})
    r = getattr(client, method)(path, headers=headers, **kwargs)
    assert r.status_code == code
    assert count(db, "reconciliation_runs") == 0


def test_a_failing_run_is_recorded_as_failed(app, db, monkeypatch):
    from app.reconciliation import service

    def broken(conn):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "check_wallets", broken)
    with pytest.raises(RuntimeError):
        reconcile_daily(db, now=utcnow(), config=app.config)
    row = db.execute("SELECT * FROM reconciliation_runs").fetchone()
    assert row["status"] == "failed" and json.loads(row["summary"]) == {"error": "RuntimeError"}
