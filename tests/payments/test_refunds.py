"""Refunds: the endpoint per role, exact earnings reversal, the gateway, and cancellation policy."""
from datetime import timedelta

import pytest

from app.payments.refunds import prorate
from app.timeutil import utcnow
from tests.payments.helpers import (
    PRICE,
    approved_booking,
    assert_money_invariants,
    balance,
    cancel_booking,
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


def paid_by_wallet(client, make, db, patient, h, *, amount_minor=PRICE, days=2, hours=0):
    booking, due = approved_booking(make, db, patient, h, amount_minor=amount_minor, days=days,
                                    hours=hours)
    fund(db, patient, amount_minor)
    r = client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "wallet"},
                    headers=key_headers(make, patient))
    assert r.status_code == 200, r.json
    return booking, tx(db, due["id"])


def paid_by_gateway(client, make, db, gateway, patient, h, *, days=2, hours=0):
    booking, due = approved_booking(make, db, patient, h, days=days, hours=hours)
    r = client.post("/api/payments/process",
                    json={"bookingId": booking["id"], "method": "sslcommerz"},
                    headers=key_headers(make, patient))
    assert r.status_code == 201
    assert client.post(IPN, data=gateway.pay(due["transaction_ref"])).json["result"] == "completed"
    return booking, tx(db, due["id"])


def refund(client, make, actor, payment_id, amount="100.00", reason="goodwill", key=None):
    return client.post(f"/api/payments/{payment_id}/refund",
                       json={"amount": amount, "reason": reason},
                       headers=key_headers(make, actor, key))


def earnings(db, transaction_id):
    return [(e["share_minor"], e["fee_minor"]) for e in db.execute(
        "SELECT * FROM hospital_earnings WHERE transaction_id = ? ORDER BY id", (transaction_id,))]


# -- the endpoint, per role -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["authority of the hospital", "admin"])
def test_wallet_payment_is_refunded_to_the_wallet(client, make, db, patient, h, who):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    actor = make.authority(h) if who.startswith("authority") else make.admin()
    r = refund(client, make, actor, payment["id"], "400.00", "late arrival")
    assert r.status_code == 201, r.json
    assert (r.json["status"], r.json["method"], r.json["amount"]) == ("completed", "wallet",
                                                                      "400.00")
    assert r.json["payment"]["status"] == "partially_refunded"
    assert r.json["payment"]["refunded"] == "400.00" and r.json["requestedBy"] == actor["id"]
    assert balance(db, patient) == 40_000
    entry = db.execute("SELECT * FROM balance_transactions WHERE type = 'refund'").fetchone()
    assert entry["amount_minor"] == 40_000 and entry["transaction_id"] == payment["id"]
    assert entry["created_by"] == actor["id"] and "late arrival" in entry["description"]
    assert_money_invariants(db)


@pytest.mark.parametrize("who, code", [("patient", 403), ("another patient", 403),
                                       ("authority of another hospital", 404)])
def test_others_cannot_refund(client, make, db, patient, h, who, code):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    actor = {"patient": lambda: patient, "another patient": make.user,
             "authority of another hospital": lambda: make.authority(hospital(make))}[who]()
    r = refund(client, make, actor, payment["id"])
    assert r.status_code == code
    assert tx(db, payment["id"])["refunded_minor"] == 0 and count(db, "refunds") == 0


def test_anonymous_refund_is_401(client, make, db, patient, h):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    r = client.post(f"/api/payments/{payment['id']}/refund", json={"amount": "1.00", "reason": "x"},
                    headers={"Idempotency-Key": "k"})
    assert r.status_code == 401


def test_unknown_payment_is_404(client, make):
    assert refund(client, make, make.admin(), 424242).status_code == 404


@pytest.mark.parametrize("amount", ["1.001", "-5", "0", "0.00", "NaN", "Infinity", 1e30,
                                    "1e30", "abc", "", None, [], {"v": 1}, True, "10,00"])
