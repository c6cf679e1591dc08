"""POST /api/payments/process: wallet and SSLCommerz, per role, with hostile input."""
import pytest

from tests.payments.helpers import (
    PRICE,
    approved_booking,
    assert_money_invariants,
    balance,
    count,
    fund,
    hospital,
    key_headers,
    payment_due,
    tx,
)

URL = "/api/payments/process"


def pay(client, make, user, booking, method="wallet", key=None):
    return client.post(URL, json={"bookingId": booking["id"], "method": method},
                       headers=key_headers(make, user, key))


@pytest.fixture
def patient(make):
    return make.user()


@pytest.fixture
def paid_setup(make, db, patient):
    h = hospital(make)
    booking, due = approved_booking(make, db, patient, h)
    return h, booking, due


# -- wallet ---------------------------------------------------------------------------


def test_wallet_payment_debits_completes_and_records_earnings_in_one_go(client, make, db,
                                                                        patient, paid_setup):
    h, booking, due = paid_setup
    fund(db, patient, 200_000)
    r = pay(client, make, patient, booking)
    assert r.status_code == 200, r.json
    assert r.json["status"] == "completed" and r.json["method"] == "wallet"
    assert r.json["amount"] == "1500.00" and r.json["currency"] == "BDT"
    assert r.json["platformFee"] == "75.00" and r.json["hospitalShare"] == "1425.00"
    assert balance(db, patient) == 50_000
    debit = db.execute("SELECT * FROM balance_transactions WHERE type = 'debit'").fetchone()
    assert (debit["amount_minor"], debit["balance_before_minor"], debit["balance_after_minor"],
            debit["transaction_id"], debit["created_by"]) == (PRICE, 200_000, 50_000, due["id"],
                                                               patient["id"])
    earning = db.execute("SELECT * FROM hospital_earnings").fetchone()
    assert (earning["hospital_id"], earning["share_minor"], earning["fee_minor"]) == (
        h["id"], 142_500, 7_500)
    assert_money_invariants(db)


def test_hospital_policy_sets_the_fee(client, make, db, patient, paid_setup):
    h, booking, due = paid_setup
    with db:
        db.execute(
            "INSERT INTO payment_policies (hospital_id, platform_fee_bp, cancellation_window_hours,"
            " refund_inside_window_bp, updated_at) VALUES (?, 1234, 24, 5000, 'now')", (h["id"],))
    fund(db, patient, PRICE)
    r = pay(client, make, patient, booking)
    # 1500.00 x 12.34 % = 185.10 exactly; the share is the rest
    assert (r.json["platformFee"], r.json["hospitalShare"]) == ("185.10", "1314.90")
    assert balance(db, patient) == 0


def test_short_wallet_is_402_with_the_numbers_and_changes_nothing(client, make, db, patient,
                                                                  paid_setup):
    _, booking, due = paid_setup
    fund(db, patient, 100_050)
    r = pay(client, make, patient, booking)
    assert r.status_code == 402
    assert (r.json["required"], r.json["balance"], r.json["shortfall"]) == (
        "1500.00", "1000.50", "499.50")
    assert tx(db, due["id"])["status"] == "pending"
    assert balance(db, patient) == 100_050
    assert count(db, "balance_transactions", "type = 'debit'") == 0
    assert count(db, "hospital_earnings") == 0


def test_no_wallet_at_all_is_402(client, make, patient, paid_setup):
    r = pay(client, make, patient, paid_setup[1])
    assert r.status_code == 402 and r.json["balance"] == "0.00" and r.json["shortfall"] == "1500.00"


def test_paying_twice_is_409_and_debits_once(client, make, db, patient, paid_setup):
    _, booking, _ = paid_setup
    fund(db, patient, 2 * PRICE)
    assert pay(client, make, patient, booking).status_code == 200
    r = pay(client, make, patient, booking)
    assert r.status_code == 409 and "already paid" in r.json["message"]
    assert balance(db, patient) == PRICE


@pytest.mark.parametrize("status", ["pending", "completed", "cancelled", "declined"])
def test_only_approved_bookings_can_be_paid(client, make, db, patient, status):
    h = hospital(make)
    booking = make.booking(patient, h, status=status)
    payment_due(db, booking)
    fund(db, patient, PRICE)
    r = pay(client, make, patient, booking)
    assert r.status_code == 409 and r.json["code"] == 409
    assert balance(db, patient) == PRICE


