"""SQL for platform administration: the admin audit log. Functions take ``conn``, never commit.

What admins read and change elsewhere (users, statistics, the gateway configuration)
is asked of the tables' owners (auth, hospitals, bookings, payments)."""
import json


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
