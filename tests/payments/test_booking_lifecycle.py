"""The whole life of a booking over HTTP, across the bookings and payments domains:
request -> approve (payment due) -> pay (wallet or card) -> cancel -> refund by policy."""
from datetime import timedelta

import pytest

from app.timeutil import utcnow
from tests.bookings.helpers import booking_body, counters, future, history
from tests.payments.helpers import assert_money_invariants, balance, fund, key_headers

# An hour into the window of a booking scheduled three days ahead (scheduled capacity:
# the live counters count a hold only during its window).
DURING_DAY_3 = utcnow() + timedelta(days=3, hours=1)
PRICE = 150_000  # 1500.00 per booking: base price only, urgency 'medium' (no multiplier)


@pytest.fixture
def cast(make):
    hospital = make.hospital(resources={"beds": 2}, prices={"beds": PRICE})
    return {
        "hospital": hospital,
        "authority": make.authority(hospital),
        "patient": make.user(),
        "admin": make.admin(),
    }


def request_and_approve(client, make, cast, *, scheduled_in):
    body = booking_body(cast["hospital"], urgency="medium", estimatedDuration=24,
                        scheduledDate=future(**scheduled_in))
    created = client.post("/api/bookings", json=body, headers=make.auth(cast["patient"]))
    assert created.status_code == 201, created.json
    booking_id = created.json["id"]
    approved = client.put(f"/api/bookings/{booking_id}/approve", json={},
                          headers=make.auth(cast["authority"]))
    assert approved.status_code == 200, approved.json
    assert approved.json["amount"] == "1500.00"
    return booking_id


def pay(client, make, cast, booking_id, method):
    return client.post("/api/payments/process", json={"bookingId": booking_id, "method": method},
                       headers=key_headers(make, cast["patient"]))


def payment_of(db, booking_id):
    return db.execute(
        "SELECT * FROM transactions WHERE booking_id = ? AND status <> 'failed'", (booking_id,)
    ).fetchone()


def test_wallet_payment_cancelled_well_ahead_is_refunded_in_full(client, db, make, cast):
    fund(db, cast["patient"], 200_000)
    booking_id = request_and_approve(client, make, cast, scheduled_in={"days": 3})
    assert counters(db, cast["hospital"]["id"], at=DURING_DAY_3)["available"] == 1  # held then

    r = pay(client, make, cast, booking_id, "wallet")
    assert r.status_code == 200 and r.json["status"] == "completed"
    assert balance(db, cast["patient"]) == 50_000

    r = client.delete(f"/api/bookings/{booking_id}", json={"reason": "recovered at home"},
                      headers=make.auth(cast["patient"]))
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert balance(db, cast["patient"]) == 200_000  # outside the 24 h window: 100 %
    payment = payment_of(db, booking_id)
    assert payment["status"] == "refunded" and payment["refunded_minor"] == PRICE
    assert counters(db, cast["hospital"]["id"], at=DURING_DAY_3)["available"] == 2  # the bed is back
    assert_money_invariants(db)


def test_wallet_payment_cancelled_inside_the_window_gets_the_policy_percentage(
        client, db, make, cast, app):
    fund(db, cast["patient"], PRICE)
    booking_id = request_and_approve(client, make, cast, scheduled_in={"hours": 10})
    assert pay(client, make, cast, booking_id, "wallet").status_code == 200

    assert client.delete(f"/api/bookings/{booking_id}", json={},
                         headers=make.auth(cast["patient"])).status_code == 200
    expected = PRICE * app.config["REFUND_INSIDE_WINDOW_BP"] // 10_000
    assert balance(db, cast["patient"]) == expected
    payment = payment_of(db, booking_id)
    assert payment["status"] == "partially_refunded" and payment["refunded_minor"] == expected
    assert_money_invariants(db)


