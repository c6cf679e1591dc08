"""Posting to a wallet: the balance change and its ledger row, always together.

These run INSIDE the caller's open transaction (``with transaction(conn):``), so
the balance update, the ledger row and whatever the caller is paying for commit
or roll back as one. The database checks the rest: the balance never goes below
zero (CHECK), a ledger row's arithmetic is right (CHECK) and it continues the
user's chain and matches the balance just written (trigger, migration 0030).
"""
from app.timeutil import to_iso
from app.wallet import queries

CREDIT_TYPES = ("credit", "refund")
DEBIT_TYPES = ("debit", "fee")


def _require_open_transaction(conn):
    if not conn.in_transaction:
        raise RuntimeError("wallet postings must run inside transaction(conn)")


def post_credit(conn, *, user_id, amount_minor, description, created_by, now, currency,
                type="credit", transaction_id=None):
    """Add ``amount_minor`` to the wallet (opening it if needed); returns the ledger row."""
    _require_open_transaction(conn)
    if type not in CREDIT_TYPES or amount_minor <= 0:
        raise ValueError("a credit is a positive 'credit' or 'refund'")
    queries.ensure_balance_row(conn, user_id, currency, to_iso(now))
    after = queries.add_to_balance(conn, user_id, amount_minor, to_iso(now))
    return queries.insert_ledger_row(
        conn, user_id=user_id, transaction_id=transaction_id, type=type,
        amount_minor=amount_minor, balance_before_minor=after - amount_minor,
        balance_after_minor=after, description=description, created_by=created_by,
        now=to_iso(now),
    )


def post_debit(conn, *, user_id, amount_minor, description, created_by, now,
               type="debit", transaction_id=None):
    """Take ``amount_minor`` from the wallet if it covers it; returns the ledger row,
    or None when the balance is short (then nothing was written)."""
    _require_open_transaction(conn)
    if type not in DEBIT_TYPES or amount_minor <= 0:
        raise ValueError("a debit is a positive 'debit' or 'fee'")
    after = queries.take_from_balance(conn, user_id, amount_minor, to_iso(now))
    if after is None:
        return None
    return queries.insert_ledger_row(
        conn, user_id=user_id, transaction_id=transaction_id, type=type,
        amount_minor=amount_minor, balance_before_minor=after + amount_minor,
        balance_after_minor=after, description=description, created_by=created_by,
        now=to_iso(now),
    )


def balance_of(conn, user_id):
    """The current balance in minor units (0 for a wallet never opened)."""
    row = queries.get_balance(conn, user_id)
    return row["balance_minor"] if row else 0
