"""POST /api/payments/sslcommerz/ipn: only a verified, validated, matching IPN moves money."""
import pytest

from tests.payments.fake_gateway import STORE_ID, sign
from tests.payments.helpers import (
    approved_booking,
    assert_money_invariants,
    balance,
    count,
    hospital,
    key_headers,
    tx,
)

IPN = "/api/payments/sslcommerz/ipn"


@pytest.fixture
def patient(make):
    return make.user()


@pytest.fixture
def attempt(client, make, db, patient):
    """An approved booking whose SSLCommerz payment is processing."""
    h = hospital(make)
    booking, due = approved_booking(make, db, patient, h)
    r = client.post("/api/payments/process", json={"bookingId": booking["id"],
                                                    "method": "sslcommerz"},
                    headers=key_headers(make, patient))
    assert r.status_code == 201
    return {"hospital": h, "booking": booking, "tx": due, "ref": due["transaction_ref"]}


def test_verified_ipn_completes_the_payment_with_its_split(client, db, gateway, attempt):
    form = gateway.pay(attempt["ref"])
    r = client.post(IPN, data=form)
    assert r.status_code == 200 and r.json == {"result": "completed",
                                               "transactionStatus": "completed"}
    paid = tx(db, attempt["tx"]["id"])
    assert paid["status"] == "completed" and paid["method"] == "sslcommerz"
    assert (paid["platform_fee_minor"], paid["hospital_share_minor"]) == (7_500, 142_500)
    assert paid["gateway_val_id"] == form["val_id"]
    assert paid["gateway_bank_tran_id"] == form["bank_tran_id"]
    assert gateway.calls_to("validate")[0]["val_id"] == form["val_id"]
    earnings = db.execute("SELECT * FROM hospital_earnings").fetchall()
    assert [(e["share_minor"], e["fee_minor"]) for e in earnings] == [(142_500, 7_500)]
    assert count(db, "balance_transactions") == 0  # a card payment never touches the wallet
    assert_money_invariants(db)


def test_duplicate_ipns_have_one_effect(client, db, gateway, attempt):
    form = gateway.pay(attempt["ref"])
    results = [client.post(IPN, data=form).json["result"] for _ in range(3)]
    assert results == ["completed", "duplicate", "duplicate"]
    assert count(db, "hospital_earnings") == 1
    assert tx(db, attempt["tx"]["id"])["status"] == "completed"


def test_tampered_signature_is_400_and_nothing_changes(client, db, gateway, attempt):
    form = {**gateway.pay(attempt["ref"]), "amount": "1.00"}
    r = client.post(IPN, data=form)
    assert r.status_code == 400 and "signature" in r.json["message"]
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"
    assert gateway.calls_to("validate") == []  # not even asked


def test_forged_ipn_signed_with_a_guessed_password_is_400(client, db, gateway, attempt):
    genuine = gateway.pay(attempt["ref"])
    fields = {k: v for k, v in genuine.items() if k not in ("verify_sign", "verify_key")}
    r = client.post(IPN, data=sign(fields, "guessed-password"))
    assert r.status_code == 400
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"


@pytest.mark.parametrize("override", [{"amount": "1.00"}, {"amount": "1500.01"},
                                      {"currency": "USD"}])
def test_gateway_record_that_disagrees_with_ours_is_409(client, db, gateway, attempt, override):
    # The gateway itself says a different amount/currency was paid (a tampered session):
    # the IPN is genuinely signed, the validation API agrees with it, but not with us.
    form = gateway.pay(attempt["ref"], **override)
    r = client.post(IPN, data=form)
    assert r.status_code == 409
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"
    assert count(db, "hospital_earnings") == 0


@pytest.mark.parametrize("ipn", [{"amount": "1.00"}, {"amount": "1500.01"}, {"amount": "lots"},
                                 {"amount": "1e999999999"}, {"currency": "USD"},
                                 {"currency": "bdt"}])
def test_ipn_whose_own_signed_figures_disagree_with_ours_is_409(client, db, gateway, attempt,
                                                                  ipn):
    # Paid as asked (the validation API agrees with us), but the signed IPN itself
    # names another amount or currency: nothing is settled on such a notification.
    form = gateway.pay(attempt["ref"], ipn=ipn)
    r = client.post(IPN, data=form)
    assert r.status_code == 409 and next(iter(ipn)) in r.json["message"]
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"
    assert count(db, "hospital_earnings") == 0
    assert gateway.calls_to("validate") == []
    # the genuine notification still settles it
    genuine = {k: v for k, v in form.items() if k not in ("verify_sign", "verify_key")}
    record = gateway.payments[form["val_id"]]
    genuine.update(amount=record["amount"], currency=record["currency"])
    assert client.post(IPN, data=sign(genuine)).json["result"] == "completed"


