"""Property-based: random sequences of top-ups (verified IPNs from the stand-in gateway),
payments (wallet and card, some declined), duplicate IPNs, refunds and cancellations.
After every step money is exact: each balance is its ledger, never negative; each paid
booking splits exactly; nothing is refunded beyond what was paid; the wallet balances
match a model kept from the API's answers alone."""
import uuid
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from app.db import close_db, connect_from_config, transaction
from app.pricing.rules import refund_for_cancellation
from app.reconciliation.service import check_transactions, check_wallets
from app.timeutil import from_iso, utcnow
from tests.factories import Factory
from tests.payments.helpers import assert_money_invariants, cancel_booking, payment_due

IPN = "/api/payments/sslcommerz/ipn"


class PaymentMachine(RuleBasedStateMachine):
    # set by the test: the app (on the stand-in SSLCommerz) and the conftest's
    # reset_database, which gives every example a fresh database
    app = reset_database = gateway = None

    bookings = Bundle("bookings")
    payments = Bundle("payments")  # completed booking payments (ids)

    def __init__(self):
        super().__init__()
        # One app for every example; each example gets a fresh database.
        self.reset_database()
        self.db = connect_from_config(self.app.config)
        self.client = self.app.test_client()
        self.make = Factory(self.db)
        self.patients = [self.make.user(), self.make.user()]
        self.admin = self.make.admin()
        self.auth = {u["id"]: self.make.auth(u) for u in [*self.patients, self.admin]}
        self.hospital = self.make.hospital(resources={"beds": 100})
        self.days = iter(range(1, 1000))
        self.expected = {u["id"]: 0 for u in self.patients}  # the model: wallet balances
        self.policy = None

    def teardown(self):
        self.db.close()
        close_db()

    # -- helpers --------------------------------------------------------------------

    def post(self, url, body, user_id):
        return self.client.post(url, json=body, headers={**self.auth[user_id],
                                                          "Idempotency-Key": uuid.uuid4().hex})

    def row(self, sql, *params):
        return self.db.execute(sql, params).fetchone()

    def live_payment(self, booking_id):
        return self.row("SELECT * FROM transactions WHERE booking_id = ? AND status <> 'failed'",
                        booking_id)

    def notify(self, form, replay):
        """Deliver a gateway IPN; sometimes the gateway delivers it twice."""
        first = self.client.post(IPN, data=form)
        assert first.status_code == 200, first.json
        if replay:
            again = self.client.post(IPN, data=form)
            assert again.status_code == 200
            assert again.json["result"] in ("duplicate", "ignored"), again.json
        return first.json

    def topup_via_gateway(self, user_id, amount, declined, replay):
        r = self.post("/api/wallet/topup", {"amount": money(amount)}, user_id)
        assert r.status_code == 201, r.json
        ref = r.json["transactionRef"]
        self.notify(self.gateway.fail(ref) if declined else self.gateway.pay(ref), replay)
        if not declined:
            self.expected[user_id] += amount

    # -- rules ----------------------------------------------------------------------

    @initialize(fee_bp=st.integers(0, 10_000), window_hours=st.sampled_from([0, 24, 72, 720]),
                refund_bp=st.integers(0, 10_000),
                funds=st.tuples(st.integers(10_00, 200_000), st.integers(10_00, 200_000)))
    def start(self, fee_bp, window_hours, refund_bp, funds):
        self.policy = {"platform_fee_bp": fee_bp, "cancellation_window_hours": window_hours,
                       "refund_inside_window_bp": refund_bp}
        with transaction(self.db):
            self.db.execute(
                "INSERT INTO payment_policies (hospital_id, platform_fee_bp, "
                "cancellation_window_hours, refund_inside_window_bp, updated_at) "
                "VALUES (?, ?, ?, ?, 'now')",
                (self.hospital["id"], fee_bp, window_hours, refund_bp))
        for patient, amount in zip(self.patients, funds):
            self.topup_via_gateway(patient["id"], amount, declined=False, replay=False)

    @rule(target=bookings, who=st.integers(0, 1), amount=st.integers(1, 60_000))
    def approve_booking(self, who, amount):
        booking = self.make.booking(self.patients[who], self.hospital, status="approved",
                                    scheduled_in=timedelta(days=next(self.days)))
        payment_due(self.db, booking, amount)
        return booking

    @rule(who=st.integers(0, 1), amount=st.integers(10_00, 200_000),
          declined=st.integers(0, 3).map(lambda n: n == 0), replay=st.booleans())
    def topup(self, who, amount, declined, replay):
        self.topup_via_gateway(self.patients[who]["id"], amount, declined, replay)

    @rule(target=payments, booking=bookings, card=st.booleans(),
          declined=st.integers(0, 3).map(lambda n: n == 0), replay=st.booleans())
    def pay(self, booking, card, declined, replay):
        due = self.live_payment(booking["id"])
        r = self.post("/api/payments/process",
                      {"bookingId": booking["id"], "method": "sslcommerz" if card else "wallet"},
                      booking["user_id"])
        status = self.row("SELECT status FROM bookings WHERE id = ?", booking["id"])["status"]
        if status != "approved" or (due is not None and due["status"] != "pending"):
            assert r.status_code == 409, r.json
            return multiple()
        if card:
            assert r.status_code == 201, r.json
            ref = r.json["transactionRef"]
            result = self.notify(self.gateway.fail(ref) if declined else self.gateway.pay(ref),
                                 replay)
            assert result["result"] == ("failed" if declined else "completed")
            return multiple() if declined else r.json["id"]
        amount = (due or self.row("SELECT amount_minor FROM transactions WHERE booking_id = ? "
                                  "ORDER BY id DESC LIMIT 1", booking["id"]))["amount_minor"]
        if self.expected[booking["user_id"]] >= amount:
            assert r.status_code == 200, r.json
            self.expected[booking["user_id"]] -= amount
            return r.json["id"]
        assert r.status_code == 402, r.json
        assert r.json["balance"] == money(self.expected[booking["user_id"]])
        assert r.json["shortfall"] == money(amount - self.expected[booking["user_id"]])
        return multiple()

    @rule(payment_id=payments, amount=st.one_of(st.integers(1, 5_000), st.integers(1, 70_000)))
    def refund(self, payment_id, amount):
        paid = self.row("SELECT * FROM transactions WHERE id = ?", payment_id)
        r = self.post(f"/api/payments/{payment_id}/refund",
                      {"amount": money(amount), "reason": "property"}, self.admin["id"])
        if amount <= paid["amount_minor"] - paid["refunded_minor"]:
            assert r.status_code == 201, r.json
            if paid["method"] == "wallet":
                self.expected[paid["user_id"]] += amount
        else:
            assert r.status_code == 409, r.json
            assert r.json["refundable"] == money(paid["amount_minor"] - paid["refunded_minor"])

    @rule(booking=bookings)
    def cancel(self, booking):
        current = self.row("SELECT * FROM bookings WHERE id = ?", booking["id"])
        if current["status"] != "approved":
            return
        live = self.live_payment(booking["id"])
        now = utcnow()
        cancel_booking(self.db, current, actor_id=booking["user_id"], config=self.app.config,
                       now=now)
        if live is None:
            return
        after = self.row("SELECT * FROM transactions WHERE id = ?", live["id"])
        if live["status"] in ("pending", "processing"):
            assert after["status"] == "failed"
            return
        hours = (from_iso(current["scheduled_date"]) - now).total_seconds() / 3600
        entitled = refund_for_cancellation(live["amount_minor"], hours_before_start=hours,
                                           policy=self.policy)
        owed = max(0, entitled - live["refunded_minor"])
        assert after["refunded_minor"] == live["refunded_minor"] + owed
        if live["method"] == "wallet":
            self.expected[live["user_id"]] += owed

    # -- after every step ----------------------------------------------------------------

    @invariant()
    def money_is_exact(self):
        assert_money_invariants(self.db)
        assert check_wallets(self.db) == []
        assert check_transactions(self.db)[1] == []
        for user_id, expected in self.expected.items():
            row = self.row("SELECT balance_minor FROM user_balance WHERE user_id = ?", user_id)
            assert (row["balance_minor"] if row else 0) == expected


def money(minor):
    return f"{minor // 100}.{minor % 100:02d}"


def test_money_stays_exact_under_random_operations(app, gateway, reset_database):
    PaymentMachine.app, PaymentMachine.gateway = app, gateway
    PaymentMachine.reset_database = staticmethod(reset_database)
    run_state_machine_as_test(PaymentMachine, settings=settings(
        max_examples=30, stateful_step_count=30, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))
