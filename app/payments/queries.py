"""SQL for transactions, refunds, hospital_earnings and payment_config.

Functions take ``conn``, return dicts and never commit.

Every status change is a guarded UPDATE (the expected current status in the
WHERE clause, RETURNING the row): callers look at the result, never at a row
they read earlier. The forward-only trigger of migration 0001 backs them.
"""
import json

from app.db import queue_lock

PAID_STATUSES = ("completed", "partially_refunded", "refunded")


def get_payment_config(conn, gateway):
    row = conn.execute("SELECT * FROM payment_config WHERE gateway = ?", (gateway,)).fetchone()
    if row is not None:
        row["settings"] = json.loads(row["settings"])
    return row


def upsert_payment_config(conn, *, gateway, is_active, mode, settings, now):
    conn.execute(
        """
        INSERT INTO payment_config (gateway, is_active, mode, settings, updated_at)
        VALUES (:gateway, :is_active, :mode, :settings, :now)
        ON CONFLICT (gateway) DO UPDATE SET
            is_active = excluded.is_active, mode = excluded.mode,
            settings = excluded.settings, updated_at = excluded.updated_at
        """,
        {"gateway": gateway, "is_active": bool(is_active), "mode": mode,
         "settings": json.dumps(settings), "now": now},
    )


# queue_lock class of "the refunds of one payment" ("RCRP").
REFUND_LOCK_CLASS = 0x52435250


def refund_lock(conn, transaction_id):
    """Around the whole transaction that refunds payment ``transaction_id``."""
    return queue_lock(conn, REFUND_LOCK_CLASS, transaction_id)


def get_transaction(conn, transaction_id):
    return conn.execute("SELECT * FROM transactions WHERE id = ?", (transaction_id,)).fetchone()


def get_transaction_by_ref(conn, transaction_ref):
    return conn.execute(
        "SELECT * FROM transactions WHERE transaction_ref = ?", (transaction_ref,)
    ).fetchone()


def get_live_booking_payment(conn, booking_id):
    """The booking's one payment row that has not failed (a unique index allows one)."""
    return conn.execute(
        """
        SELECT * FROM transactions
        WHERE booking_id = ? AND kind = 'booking_payment' AND status <> 'failed'
        """,
        (booking_id,),
    ).fetchone()


def get_latest_booking_payment(conn, booking_id):
    return conn.execute(
        """
        SELECT * FROM transactions WHERE booking_id = ? AND kind = 'booking_payment'
        ORDER BY id DESC LIMIT 1
        """,
        (booking_id,),
    ).fetchone()


def insert_transaction(conn, *, transaction_ref, kind, booking_id, user_id, hospital_id,
                       amount_minor, currency, method, status, now):
    return conn.execute(
        """
        INSERT INTO transactions (transaction_ref, kind, booking_id, user_id, hospital_id,
            amount_minor, currency, method, status, created_at, updated_at)
        VALUES (:transaction_ref, :kind, :booking_id, :user_id, :hospital_id,
            :amount_minor, :currency, :method, :status, :now, :now)
        RETURNING *
        """,
        {
            "transaction_ref": transaction_ref, "kind": kind, "booking_id": booking_id,
            "user_id": user_id, "hospital_id": hospital_id, "amount_minor": amount_minor,
            "currency": currency, "method": method, "status": status, "now": now,
        },
    ).fetchone()


def mark_processing(conn, transaction_id, method, now):
    return conn.execute(
        """
        UPDATE transactions SET status = 'processing', method = :method, updated_at = :now
        WHERE id = :id AND status = 'pending'
        RETURNING *
        """,
        {"id": transaction_id, "method": method, "now": now},
    ).fetchone()


def set_session_key(conn, transaction_id, session_key, now):
    return conn.execute(
        """
        UPDATE transactions SET gateway_session_key = :key, gateway_status = 'SESSION_CREATED',
               updated_at = :now
        WHERE id = :id AND status = 'processing'
        RETURNING *
        """,
        {"id": transaction_id, "key": session_key, "now": now},
    ).fetchone()