def test_ipn_amount_without_decimals_is_the_same_amount(client, db, gateway, attempt):
    r = client.post(IPN, data=gateway.pay(attempt["ref"], ipn={"amount": "1500"}))
    assert r.status_code == 200 and r.json["result"] == "completed"


def test_failure_ipn_for_another_amount_changes_nothing(client, db, gateway, attempt):
    r = client.post(IPN, data=gateway.fail(attempt["ref"], ipn={"amount": "1.00"}))
    assert r.status_code == 409
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"


@pytest.mark.parametrize("status", ["valid", "Valid", "validated"])
def test_a_lower_case_paid_status_must_sign_val_id_too(client, db, gateway, attempt, status):
    # Before: a lower-case "valid" skipped the rule that a paid IPN signs its val_id,
    # yet was then treated as VALID, with an unsigned val_id sent to the validation API.
    form = gateway.pay(attempt["ref"])
    fields = {k: v for k, v in form.items()
              if k not in ("verify_sign", "verify_key", "val_id")}
    forged = {**sign({**fields, "status": status}), "val_id": form["val_id"]}
    r = client.post(IPN, data=forged)
    assert r.status_code == 400 and "signature" in r.json["message"]
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"
    assert gateway.calls_to("validate") == []


def test_a_lower_case_paid_status_with_val_id_signed_settles(client, db, gateway, attempt):
    form = gateway.pay(attempt["ref"])
    fields = {k: v for k, v in form.items() if k not in ("verify_sign", "verify_key")}
    r = client.post(IPN, data=sign({**fields, "status": "valid"}))
    assert r.status_code == 200 and r.json["result"] == "completed"
    assert tx(db, attempt["tx"]["id"])["status"] == "completed"


def test_unknown_tran_id_is_404(client, db, gateway, attempt):
    form = gateway.pay(attempt["ref"])
    fields = {k: v for k, v in form.items() if k not in ("verify_sign", "verify_key")}
    r = client.post(IPN, data=sign({**fields, "tran_id": "NOT-OURS"}))
    assert r.status_code == 404
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"


def test_validation_record_for_another_transaction_is_409(client, make, db, gateway, patient,
                                                          attempt):
    other_booking, other_due = approved_booking(make, db, patient, attempt["hospital"], days=5)
    client.post("/api/payments/process", json={"bookingId": other_booking["id"],
                                                "method": "sslcommerz"},
                headers=key_headers(make, patient))
    paid_other = gateway.pay(other_due["transaction_ref"])
    # a genuine val_id from another payment, replayed under our tran_id
    fields = {k: v for k, v in paid_other.items() if k not in ("verify_sign", "verify_key")}
    r = client.post(IPN, data=sign({**fields, "tran_id": attempt["ref"]}))
    assert r.status_code == 409
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"


def test_val_id_the_gateway_does_not_know_is_409(client, db, gateway, attempt):
    form = gateway.pay(attempt["ref"])
    fields = {k: v for k, v in form.items() if k not in ("verify_sign", "verify_key")}
    r = client.post(IPN, data=sign({**fields, "val_id": "VAL-FORGED"}))
    assert r.status_code == 409 and "status" in r.json["message"]
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"


@pytest.mark.parametrize("mode", ["slow", "500"])
def test_validation_api_down_is_502_then_the_resent_ipn_settles(client, db, gateway, attempt,
                                                                mode):
    form = gateway.pay(attempt["ref"])
    gateway.mode["validate"] = mode
    r = client.post(IPN, data=form)
    assert r.status_code == 502
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"
    gateway.mode.clear()
    assert client.post(IPN, data=form).json["result"] == "completed"
    assert count(db, "hospital_earnings") == 1


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "UNATTEMPTED", "EXPIRED"])
def test_signed_failure_ipn_fails_the_attempt(client, db, gateway, attempt, status):
    r = client.post(IPN, data=gateway.fail(attempt["ref"], status))
    assert r.status_code == 200 and r.json["result"] == "failed"
    failed = tx(db, attempt["tx"]["id"])
    assert failed["status"] == "failed" and failed["gateway_status"] == status
    assert gateway.calls_to("validate") == []


def test_failure_ipn_after_completion_is_ignored(client, db, gateway, attempt):
    client.post(IPN, data=gateway.pay(attempt["ref"]))
    r = client.post(IPN, data=gateway.fail(attempt["ref"]))
    assert r.json == {"result": "ignored", "transactionStatus": "completed"}
    assert tx(db, attempt["tx"]["id"])["status"] == "completed"


def test_paid_ipn_for_an_already_failed_attempt_moves_no_money(client, db, gateway, attempt):
    client.post(IPN, data=gateway.fail(attempt["ref"]))
    form = gateway.pay(attempt["ref"])  # the customer retried on the same page: money taken
    r = client.post(IPN, data=form)
    assert r.status_code == 200 and r.json == {"result": "ignored", "transactionStatus": "failed"}
    failed = tx(db, attempt["tx"]["id"])
    assert failed["status"] == "failed" and failed["gateway_status"] == "PAID_AFTER_FAILURE"
    assert failed["gateway_val_id"] == form["val_id"]  # kept for reconciliation to report
    assert count(db, "hospital_earnings") == 0
    assert client.post(IPN, data=form).json["result"] == "ignored"


