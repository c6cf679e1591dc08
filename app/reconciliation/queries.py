"""SQL for reconciliation: the checks (one statement each, so each sees one snapshot),
runs and discrepancies. Functions take ``conn``, return dicts, never commit.

The wallet checks are invariants of app.ops.invariants and live there only."""
from app.db import pick


def count_wallets(conn):
    return conn.execute("SELECT count(*) AS n FROM user_balance").fetchone()["n"]


def transaction_postings(conn):
    """Every transaction with what the ledger, the earnings and the refunds say about it."""
    return conn.execute(
        """
        SELECT t.id, t.kind, t.method, t.status, t.user_id, t.hospital_id, t.amount_minor,
               t.refunded_minor, t.platform_fee_minor, t.hospital_share_minor, t.gateway_status,
               (SELECT coalesce(sum(l.amount_minor), 0) FROM balance_transactions AS l
                WHERE l.transaction_id = t.id AND l.type = 'debit') AS debited_minor,
               (SELECT count(*) FROM balance_transactions AS l
                WHERE l.transaction_id = t.id AND l.type = 'debit' AND l.user_id <> t.user_id)
                   AS foreign_postings,
               (SELECT coalesce(sum(l.amount_minor), 0) FROM balance_transactions AS l
                WHERE l.transaction_id = t.id AND l.type = 'credit') AS credited_minor,
               (SELECT coalesce(sum(l.amount_minor), 0) FROM balance_transactions AS l
                WHERE l.transaction_id = t.id AND l.type = 'refund') AS wallet_refunded_minor,
               (SELECT coalesce(sum(r.amount_minor), 0) FROM refunds AS r
                WHERE r.transaction_id = t.id) AS refunds_minor,
               (SELECT coalesce(sum(r.amount_minor), 0) FROM refunds AS r
                WHERE r.transaction_id = t.id AND r.method = 'wallet' AND r.status = 'completed')
                   AS wallet_refunds_minor,
               (SELECT count(*) FROM hospital_earnings AS e
                WHERE e.transaction_id = t.id AND e.share_minor >= 0 AND e.fee_minor >= 0)
                   AS settlements,
               (SELECT coalesce(sum(e.share_minor), 0) FROM hospital_earnings AS e
                WHERE e.transaction_id = t.id AND e.share_minor >= 0 AND e.fee_minor >= 0)
                   AS settled_share_minor,
               (SELECT coalesce(sum(e.fee_minor), 0) FROM hospital_earnings AS e
                WHERE e.transaction_id = t.id AND e.share_minor >= 0 AND e.fee_minor >= 0)
                   AS settled_fee_minor,
               (SELECT coalesce(sum(e.share_minor + e.fee_minor), 0) FROM hospital_earnings AS e
                WHERE e.transaction_id = t.id) AS earnings_net_minor,
               (SELECT count(*) FROM hospital_earnings AS e
                WHERE e.transaction_id = t.id AND e.hospital_id IS DISTINCT FROM t.hospital_id)
                   AS foreign_earnings
        FROM transactions AS t
        ORDER BY t.id
        """
    ).fetchall()


# The ids of a group as "1,2,3": SQLite 3.40 has no string_agg yet.
_ID_LIST = {"sqlite": "group_concat(id)", "postgres": "string_agg(id::text, ',')"}


def duplicate_gateway_payments(conn):
    """One bank transaction credited to more than one of our transactions."""
    return conn.execute(
        f"""
        SELECT gateway_bank_tran_id, {pick(conn, _ID_LIST)} AS transaction_ids, count(*) AS n
        FROM transactions
        WHERE gateway_bank_tran_id IS NOT NULL
          AND status IN ('completed', 'partially_refunded', 'refunded')
        GROUP BY gateway_bank_tran_id HAVING count(*) > 1
        """
    ).fetchall()


def paid_after_failure(conn):
    return conn.execute(
        """
        SELECT id, transaction_ref, amount_minor, gateway_val_id, gateway_bank_tran_id
        FROM transactions WHERE status = 'failed' AND gateway_status = 'PAID_AFTER_FAILURE'
        """
    ).fetchall()


def failed_gateway_refunds(conn):
    return conn.execute(
        "SELECT * FROM refunds WHERE method = 'sslcommerz' AND status = 'failed'"
    ).fetchall()


def completed_unpaid_bookings(conn):
    """Completed bookings that owed an amount and were never paid nor written off.

    A gateway attempt still 'processing' is left out: it may yet be paid, and a stale
    one is reported as stuck_processing already."""
    return conn.execute(
        """
        SELECT b.id, b.booking_reference, b.hospital_id, b.amount_minor, b.currency,
               b.completed_at
        FROM bookings AS b
        WHERE b.status = 'completed' AND b.amount_minor > 0
          AND NOT EXISTS (SELECT 1 FROM transactions AS t
                          WHERE t.booking_id = b.id AND t.kind = 'booking_payment'
                            AND t.status IN ('processing', 'completed', 'partially_refunded',
                                             'refunded'))
          AND NOT EXISTS (SELECT 1 FROM payment_write_offs AS w WHERE w.booking_id = b.id)
        ORDER BY b.id
        """
    ).fetchall()


