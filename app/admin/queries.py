"""SQL for platform administration: the admin audit log, user listing and status,
platform statistics and the gateway configuration. Functions take ``conn``, never commit."""
import json

from app.auth.queries import USER_COLUMNS


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


_USER_FILTER = """
    (:role IS NULL OR role = :role)
    AND (:status IS NULL OR status = :status)
    AND (:hospital_id IS NULL OR hospital_id = :hospital_id)
"""


def list_users(conn, *, role, status, hospital_id, limit, offset):
    return conn.execute(
        f"""
        SELECT {USER_COLUMNS} FROM users
        WHERE {_USER_FILTER}
        ORDER BY id
        LIMIT :limit OFFSET :offset
        """,
        {"role": role, "status": status, "hospital_id": hospital_id,
         "limit": limit, "offset": offset},
    ).fetchall()


def count_users(conn, *, role, status, hospital_id):
    return conn.execute(
        f"""
        SELECT count(*) AS n FROM users
        WHERE {_USER_FILTER}
        """,
        {"role": role, "status": status, "hospital_id": hospital_id},
    ).fetchone()["n"]


def set_user_status(conn, user_id, status, now):
    conn.execute(
        "UPDATE users SET status = ?, updated_at = ? WHERE id = ?", (status, now, user_id)
    )


def count_hospitals_by_status(conn):
    return conn.execute("SELECT status, count(*) AS n FROM hospitals GROUP BY status").fetchall()


def count_bookings_by_status(conn):
    return conn.execute("SELECT status, count(*) AS n FROM bookings GROUP BY status").fetchall()


def count_users_by_role(conn):
    return conn.execute("SELECT role, count(*) AS n FROM users GROUP BY role").fetchall()


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
        {"gateway": gateway, "is_active": int(is_active), "mode": mode,
         "settings": json.dumps(settings), "now": now},
    )