def test_bad_refund_amounts_are_422(client, make, db, patient, h, amount):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    r = client.post(f"/api/payments/{payment['id']}/refund",
                    json={"amount": amount, "reason": "x"},
                    headers=key_headers(make, make.admin()))
    assert r.status_code == 422 and "amount" in r.json["errors"]["json"]
    assert count(db, "refunds") == 0


@pytest.mark.parametrize("body, field", [({"amount": "1.00"}, "reason"),
                                         ({"amount": "1.00", "reason": "   "}, "reason"),
                                         ({"amount": "1.00", "reason": "x" * 1001}, "reason"),
                                         ({"reason": "x"}, "amount"),
                                         ({"amount": "1.00", "reason": "x", "to": 3}, "to")])
def test_bad_refund_bodies_are_422(client, make, db, patient, h, body, field):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    r = client.post(f"/api/payments/{payment['id']}/refund", json=body,
                    headers=key_headers(make, make.admin()))
    assert r.status_code == 422 and field in r.json["errors"]["json"]


def test_refund_needs_an_idempotency_key(client, make, db, patient, h):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    r = client.post(f"/api/payments/{payment['id']}/refund", json={"amount": "1.00", "reason": "x"},
                    headers=make.auth(make.admin()))
    assert r.status_code == 400 and count(db, "refunds") == 0


def test_refund_replay_refunds_once(client, make, db, patient, h):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    admin = make.admin()
    first = refund(client, make, admin, payment["id"], "250.00", key="r-1")
    again = refund(client, make, admin, payment["id"], "250.00", key="r-1")
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert balance(db, patient) == 25_000 and count(db, "refunds") == 1


# -- never more than paid; exact earnings -----------------------------------------------------


def test_total_refunded_never_exceeds_the_amount_paid(client, make, db, patient, h):
    _, payment = paid_by_wallet(client, make, db, patient, h)
    admin = make.admin()
    assert refund(client, make, admin, payment["id"], "1000.00").status_code == 201
    over = refund(client, make, admin, payment["id"], "500.01")
    assert over.status_code == 409 and over.json["refundable"] == "500.00"
    last = refund(client, make, admin, payment["id"], "500.00")
    assert last.status_code == 201 and last.json["payment"]["status"] == "refunded"
    done = refund(client, make, admin, payment["id"], "0.01")
    assert done.status_code == 409 and done.json["refundable"] == "0.00"
    assert balance(db, patient) == PRICE and tx(db, payment["id"])["refunded_minor"] == PRICE
    assert_money_invariants(db)


@pytest.mark.parametrize("parts", [[33_333, 33_333, 33_334], [1, 1, 99_998], [99_999, 1],
                                   [100_000], [7, 13, 99_980]])
def test_partial_refunds_reverse_earnings_exactly(client, make, db, patient, h, parts):
    # 1000.00 at 5 %: fee 50.00, share 950.00; awkward parts force rounding every time
    _, payment = paid_by_wallet(client, make, db, patient, h, amount_minor=100_000)
    admin = make.admin()
    for part in parts:
        amount = f"{part // 100}.{part % 100:02d}"
        assert refund(client, make, admin, payment["id"], amount).status_code == 201
    rows = earnings(db, payment["id"])
    assert rows[0] == (95_000, 5_000)
    reversals = rows[1:]
    assert all(share <= 0 and fee <= 0 for share, fee in reversals)
    assert [-(s + f) for s, f in reversals] == parts  # each reversal is exactly its refund
    assert sum(s for s, _ in rows) == 0 and sum(f for _, f in rows) == 0
    assert_money_invariants(db)


def test_prorate_rounds_half_up():
    assert prorate(5_000, 1, 2) == 2_500
    assert prorate(3, 1, 2) == 2  # 1.5 -> 2
    assert prorate(1, 1, 3) == 0
    assert prorate(7_500, 150_000, 150_000) == 7_500


def test_refund_of_an_unpaid_or_topup_transaction_is_409(client, make, db, gateway, patient, h):
    _, due = approved_booking(make, db, patient, h)
    admin = make.admin()
    assert refund(client, make, admin, due["id"]).status_code == 409
    r = client.post("/api/wallet/topup", json={"amount": "100.00"},
                    headers=key_headers(make, patient))
    client.post(IPN, data=gateway.pay(r.json["transactionRef"]))
    assert refund(client, make, admin, r.json["id"], "10.00").status_code == 409
    assert balance(db, patient) == 10_000