def day_totals(conn, start, end):
    """What completed on one (local) day: counts and sums, for the run summary."""
    return conn.execute(
        """
        SELECT
          (SELECT count(*) FROM transactions WHERE kind = 'booking_payment'
             AND completed_at >= :start AND completed_at < :end) AS payments,
          (SELECT coalesce(sum(amount_minor), 0) FROM transactions WHERE kind = 'booking_payment'
             AND completed_at >= :start AND completed_at < :end) AS payments_minor,
          (SELECT count(*) FROM transactions WHERE kind = 'wallet_topup'
             AND completed_at >= :start AND completed_at < :end) AS topups,
          (SELECT coalesce(sum(amount_minor), 0) FROM transactions WHERE kind = 'wallet_topup'
             AND completed_at >= :start AND completed_at < :end) AS topups_minor,
          (SELECT count(*) FROM refunds WHERE created_at >= :start AND created_at < :end)
             AS refunds,
          (SELECT coalesce(sum(amount_minor), 0) FROM refunds
             WHERE created_at >= :start AND created_at < :end) AS refunds_minor
        """,
        {"start": start, "end": end},
    ).fetchone()


def insert_run(conn, *, run_date, triggered_by, now):
    return conn.execute(
        """
        INSERT INTO reconciliation_runs (run_date, status, triggered_by, started_at)
        VALUES (?, 'running', ?, ?) RETURNING *
        """,
        (run_date, triggered_by, now),
    ).fetchone()


def finish_run(conn, run_id, *, status, summary, now):
    return conn.execute(
        """
        UPDATE reconciliation_runs SET status = ?, summary = ?, finished_at = ?
        WHERE id = ? RETURNING *
        """,
        (status, summary, now, run_id),
    ).fetchone()


def insert_discrepancy(conn, *, run_id, kind, severity, entity_type, entity_id, details, now):
    """Record a finding unless the same one is already open; returns the new id or None."""
    row = conn.execute(
        """
        INSERT INTO reconciliation_discrepancies (run_id, kind, severity, entity_type, entity_id,
                                                  details, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (kind, entity_type, entity_id) WHERE status = 'open' DO NOTHING
        RETURNING id
        """,
        (run_id, kind, severity, entity_type, entity_id, details, now),
    ).fetchone()
    return row["id"] if row else None


def get_run(conn, run_id):
    return conn.execute("SELECT * FROM reconciliation_runs WHERE id = ?", (run_id,)).fetchone()


def list_runs(conn, limit, offset):
    return conn.execute(
        "SELECT * FROM reconciliation_runs ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()


def count_runs(conn):
    return conn.execute("SELECT count(*) AS n FROM reconciliation_runs").fetchone()["n"]


def _discrepancy_where(status, severity):
    clauses = []
    if status is not None:
        clauses.append("status = :status")
    if severity is not None:
        clauses.append("severity = :severity")
    return " AND ".join(clauses) or "1 = 1"


def list_discrepancies(conn, *, status, severity, limit, offset):
    return conn.execute(
        f"""
        SELECT * FROM reconciliation_discrepancies WHERE {_discrepancy_where(status, severity)}
        ORDER BY id DESC LIMIT :limit OFFSET :offset
        """,
        {"status": status, "severity": severity, "limit": limit, "offset": offset},
    ).fetchall()


def count_discrepancies(conn, *, status, severity):
    return conn.execute(
        f"""
        SELECT count(*) AS n FROM reconciliation_discrepancies
        WHERE {_discrepancy_where(status, severity)}
        """,
        {"status": status, "severity": severity},
    ).fetchone()["n"]


def resolve_discrepancy(conn, discrepancy_id, *, resolved_by, notes, now):
    """open -> resolved; None if it was not open."""
    return conn.execute(
        """
        UPDATE reconciliation_discrepancies
        SET status = 'resolved', resolved_by = ?, resolved_at = ?, resolution_notes = ?
        WHERE id = ? AND status = 'open'
        RETURNING *
        """,
        (resolved_by, now, notes, discrepancy_id),
    ).fetchone()


def resolve_open_finding(conn, *, kind, entity_type, entity_id, resolved_by, notes, now):
    """Close the open finding of ``kind`` about one entity (if there is one): what it
    reported was dealt with by the action calling this (e.g. a write-off)."""
    return conn.execute(
        """
        UPDATE reconciliation_discrepancies
        SET status = 'resolved', resolved_by = ?, resolved_at = ?, resolution_notes = ?
        WHERE kind = ? AND entity_type = ? AND entity_id = ? AND status = 'open'
        RETURNING *
        """,
        (resolved_by, now, notes, kind, entity_type, entity_id),
    ).fetchone()


def get_discrepancy(conn, discrepancy_id):
    return conn.execute(
        "SELECT * FROM reconciliation_discrepancies WHERE id = ?", (discrepancy_id,)
    ).fetchone()