def complete_transaction(conn, transaction_id, *, method, platform_fee_minor,
                         hospital_share_minor, val_id, bank_tran_id, gateway_status, now):
    """pending/processing -> completed, with the split; None if it was not open any more."""
    return conn.execute(
        """
        UPDATE transactions
        SET status = 'completed', method = :method, platform_fee_minor = :fee,
            hospital_share_minor = :share, gateway_val_id = :val_id,
            gateway_bank_tran_id = :bank_tran_id, gateway_status = :gateway_status,
            completed_at = :now, updated_at = :now
        WHERE id = :id AND status IN ('pending', 'processing')
        RETURNING *
        """,
        {
            "id": transaction_id, "method": method, "fee": platform_fee_minor,
            "share": hospital_share_minor, "val_id": val_id, "bank_tran_id": bank_tran_id,
            "gateway_status": gateway_status, "now": now,
        },
    ).fetchone()


def fail_transaction(conn, transaction_id, *, reason, gateway_status, now):
    """pending/processing -> failed; None if it was not open any more."""
    return conn.execute(
        """
        UPDATE transactions
        SET status = 'failed', failure_reason = :reason,
            gateway_status = coalesce(:gateway_status, gateway_status), updated_at = :now
        WHERE id = :id AND status IN ('pending', 'processing')
        RETURNING *
        """,
        {"id": transaction_id, "reason": (reason or "")[:500], "gateway_status": gateway_status,
         "now": now},
    ).fetchone()


def note_paid_after_failure(conn, transaction_id, *, val_id, bank_tran_id, now):
    """Record (once) that the gateway took money on an attempt we had already failed.

    Nothing is credited: reconciliation reports it for a human to refund.
    """
    return conn.execute(
        """
        UPDATE transactions
        SET gateway_val_id = :val_id, gateway_bank_tran_id = :bank_tran_id,
            gateway_status = 'PAID_AFTER_FAILURE', updated_at = :now
        WHERE id = :id AND status = 'failed' AND gateway_val_id IS NULL
        RETURNING *
        """,
        {"id": transaction_id, "val_id": val_id, "bank_tran_id": bank_tran_id, "now": now},
    ).fetchone()


def add_refunded(conn, transaction_id, amount_minor, now):
    """refunded += amount only while the total stays within the amount paid (one statement)."""
    return conn.execute(
        """
        UPDATE transactions
        SET refunded_minor = refunded_minor + :amount,
            status = CASE WHEN refunded_minor + :amount = amount_minor
                          THEN 'refunded' ELSE 'partially_refunded' END,
            updated_at = :now
        WHERE id = :id AND status IN ('completed', 'partially_refunded')
          AND refunded_minor + :amount <= amount_minor
        RETURNING *
        """,
        {"id": transaction_id, "amount": amount_minor, "now": now},
    ).fetchone()


def insert_earnings(conn, *, hospital_id, transaction_id, share_minor, fee_minor, description,
                    now):
    conn.execute(
        """
        INSERT INTO hospital_earnings (hospital_id, transaction_id, share_minor, fee_minor,
                                       description, created_at)
        VALUES (?, ?, ?, ?, ?, ?)
        """,
        (hospital_id, transaction_id, share_minor, fee_minor, description[:500], now),
    )


def insert_refund(conn, *, transaction_id, amount_minor, reason, method, status, requested_by,
                  now, completed_at=None):
    return conn.execute(
        """
        INSERT INTO refunds (transaction_id, amount_minor, reason, method, status, requested_by,
                             created_at, completed_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        RETURNING *
        """,
        (transaction_id, amount_minor, reason, method, status, requested_by, now, completed_at),
    ).fetchone()


def get_refund(conn, refund_id):
    return conn.execute("SELECT * FROM refunds WHERE id = ?", (refund_id,)).fetchone()


def update_refund(conn, refund_id, *, from_statuses, status, gateway_refund_ref, now):
    """Move a gateway refund on (guarded by its current status)."""
    placeholders = ", ".join("?" for _ in from_statuses)
    return conn.execute(
        f"""
        UPDATE refunds
        SET status = ?, gateway_refund_ref = coalesce(?, gateway_refund_ref),
            completed_at = CASE WHEN ? = 'completed' THEN ? ELSE completed_at END
        WHERE id = ? AND status IN ({placeholders})
        RETURNING *
        """,
        (status, gateway_refund_ref, status, now, refund_id, *from_statuses),
    ).fetchone()


