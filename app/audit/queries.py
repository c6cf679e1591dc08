"""SQL for the audit chains (audit_chain, audit_chain_checks). Functions take ``conn``,
never commit. Table names come only from ``CHAINED`` (they cannot be parameters)."""
import json

from app.db import json_list

# Each chained table and the columns its row hash covers, in order. Every column
# but field-encrypted ones: booking_status_history.notes is encrypted with AES-GCM
# (issue #18 item 1), which already authenticates it, and key rotation re-encrypts
# it in place, which must not break the chain.
CHAINED = {
    "resource_audit_log": (
        "id", "hospital_id", "resource_type", "action", "old_values", "new_values", "reason",
        "booking_id", "changed_by", "ip_address", "user_agent", "created_at", "api_key_id",
    ),
    "admin_audit_log": (
        "id", "actor_id", "action", "target_type", "target_id", "details", "ip_address",
        "created_at",
    ),
    "booking_status_history": (
        "id", "booking_id", "old_status", "new_status", "changed_by", "reason", "created_at",
    ),
}

# Columns a row hash leaves out, each with its reason (see above).
UNCHAINED = {"booking_status_history": ("notes",)}


def _columns(table):
    return ", ".join(CHAINED[table])


def head(conn, chain):
    """The last link of ``chain`` (None while it is empty)."""
    return conn.execute(
        """
        SELECT position, row_id, link_hash FROM audit_chain
        WHERE chain = ? ORDER BY position DESC LIMIT 1
        """,
        (chain,),
    ).fetchone()


def seal_floor(conn, chain, *, before):
    """A row id below which every row of ``chain`` is sealed or never will commit: the
    row of the last link sealed before ``before`` (see chain.LATE_COMMIT_WINDOW)."""
    row = conn.execute(
        """
        SELECT row_id FROM audit_chain
        WHERE chain = ? AND sealed_at < ?
        ORDER BY sealed_at DESC, position DESC LIMIT 1
        """,
        (chain, before),
    ).fetchone()
    return row["row_id"] if row else 0


def unsealed_rows(conn, table, *, above, limit):
    """Rows of ``table`` with an id above ``above`` and no link yet, in id order."""
    return conn.execute(
        f"""
        SELECT {_columns(table)} FROM {table} AS t
        WHERE t.id > ?
          AND NOT EXISTS (SELECT 1 FROM audit_chain AS c WHERE c.chain = ? AND c.row_id = t.id)
        ORDER BY t.id
        LIMIT ?
        """,
        (above, table, limit),
    ).fetchall()


def count_unsealed(conn, table):
    return conn.execute(
        f"""
        SELECT count(*) AS n FROM {table} AS t
        WHERE NOT EXISTS (SELECT 1 FROM audit_chain AS c WHERE c.chain = ? AND c.row_id = t.id)
        """,
        (table,),
    ).fetchone()["n"]


def insert_links(conn, links):
    conn.executemany(
        """
        INSERT INTO audit_chain (chain, position, row_id, row_hash, link_hash, sealed_at)
        VALUES (:chain, :position, :row_id, :row_hash, :link_hash, :sealed_at)
        """,
        links,
    )


def links_after(conn, chain, *, position, limit):
    return conn.execute(
        """
        SELECT id, position, row_id, row_hash, link_hash FROM audit_chain
        WHERE chain = ? AND position > ?
        ORDER BY position LIMIT ?
        """,
        (chain, position, limit),
    ).fetchall()


def rows_by_id(conn, table, ids):
    rows = conn.execute(
        f"SELECT {_columns(table)} FROM {table} WHERE id IN {json_list(conn, ':ids', 'bigint')}",
        {"ids": json.dumps(ids)},
    ).fetchall()
    return {row["id"]: row for row in rows}


def insert_check(conn, *, checked_at, status, links_checked, unsealed, problem):
    conn.execute(
        """
        INSERT INTO audit_chain_checks (checked_at, status, links_checked, unsealed, problem)
        VALUES (:checked_at, :status, :links_checked, :unsealed, :problem)
        """,
        {"checked_at": checked_at, "status": status, "links_checked": links_checked,
         "unsealed": unsealed, "problem": problem},
    )


def latest_check(conn):
    return conn.execute(
        """
        SELECT checked_at, status, links_checked, unsealed, problem
        FROM audit_chain_checks ORDER BY id DESC LIMIT 1
        """
    ).fetchone()