def test_ipn_for_a_refunded_payment_changes_nothing(client, make, db, gateway, attempt):
    form = gateway.pay(attempt["ref"])
    client.post(IPN, data=form)
    admin = make.admin()
    r = client.post(f"/api/payments/{attempt['tx']['id']}/refund",
                    json={"amount": "1500.00", "reason": "full refund"},
                    headers=key_headers(make, admin))
    assert r.status_code == 201
    before = (count(db, "hospital_earnings"), count(db, "refunds"))
    r = client.post(IPN, data=form)
    assert r.json == {"result": "duplicate", "transactionStatus": "refunded"}
    assert (count(db, "hospital_earnings"), count(db, "refunds")) == before
    assert_money_invariants(db)


@pytest.mark.parametrize("missing", ["tran_id", "status", "verify_sign", "verify_key"])
def test_ipn_missing_required_fields_is_422(client, db, gateway, attempt, missing):
    form = gateway.pay(attempt["ref"])
    del form[missing]
    r = client.post(IPN, data=form)
    assert r.status_code == 422
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"


def test_ipn_needs_no_login_and_no_csrf_even_with_a_cookie_session(client, make, db, gateway,
                                                                   attempt):
    user = make.user()
    login = client.post("/api/auth/login", json={"email": user["email"],
                                                  "password": "correct-horse-1"})
    assert login.status_code == 200  # the test client now carries a session cookie
    r = client.post(IPN, data=gateway.pay(attempt["ref"]))
    assert r.status_code == 200 and r.json["result"] == "completed"


def test_json_ipn_is_not_accepted(client, gateway, attempt):
    r = client.post(IPN, json=gateway.pay(attempt["ref"]))
    assert r.status_code == 422


# -- top-ups ------------------------------------------------------------------------------


def test_topup_credits_the_wallet_only_on_a_verified_ipn(client, make, db, gateway, patient):
    r = client.post("/api/wallet/topup", json={"amount": "2500.50"},
                    headers=key_headers(make, patient))
    assert r.status_code == 201 and r.json["kind"] == "wallet_topup"
    assert r.json["status"] == "processing" and r.json["gatewayUrl"]
    assert balance(db, patient) == 0
    form = gateway.pay(r.json["transactionRef"])
    assert client.post(IPN, data={**form, "amount": "999999.00"}).status_code == 400
    assert balance(db, patient) == 0
    assert client.post(IPN, data=form).json["result"] == "completed"
    assert client.post(IPN, data=form).json["result"] == "duplicate"
    assert balance(db, patient) == 250_050
    credit = db.execute("SELECT * FROM balance_transactions").fetchall()
    assert [(c["type"], c["amount_minor"], c["transaction_id"]) for c in credit] == [
        ("credit", 250_050, r.json["id"])]
    assert_money_invariants(db)


def test_failed_topup_credits_nothing(client, make, db, gateway, patient):
    r = client.post("/api/wallet/topup", json={"amount": "100.00"},
                    headers=key_headers(make, patient))
    client.post(IPN, data=gateway.fail(r.json["transactionRef"]))
    assert tx(db, r.json["id"])["status"] == "failed" and balance(db, patient) == 0


def test_topup_then_wallet_payment_end_to_end(client, make, db, gateway, patient):
    h = hospital(make)
    booking, _ = approved_booking(make, db, patient, h)
    r = client.post("/api/wallet/topup", json={"amount": "1500.00"},
                    headers=key_headers(make, patient))
    client.post(IPN, data=gateway.pay(r.json["transactionRef"]))
    r = client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "wallet"},
                    headers=key_headers(make, patient))
    assert r.status_code == 200 and balance(db, patient) == 0
    assert_money_invariants(db)


# -- browser return pages -------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["success", "fail", "cancel"])
def test_return_pages_report_but_never_change_money(client, db, gateway, attempt, outcome):
    form = gateway.pay(attempt["ref"])
    r = client.post(f"/api/payments/sslcommerz/return/{outcome}", data=form)
    assert r.status_code == 200
    assert r.json["outcome"] == outcome and r.json["transactionStatus"] == "processing"
    assert tx(db, attempt["tx"]["id"])["status"] == "processing"
    assert gateway.calls_to("validate") == [] and count(db, "hospital_earnings") == 0


def test_return_page_with_an_unknown_tran_id(client):
    r = client.post("/api/payments/sslcommerz/return/success", data={"tran_id": "nope",
                                                                      "store_id": STORE_ID})
    assert r.status_code == 200 and r.json["tranId"] is None


def test_return_page_outcome_is_restricted(client):
    assert client.post("/api/payments/sslcommerz/return/paid", data={}).status_code == 404