def test_approved_booking_without_a_payment_due_is_409(client, make, db, patient):
    booking = make.booking(patient, hospital(make), status="approved")
    fund(db, patient, PRICE)
    r = pay(client, make, patient, booking)
    assert r.status_code == 409 and "No payment is due" in r.json["message"]


@pytest.mark.parametrize("who", ["another patient", "authority of the hospital", "admin"])
def test_only_the_booking_owner_may_pay_others_get_404(client, make, db, patient, paid_setup,
                                                       who):
    h, booking, due = paid_setup
    caller = {"another patient": lambda: make.user(),
              "authority of the hospital": lambda: make.authority(h),
              "admin": make.admin}[who]()
    fund(db, caller, 10 * PRICE)
    r = pay(client, make, caller, booking)
    assert r.status_code == 404 and r.json["code"] == 404
    assert tx(db, due["id"])["status"] == "pending" and balance(db, caller) == 10 * PRICE


def test_unknown_booking_is_404(client, make, patient):
    r = client.post(URL, json={"bookingId": 999999, "method": "wallet"},
                    headers=key_headers(make, patient))
    assert r.status_code == 404


def test_anonymous_is_401(client):
    r = client.post(URL, json={"bookingId": 1, "method": "wallet"},
                    headers={"Idempotency-Key": "k1"})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "body, field",
    [
        ({"method": "wallet"}, "bookingId"),
        ({"bookingId": 1}, "method"),
        ({"bookingId": 1, "method": "cash"}, "method"),
        ({"bookingId": "1", "method": "wallet"}, "bookingId"),
        ({"bookingId": 1.5, "method": "wallet"}, "bookingId"),
        ({"bookingId": True, "method": "wallet"}, "bookingId"),
        ({"bookingId": 0, "method": "wallet"}, "bookingId"),
        ({"bookingId": -3, "method": "wallet"}, "bookingId"),
        ({"bookingId": 10**30, "method": "wallet"}, "bookingId"),
        ({"bookingId": None, "method": "wallet"}, "bookingId"),
        ({"bookingId": 1, "method": "wallet", "amount": "1.00"}, "amount"),
        ({"bookingId": 1, "method": ["wallet"]}, "method"),
    ],
)
def test_bad_bodies_are_422_and_do_not_use_the_key(client, make, db, patient, body, field):
    headers = key_headers(make, patient, "same-key")
    r = client.post(URL, json=body, headers=headers)
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert count(db, "idempotency_keys") == 0


@pytest.mark.parametrize("payload", ["{not json", "[1]", "null", '"x"'])
def test_malformed_json_is_4xx(client, make, patient, payload):
    r = client.post(URL, data=payload, content_type="application/json",
                    headers=key_headers(make, patient))
    assert r.status_code in (400, 422) and r.json["code"] == r.status_code


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": ""}, {"Idempotency-Key": "x" * 256},
                                     {"Idempotency-Key": "has space"},
                                     {"Idempotency-Key": "caf\u00e9"}])
def test_missing_or_malformed_idempotency_key_is_400(client, make, db, patient, paid_setup,
                                                     headers):
    fund(db, patient, PRICE)
    r = client.post(URL, json={"bookingId": paid_setup[1]["id"], "method": "wallet"},
                    headers={**make.auth(patient), **headers})
    assert r.status_code == 400 and "Idempotency-Key" in r.json["message"]
    assert balance(db, patient) == PRICE


# -- SSLCommerz -------------------------------------------------------------------------


def test_gateway_payment_opens_a_session_and_stays_processing(client, make, db, gateway, patient,
                                                              paid_setup):
    _, booking, due = paid_setup
    r = pay(client, make, patient, booking, "sslcommerz")
    assert r.status_code == 201, r.json
    assert r.json["status"] == "processing" and r.json["method"] == "sslcommerz"
    assert r.json["gatewayUrl"].startswith(gateway.base_url)
    assert r.json["id"] == due["id"] and r.json["transactionRef"] == due["transaction_ref"]
    sent = gateway.session_for(due["transaction_ref"])
    assert sent["total_amount"] == "1500.00" and sent["currency"] == "BDT"
    assert sent["ipn_url"] == "http://127.0.0.1:8000/api/payments/sslcommerz/ipn"
    assert count(db, "hospital_earnings") == 0 and count(db, "balance_transactions") == 0
    # the booking is not paid yet: a wallet payment now must not slip past the attempt
    fund(db, patient, PRICE)
    r = pay(client, make, patient, booking, "wallet")
    assert r.status_code == 409 and "in progress" in r.json["message"]
    assert balance(db, patient) == PRICE