def test_card_payment_cancelled_by_an_admin_is_refunded_through_the_gateway(
        client, db, make, cast, gateway):
    booking_id = request_and_approve(client, make, cast, scheduled_in={"days": 3})
    started = pay(client, make, cast, booking_id, "sslcommerz")
    assert started.status_code == 201 and started.json["gatewayUrl"]
    ref = payment_of(db, booking_id)["transaction_ref"]
    ipn = client.post("/api/payments/sslcommerz/ipn", data=gateway.pay(ref))
    assert ipn.status_code == 200 and payment_of(db, booking_id)["status"] == "completed"

    admin = cast["admin"]
    r = client.delete(f"/api/bookings/{booking_id}", json={"reason": "hospital flooded"},
                      headers=make.auth(admin))
    assert r.status_code == 200
    assert history(db, booking_id)[-1] == {"old_status": "approved", "new_status": "cancelled",
                                           "changed_by": admin["id"], "reason": "hospital flooded"}
    refunds = gateway.calls_to("refund")
    assert len(refunds) == 1 and refunds[0]["refund_amount"] == "1500.00"
    payment = payment_of(db, booking_id)
    assert payment["refunded_minor"] == PRICE and payment["status"] == "refunded"
    assert balance(db, cast["patient"]) == 0  # a card refund goes back to the card
    assert_money_invariants(db)


def test_an_unpaid_cancelled_booking_can_no_longer_be_paid(client, db, make, cast):
    fund(db, cast["patient"], PRICE)
    booking_id = request_and_approve(client, make, cast, scheduled_in={"days": 3})
    assert client.delete(f"/api/bookings/{booking_id}", json={},
                         headers=make.auth(cast["patient"])).status_code == 200
    r = pay(client, make, cast, booking_id, "wallet")
    assert r.status_code == 409
    assert balance(db, cast["patient"]) == PRICE
    assert db.execute("SELECT count(*) AS n FROM balance_transactions WHERE type = 'debit'"
                      ).fetchone()["n"] == 0
    assert_money_invariants(db)


def test_a_completed_stay_keeps_its_payment(client, db, make, cast):
    fund(db, cast["patient"], PRICE)
    booking_id = request_and_approve(client, make, cast, scheduled_in={"days": 3})
    assert pay(client, make, cast, booking_id, "wallet").status_code == 200
    r = client.put(f"/api/bookings/{booking_id}/complete", json={},
                   headers=make.auth(cast["authority"]))
    assert r.status_code == 200
    assert payment_of(db, booking_id)["status"] == "completed"
    assert counters(db, cast["hospital"]["id"], at=DURING_DAY_3)["available"] == 2
    # and a completed booking cannot be cancelled for a refund afterwards
    assert client.delete(f"/api/bookings/{booking_id}", json={},
                         headers=make.auth(cast["patient"])).status_code == 409
    assert balance(db, cast["patient"]) == 0
    assert_money_invariants(db)


def test_refund_cannot_exceed_what_was_paid_after_a_cancellation_refund(client, db, make, cast):
    fund(db, cast["patient"], PRICE)
    booking_id = request_and_approve(client, make, cast, scheduled_in={"days": 3})
    assert pay(client, make, cast, booking_id, "wallet").status_code == 200
    assert client.delete(f"/api/bookings/{booking_id}", json={},
                         headers=make.auth(cast["patient"])).status_code == 200
    payment = payment_of(db, booking_id)
    r = client.post(f"/api/payments/{payment['id']}/refund",
                    json={"amount": "0.01", "reason": "goodwill"},
                    headers=key_headers(make, cast["authority"]))
    assert r.status_code == 409
    assert balance(db, cast["patient"]) == PRICE
    assert_money_invariants(db)


def test_timeline_leaves_one_history_row_per_transition(client, db, make, cast):
    fund(db, cast["patient"], PRICE)
    booking_id = request_and_approve(client, make, cast, scheduled_in={"days": 3})
    pay(client, make, cast, booking_id, "wallet")
    client.delete(f"/api/bookings/{booking_id}", json={}, headers=make.auth(cast["patient"]))
    assert [(h["old_status"], h["new_status"]) for h in history(db, booking_id)] == [
        (None, "pending"), ("pending", "approved"), ("approved", "cancelled")]
