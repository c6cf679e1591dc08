"""Builders and invariant checks for payment tests."""
import secrets
import uuid
from datetime import timedelta

from app.db import transaction
from app.payments import hooks
from app.timeutil import to_iso, utcnow
from app.wallet.ledger import post_credit

PRICE = 150_000  # 1500.00 BDT


def payment_due(db, booking, amount_minor=PRICE, currency="BDT"):
    """What booking approval creates: the pending booking payment."""
    now = to_iso(utcnow())
    with transaction(db):
        return db.execute(
            """
            INSERT INTO transactions (transaction_ref, kind, booking_id, user_id, hospital_id,
                amount_minor, currency, status, created_at, updated_at)
            VALUES (?, 'booking_payment', ?, ?, ?, ?, ?, 'pending', ?, ?)
            RETURNING *
            """,
            ("DUE" + secrets.token_hex(8).upper(), booking["id"], booking["user_id"],
             booking["hospital_id"], amount_minor, currency, now, now),
        ).fetchone()


def approved_booking(make, db, user, hospital, *, amount_minor=PRICE, days=2, hours=0):
    booking = make.booking(user, hospital, status="approved",
                           scheduled_in=timedelta(days=days, hours=hours))
    return booking, payment_due(db, booking, amount_minor)


def hospital(make, beds=20):
    return make.hospital(resources={"beds": beds, "icu": beds})


def fund(db, user, amount_minor, now=None):
    """Credit a wallet through the ledger service (as a verified top-up would)."""
    with transaction(db):
        return post_credit(db, user_id=user["id"], amount_minor=amount_minor,
                           description="test funding", created_by=None, now=now or utcnow(),
                           currency="BDT")


def balance(db, user):
    row = db.execute("SELECT balance_minor FROM user_balance WHERE user_id = ?",
                     (user["id"],)).fetchone()
    return row["balance_minor"] if row else 0


def tx(db, transaction_id):
    return db.execute("SELECT * FROM transactions WHERE id = ?", (transaction_id,)).fetchone()


def count(db, table, where="1 = 1", params=()):
    return db.execute(f"SELECT count(*) AS n FROM {table} WHERE {where}", params).fetchone()["n"]


def key_headers(make, user, key=None):
    return {**make.auth(user), "Idempotency-Key": key or str(uuid.uuid4())}


def cancel_booking(db, booking, *, actor_id, config, now=None):
    """What the bookings service does: cancel in one transaction, call the hook inside it,
    run what it returns after commit."""
    now = now or utcnow()
    with transaction(db):
        db.execute(
            """
            UPDATE bookings SET status = 'cancelled', allocated_units = 0, status_changed_by = ?,
                   status_reason = 'test cancellation', cancelled_at = ?, updated_at = ?
            WHERE id = ?
            """,
            (actor_id, to_iso(now), to_iso(now), booking["id"]),
        )
        current = db.execute("SELECT * FROM bookings WHERE id = ?", (booking["id"],)).fetchone()
        after_commit = hooks.on_booking_cancelled(db, current, actor_id=actor_id, now=now,
                                                  config=config)
    if after_commit:
        after_commit()
    return after_commit


def assert_money_invariants(db):
    """The invariants, in plain SQL written independently of the reconciliation code."""
    negative = db.execute("SELECT count(*) AS n FROM user_balance WHERE balance_minor < 0")
    assert negative.fetchone()["n"] == 0
    wallets = db.execute(
        """
        SELECT b.user_id, b.balance_minor,
          (SELECT coalesce(sum(CASE WHEN type IN ('credit', 'refund') THEN amount_minor
                                    ELSE -amount_minor END), 0)
           FROM balance_transactions l WHERE l.user_id = b.user_id) AS ledger,
          (SELECT balance_after_minor FROM balance_transactions l WHERE l.user_id = b.user_id
           ORDER BY id DESC LIMIT 1) AS last_after
        FROM user_balance b
        """
    ).fetchall()
    for w in wallets:
        assert w["balance_minor"] == w["ledger"], w
        assert w["balance_minor"] == (w["last_after"] or 0), w
    payments = db.execute(
        """
        SELECT t.*,
          (SELECT coalesce(sum(share_minor + fee_minor), 0) FROM hospital_earnings e
           WHERE e.transaction_id = t.id) AS earnings_net,
          (SELECT coalesce(sum(fee_minor), 0) FROM hospital_earnings e
           WHERE e.transaction_id = t.id) AS fee_held,
          (SELECT coalesce(sum(amount_minor), 0) FROM refunds r WHERE r.transaction_id = t.id)
            AS refunds_total
        FROM transactions t
        """
    ).fetchall()
    for p in payments:
        assert 0 <= p["refunded_minor"] <= p["amount_minor"], p
        assert p["refunds_total"] == p["refunded_minor"], p
        if p["kind"] == "booking_payment" and p["status"] in (
                "completed", "partially_refunded", "refunded"):
            assert p["platform_fee_minor"] + p["hospital_share_minor"] == p["amount_minor"], p
            assert p["earnings_net"] == p["amount_minor"] - p["refunded_minor"], p
            # refunds take back the fee in proportion: fee x refunded / amount, half up
            fee_refunded = (2 * p["platform_fee_minor"] * p["refunded_minor"]
                            + p["amount_minor"]) // (2 * p["amount_minor"])
            assert p["fee_held"] == p["platform_fee_minor"] - fee_refunded, p
        else:
            assert p["earnings_net"] == 0, p