# -- gateway refunds ----------------------------------------------------------------------


def test_gateway_payment_is_refunded_through_the_gateway(client, make, db, gateway, patient, h):
    _, payment = paid_by_gateway(client, make, db, gateway, patient, h)
    r = refund(client, make, make.admin(), payment["id"], "300.00", "partial")
    assert r.status_code == 201
    assert r.json["method"] == "sslcommerz" and r.json["status"] == "processing"
    assert r.json["gatewayRefundRef"].startswith("RFND")
    sent = gateway.calls_to("refund")[0]
    assert sent["bank_tran_id"] == payment["gateway_bank_tran_id"]
    assert sent["refund_amount"] == "300.00" and sent["refe_id"] == f"RF{r.json['id']}"
    assert balance(db, patient) == 0  # a card refund never touches the wallet
    assert_money_invariants(db)


def test_gateway_refusing_a_refund_marks_it_failed(client, make, db, gateway, patient, h):
    _, payment = paid_by_gateway(client, make, db, gateway, patient, h)
    gateway.mode["refund"] = "refuse"
    r = refund(client, make, make.admin(), payment["id"], "300.00")
    assert r.status_code == 201 and r.json["status"] == "failed"
    # still counted as owed to the customer: reconciliation reports it (test_reconciliation)
    assert tx(db, payment["id"])["refunded_minor"] == 30_000


@pytest.mark.parametrize("mode", ["slow", "500"])
def test_gateway_refund_with_unknown_outcome_stays_pending_and_is_not_resent(
        client, make, db, gateway, patient, h, mode):
    _, payment = paid_by_gateway(client, make, db, gateway, patient, h)
    gateway.mode["refund"] = mode
    r = refund(client, make, make.admin(), payment["id"], "300.00")
    assert r.status_code == 201 and r.json["status"] == "pending"
    assert len(gateway.calls_to("refund")) == 1


# -- cancellation policy (the bookings hook) -----------------------------------------------------


def test_cancelling_well_ahead_refunds_everything_to_the_wallet(app, client, make, db, patient, h):
    booking, payment = paid_by_wallet(client, make, db, patient, h, days=3)
    after = cancel_booking(db, booking, actor_id=patient["id"], config=app.config)
    assert after is None  # nothing left to do after commit
    assert balance(db, patient) == PRICE
    assert tx(db, payment["id"])["status"] == "refunded"
    refund_row = db.execute("SELECT * FROM refunds").fetchone()
    assert refund_row["requested_by"] == patient["id"] and "full refund" in refund_row["reason"]
    assert_money_invariants(db)


def test_cancelling_inside_the_window_refunds_the_policy_share(app, client, make, db, patient, h):
    booking, payment = paid_by_wallet(client, make, db, patient, h, days=0, hours=5)
    admin = make.admin()
    cancel_booking(db, booking, actor_id=admin["id"], config=app.config)
    assert balance(db, patient) == PRICE // 2  # default policy: 50 % inside 24 h
    assert tx(db, payment["id"])["status"] == "partially_refunded"
    assert db.execute("SELECT requested_by FROM refunds").fetchone()["requested_by"] == admin["id"]
    assert_money_invariants(db)


def test_hospital_policy_window_and_percentage_apply(app, client, make, db, patient, h):
    with db:
        db.execute(
            "INSERT INTO payment_policies (hospital_id, platform_fee_bp, cancellation_window_hours,"
            " refund_inside_window_bp, updated_at) VALUES (?, 1000, 72, 2500, 'now')", (h["id"],))
    booking, payment = paid_by_wallet(client, make, db, patient, h, days=2)  # inside 72 h
    cancel_booking(db, booking, actor_id=patient["id"], config=app.config)
    assert balance(db, patient) == 37_500  # 25 % of 1500.00
    # fee 10 %: 150.00; a quarter of it goes back with the refund
    assert earnings(db, payment["id"]) == [(135_000, 15_000), (-33_750, -3_750)]
    assert_money_invariants(db)