def test_refused_session_fails_the_attempt_and_a_new_attempt_gets_a_new_row(
        client, make, db, gateway, patient, paid_setup):
    _, booking, due = paid_setup
    gateway.mode["session"] = "refuse"
    r = pay(client, make, patient, booking, "sslcommerz")
    assert r.status_code == 502
    assert tx(db, due["id"])["status"] == "failed"
    gateway.mode.clear()
    r = pay(client, make, patient, booking, "sslcommerz")
    assert r.status_code == 201 and r.json["id"] != due["id"]
    assert r.json["transactionRef"] != due["transaction_ref"] and r.json["amount"] == "1500.00"
    assert count(db, "transactions", "booking_id = ?", (booking["id"],)) == 2


def test_failed_attempt_then_wallet_payment(client, make, db, gateway, patient, paid_setup):
    _, booking, due = paid_setup
    gateway.mode["session"] = "refuse"
    assert pay(client, make, patient, booking, "sslcommerz").status_code == 502
    fund(db, patient, PRICE)
    r = pay(client, make, patient, booking, "wallet")
    assert r.status_code == 200 and r.json["status"] == "completed" and r.json["id"] != due["id"]
    assert balance(db, patient) == 0
    assert_money_invariants(db)


@pytest.mark.parametrize("mode", ["slow", "500", "garbage"])
def test_gateway_timeout_or_5xx_leaves_processing_and_never_retries(client, make, db, gateway,
                                                                    patient, paid_setup, mode):
    _, booking, due = paid_setup
    gateway.mode["session"] = mode
    r = pay(client, make, patient, booking, "sslcommerz")
    assert r.status_code == 502 and "processing" in r.json["message"]
    assert tx(db, due["id"])["status"] == "processing"
    assert len(gateway.calls_to("session")) == 1
    r = pay(client, make, patient, booking, "sslcommerz")
    assert r.status_code == 409 and len(gateway.calls_to("session")) == 1


def test_gateway_not_configured_is_503_and_changes_nothing(app, client, make, db, patient,
                                                           paid_setup):
    app.config["SSLCOMMERZ_STORE_PASSWORD"] = ""
    _, booking, due = paid_setup
    r = pay(client, make, patient, booking, "sslcommerz", key="k-503")
    assert r.status_code == 503
    assert tx(db, due["id"])["status"] == "pending"
    assert count(db, "idempotency_keys") == 0  # nothing happened: the key may be reused


def test_disabled_gateway_in_payment_config_is_503(client, make, db, patient, paid_setup):
    with db:
        db.execute("INSERT INTO payment_config (gateway, is_active, updated_at) "
                   "VALUES ('sslcommerz', FALSE, 'now')")
    r = pay(client, make, patient, paid_setup[1], "sslcommerz")
    assert r.status_code == 503 and tx(db, paid_setup[2]["id"])["status"] == "pending"


def test_abandoned_attempt_is_checked_at_the_gateway_before_a_new_one(
        app, client, make, db, gateway, patient, paid_setup):
    _, booking, due = paid_setup
    assert pay(client, make, patient, booking, "sslcommerz").status_code == 201
    app.config["PAYMENT_STALE_MINUTES"] = 0  # the first attempt is now stale
    r = pay(client, make, patient, booking, "sslcommerz")
    assert r.status_code == 201 and r.json["id"] != due["id"]
    assert gateway.calls_to("query")[0]["tran_id"] == due["transaction_ref"]
    old = tx(db, due["id"])
    assert old["status"] == "failed" and "no record" in old["failure_reason"]


def test_stale_attempt_that_was_paid_is_settled_not_replaced(app, client, make, db, gateway,
                                                             patient, paid_setup):
    _, booking, due = paid_setup
    assert pay(client, make, patient, booking, "sslcommerz").status_code == 201
    gateway.pay(due["transaction_ref"])  # paid, but the IPN never reached us
    app.config["PAYMENT_STALE_MINUTES"] = 0
    r = pay(client, make, patient, booking, "sslcommerz")
    assert r.status_code == 409 and "already paid" in r.json["message"]
    assert tx(db, due["id"])["status"] == "completed"
    assert count(db, "transactions", "booking_id = ?", (booking["id"],)) == 1
    assert_money_invariants(db)