def list_refunds(conn, transaction_id):
    return conn.execute(
        "SELECT * FROM refunds WHERE transaction_id = ? ORDER BY id", (transaction_id,)
    ).fetchall()


# The caller's scope (app.auth.policy.scope_for: {}, {"user_id": …} or
# {"hospital_id": …}) as fixed fragments, so no input ever becomes SQL text.
_SCOPE_FILTERS = {
    "user_id": "t.user_id = :user_id",
    "hospital_id": "t.hospital_id = :hospital_id",
}


def _history_where(scope, status, kind):
    clauses = [_SCOPE_FILTERS[key] for key in scope] or ["1 = 1"]
    if status is not None:
        clauses.append("t.status = :status")
    if kind is not None:
        clauses.append("t.kind = :kind")
    return " AND ".join(clauses)


def list_transactions(conn, *, scope, status, kind, limit, offset):
    return conn.execute(
        f"""
        SELECT t.*, b.booking_reference
        FROM transactions AS t LEFT JOIN bookings AS b ON b.id = t.booking_id
        WHERE {_history_where(scope, status, kind)}
        ORDER BY t.created_at DESC, t.id DESC
        LIMIT :limit OFFSET :offset
        """,
        {**scope, "status": status, "kind": kind, "limit": limit, "offset": offset},
    ).fetchall()


def count_transactions(conn, *, scope, status, kind):
    return conn.execute(
        f"SELECT count(*) AS n FROM transactions AS t WHERE {_history_where(scope, status, kind)}",
        {**scope, "status": status, "kind": kind},
    ).fetchone()["n"]


def list_stale_processing(conn, older_than):
    return conn.execute(
        """
        SELECT * FROM transactions
        WHERE status = 'processing' AND method = 'sslcommerz' AND updated_at <= ?
        ORDER BY id
        """,
        (older_than,),
    ).fetchall()


def list_open_gateway_refunds(conn, older_than):
    return conn.execute(
        """
        SELECT r.*, t.transaction_ref
        FROM refunds AS r JOIN transactions AS t ON t.id = r.transaction_id
        WHERE r.method = 'sslcommerz' AND r.status IN ('pending', 'processing')
          AND r.created_at <= ?
        ORDER BY r.id
        """,
        (older_than,),
    ).fetchall()


def booking_revenue(conn):
    """Totals over booking payments that were actually paid (refunds included as such)."""
    return conn.execute(
        """
        SELECT count(*) AS payments,
               coalesce(sum(amount_minor), 0) AS gross_minor,
               coalesce(sum(platform_fee_minor), 0) AS platform_fee_minor,
               coalesce(sum(refunded_minor), 0) AS refunded_minor
        FROM transactions
        WHERE kind = 'booking_payment'
          AND status IN ('completed', 'partially_refunded', 'refunded')
        """
    ).fetchone()


# -- write-offs (issue #16 item 8) ------------------------------------------------------


def insert_write_off(conn, *, booking_id, hospital_id, user_id, amount_minor, currency, reason,
                     written_off_by, idempotency_claim_id, now):
    """One per booking (UNIQUE booking_id): a second write-off is an IntegrityError (409)."""
    return conn.execute(
        """
        INSERT INTO payment_write_offs (booking_id, hospital_id, user_id, amount_minor, currency,
                                        reason, written_off_by, idempotency_claim_id, created_at)
        VALUES (:booking_id, :hospital_id, :user_id, :amount_minor, :currency,
                :reason, :written_off_by, :claim_id, :now)
        RETURNING *
        """,
        {"booking_id": booking_id, "hospital_id": hospital_id, "user_id": user_id,
         "amount_minor": amount_minor, "currency": currency, "reason": reason,
         "written_off_by": written_off_by, "claim_id": idempotency_claim_id, "now": now},
    ).fetchone()


def get_write_off_made_under(conn, booking_id, claim_id):
    """The booking's write-off if the Idempotency-Key claim ``claim_id`` made it."""
    return conn.execute(
        "SELECT * FROM payment_write_offs WHERE booking_id = ? AND idempotency_claim_id = ?",
        (booking_id, claim_id),
    ).fetchone()