def test_policy_refund_counts_what_was_already_refunded(app, client, make, db, patient, h):
    booking, payment = paid_by_wallet(client, make, db, patient, h, days=0, hours=5)
    refund(client, make, make.admin(), payment["id"], "600.00")
    cancel_booking(db, booking, actor_id=patient["id"], config=app.config)
    # policy grants 750.00 in total; 600.00 was already given back
    assert tx(db, payment["id"])["refunded_minor"] == 75_000
    assert balance(db, patient) == 75_000


def test_policy_refund_never_goes_beyond_what_was_refunded(app, client, make, db, patient, h):
    booking, payment = paid_by_wallet(client, make, db, patient, h, days=0, hours=5)
    refund(client, make, make.admin(), payment["id"], "1000.00")
    cancel_booking(db, booking, actor_id=patient["id"], config=app.config)
    assert tx(db, payment["id"])["refunded_minor"] == 100_000 and count(db, "refunds") == 1


def test_cancelling_an_unpaid_booking_voids_the_payment_due(app, make, db, patient, h):
    booking, due = approved_booking(make, db, patient, h)
    assert cancel_booking(db, booking, actor_id=patient["id"], config=app.config) is None
    voided = tx(db, due["id"])
    assert voided["status"] == "failed" and "cancelled" in voided["failure_reason"]
    assert count(db, "refunds") == 0


def test_cancelling_during_a_gateway_attempt_fails_it_and_a_late_payment_is_flagged(
        app, client, make, db, gateway, patient, h):
    booking, due = approved_booking(make, db, patient, h)
    client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "sslcommerz"},
                headers=key_headers(make, patient))
    cancel_booking(db, booking, actor_id=patient["id"], config=app.config)
    assert tx(db, due["id"])["status"] == "failed"
    r = client.post(IPN, data=gateway.pay(due["transaction_ref"]))
    assert r.json["result"] == "ignored"
    assert tx(db, due["id"])["gateway_status"] == "PAID_AFTER_FAILURE"


def test_cancelling_a_gateway_payment_refunds_through_the_gateway_after_commit(
        app, client, make, db, gateway, patient, h):
    booking, payment = paid_by_gateway(client, make, db, gateway, patient, h, days=3)
    calls_before = len(gateway.calls_to("refund"))
    after = cancel_booking(db, booking, actor_id=patient["id"], config=app.config)
    assert callable(after)
    assert len(gateway.calls_to("refund")) == calls_before + 1
    refund_row = db.execute("SELECT * FROM refunds").fetchone()
    assert refund_row["method"] == "sslcommerz" and refund_row["status"] == "processing"
    assert refund_row["amount_minor"] == PRICE
    assert tx(db, payment["id"])["status"] == "refunded"
    assert_money_invariants(db)


def test_the_hook_makes_no_network_call_inside_the_transaction(app, client, make, db, gateway,
                                                               patient, h):
    from app.db import transaction
    from app.payments import hooks

    booking, payment = paid_by_gateway(client, make, db, gateway, patient, h, days=3)
    calls = len(gateway.calls)
    with transaction(db):
        db.execute("UPDATE bookings SET status = 'cancelled', allocated_units = 0 WHERE id = ?",
                   (booking["id"],))
        after = hooks.on_booking_cancelled(db, booking, actor_id=patient["id"], now=utcnow(),
                                           config=app.config)
        assert len(gateway.calls) == calls  # the write lock is held: no I/O
    after()
    assert len(gateway.calls) == calls + 1


def test_cancelling_after_the_scheduled_time_uses_the_inside_window_rate(app, client, make, db,
                                                                        patient, h):
    booking, payment = paid_by_wallet(client, make, db, patient, h, days=1)
    cancel_booking(db, booking, actor_id=patient["id"], config=app.config,
                   now=utcnow() + timedelta(days=3))
    assert balance(db, patient) == PRICE // 2
