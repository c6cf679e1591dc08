"""SQL for platform administration: the admin audit log. Functions take ``conn``, never commit.

The log holds every admin and staff action that changes money or status (hospital
reviews, edits and staff, user status, wallet adjustments, refunds, discrepancy
resolutions, pricing and payment configuration).

What admins read and change elsewhere (users, statistics, the gateway configuration)
is asked of the tables' owners (auth, hospitals, bookings, payments)."""
import json

from app.db import where_clause


def insert_audit_entry(conn, *, actor_id, action, target_type, target_id, details, ip_address,
                       now):
    """One append-only row per admin action (``details`` is stored as JSON)."""
    conn.execute(
        """
        INSERT INTO admin_audit_log (actor_id, action, target_type, target_id, details,
                                     ip_address, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        (actor_id, action, target_type, target_id, json.dumps(details), ip_address, now),
    )


# Optional filters of the audit log: fixed fragments with a named parameter of the
# same key, so no input ever becomes SQL text.
AUDIT_FILTERS = {
    "actor_id": "a.actor_id = :actor_id",
    "action": "a.action = :action",
    "target_type": "a.target_type = :target_type",
    "target_id": "a.target_id = :target_id",
    "created_from": "a.created_at >= :created_from",
    "created_before": "a.created_at < :created_before",
}


def _audit_where(filters):
    return where_clause(AUDIT_FILTERS, filters)


def list_audit_entries(conn, filters, *, limit, offset):
    """Newest first, with the actor's name and email (``details`` still JSON text)."""
    return conn.execute(
        f"""
        SELECT a.id, a.actor_id, u.name AS actor_name, u.email AS actor_email, a.action,
               a.target_type, a.target_id, a.details, a.ip_address, a.created_at
        FROM admin_audit_log AS a LEFT JOIN users AS u ON u.id = a.actor_id
        {_audit_where(filters)}
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT :limit OFFSET :offset
        """,
        {**filters, "limit": limit, "offset": offset},
    ).fetchall()


def count_audit_entries(conn, filters):
    return conn.execute(
        f"SELECT count(*) AS n FROM admin_audit_log AS a {_audit_where(filters)}", filters
    ).fetchone()["n"]
