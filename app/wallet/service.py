"""Wallet rules: reading a balance and its ledger, admin adjustments.

Top-ups are payments (app.payments.service.start_topup): the wallet is credited
only by a verified gateway notification.
"""
from app.admin.queries import insert_audit_entry as insert_admin_audit
from app.auth.queries import get_user
from app.db import transaction
from app.errors import Conflict, NotFound
from app.money import format_minor
from app.payments.idempotency import record_effect, recorded_effect
from app.timeutil import to_iso
from app.wallet import queries
from app.wallet.ledger import post_credit, post_debit


def get_wallet(conn, user_id, currency):
    """The wallet, or a zero balance for one never opened (reading never creates it)."""
    row = queries.get_balance(conn, user_id)
    if row is None:
        return {"user_id": user_id, "balance_minor": 0, "currency": currency, "updated_at": None}
    return row


def ledger(conn, user_id, *, limit, offset):
    return queries.list_ledger(conn, user_id, limit, offset), queries.count_ledger(conn, user_id)


def adjust(conn, *, admin_id, user_id, amount_minor, reason, ip_address, now, currency,
           claim=None):
    """Credit (amount > 0) or debit (amount < 0) a wallet by hand, audited.

    Under an Idempotency-Key ``claim`` whose adjustment already committed (the
    first request died before its answer was stored), answers from that ledger
    entry instead of posting another.

    :raise 404: no such user.
    :raise 409: a debit larger than the balance (a balance never goes below zero).
    """
    with transaction(conn):
        posted = recorded_effect(conn, claim, "ledger_entry")
        if posted is not None:
            return {**queries.get_balance(conn, user_id),
                    "entry": queries.get_ledger_entry(conn, posted)}
        if get_user(conn, user_id) is None:
            raise NotFound("User not found.")
        description = f"Adjustment by admin: {reason}"[:500]
        if amount_minor > 0:
            entry = post_credit(conn, user_id=user_id, amount_minor=amount_minor,
                                description=description, created_by=admin_id, now=now,
                                currency=currency)
        else:
            entry = post_debit(conn, user_id=user_id, amount_minor=-amount_minor,
                               description=description, created_by=admin_id, now=now)
            if entry is None:
                raise Conflict("The adjustment would take the balance below zero.")
        insert_admin_audit(
            conn, actor_id=admin_id, action="wallet.adjust", target_type="user",
            target_id=user_id, ip_address=ip_address, now=to_iso(now),
            details={
                "amount": format_minor(amount_minor), "reason": reason,
                "balanceBefore": format_minor(entry["balance_before_minor"]),
                "balanceAfter": format_minor(entry["balance_after_minor"]),
                "ledgerEntryId": entry["id"],
            },
        )
        record_effect(conn, claim, "ledger_entry", entry["id"])
        wallet = queries.get_balance(conn, user_id)
    return {**wallet, "entry": entry}
