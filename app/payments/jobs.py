"""Scheduled payment jobs. Signature: ``def name(conn, *, now, config) -> str``; each
opens its own transactions and returns a one-line summary. (The daily reconciliation
is app.reconciliation.jobs.)"""
from app.db import transaction
from app.payments.idempotency import delete_expired


def purge_idempotency_keys(conn, *, now, config):
    """Forget Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS."""
    with transaction(conn):
        deleted = delete_expired(conn, now)
    return f"deleted {deleted} expired idempotency key(s)"
