"""SQL for hospital_resources and resource_audit_log.

``allocate_units`` and ``release_units`` are the only way capacity moves for a
booking: each is ONE guarded UPDATE, so the availability check and the change
cannot be separated by another writer (a SELECT followed by an UPDATE could both
see the last unit free and hand it out twice).
"""
import json

from app.db import json_list
from app.resources import TYPE_ORDER_SQL


def get_resource(conn, hospital_id, resource_type):
    return conn.execute(
        "SELECT * FROM hospital_resources WHERE hospital_id = ? AND resource_type = ?",
        (hospital_id, resource_type),
    ).fetchone()


def allocate_units(conn, hospital_id, resource_type, units, now):
    """available -= units, occupied += units if enough is available.

    Returns the row after the change, or None if not enough was available."""
    return conn.execute(
        """
        UPDATE hospital_resources
        SET available = available - :units, occupied = occupied + :units, last_updated = :now
        WHERE hospital_id = :hospital_id AND resource_type = :resource_type
          AND available >= :units
        RETURNING *
        """,
        {"units": units, "now": now, "hospital_id": hospital_id, "resource_type": resource_type},
    ).fetchone()


def release_units(conn, hospital_id, resource_type, units, now):
    """Give back exactly what an allocation took: the row after the change, or None.

    The units go back to `available` only while they are still counted as
    occupied (an authority may have re-counted occupancy meanwhile); the CHECK
    constraints keep every counter non-negative either way.
    """
    return conn.execute(
        """
        UPDATE hospital_resources
        SET available = available + :units, occupied = occupied - :units, last_updated = :now
        WHERE hospital_id = :hospital_id AND resource_type = :resource_type
          AND occupied >= :units
        RETURNING *
        """,
        {"units": units, "now": now, "hospital_id": hospital_id, "resource_type": resource_type},
    ).fetchone()


def insert_audit_entry(conn, *, hospital_id, resource_type, action, old_values, new_values,
                       changed_by, now, reason=None, booking_id=None, ip_address=None,
                       user_agent=None):
    """One append-only row per change: who, when, what (old/new as JSON), why, from where."""
    conn.execute(
        """
        INSERT INTO resource_audit_log (hospital_id, resource_type, action, old_values, new_values,
            reason, booking_id, changed_by, ip_address, user_agent, created_at)
        VALUES (:hospital_id, :resource_type, :action, :old_values, :new_values,
            :reason, :booking_id, :changed_by, :ip_address, :user_agent, :now)
        """,
        {
            "hospital_id": hospital_id, "resource_type": resource_type, "action": action,
            "old_values": json.dumps(old_values) if old_values is not None else None,
            "new_values": json.dumps(new_values) if new_values is not None else None,
            "reason": reason, "booking_id": booking_id, "changed_by": changed_by,
            "ip_address": ip_address, "user_agent": (user_agent or "")[:500] or None, "now": now,
        },
    )


COUNTER_COLUMNS = ("total", "available", "occupied", "reserved", "maintenance")


def counters(row):
    """The counter part of a resource row, for audit old/new values."""
    return {column: row[column] for column in COUNTER_COLUMNS} if row else None


def list_resources(conn, hospital_id):
    return conn.execute(
        f"""
        SELECT * FROM hospital_resources WHERE hospital_id = ?
        ORDER BY {TYPE_ORDER_SQL}
        """,
        (hospital_id,),
    ).fetchall()


def list_resources_of(conn, hospital_ids):
    """Resource rows of several hospitals at once (a page of search results): the
    columns a search result shows, not ``*`` (a page holds ~60 rows, and every
    column of every row is a Python object made and a dict entry: -11 % of this
    query, RESULTS.md §0d)."""
    return conn.execute(
        f"""
        SELECT hospital_id, resource_type, total, available, occupied, reserved,
               maintenance, last_updated
        FROM hospital_resources
        WHERE hospital_id IN {json_list(conn, ":ids", "bigint")}
        ORDER BY hospital_id, {TYPE_ORDER_SQL}
        """,
        {"ids": json.dumps(list(hospital_ids))},
    ).fetchall()


def upsert_counts(conn, *, hospital_id, resource_type, total, occupied, reserved, maintenance,
                  updated_by, now):
    """Set the counters of (hospital, type), creating the row if absent.

    ``available`` is derived here; when it would be negative the table's CHECKs
    refuse the write (IntegrityError -> 409), so the invariant never depends on
    the caller having checked first.
    """
    return conn.execute(
        """
        INSERT INTO hospital_resources (hospital_id, resource_type, total, available, occupied,
                                        reserved, maintenance, updated_by, last_updated)
        VALUES (:hospital_id, :resource_type, :total,
                :total - :occupied - :reserved - :maintenance,
                :occupied, :reserved, :maintenance, :updated_by, :now)
        ON CONFLICT (hospital_id, resource_type) DO UPDATE SET
            total = excluded.total, available = excluded.available,
            occupied = excluded.occupied, reserved = excluded.reserved,
            maintenance = excluded.maintenance, updated_by = excluded.updated_by,
            last_updated = excluded.last_updated
        RETURNING *
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type, "total": total,
         "occupied": occupied, "reserved": reserved, "maintenance": maintenance,
         "updated_by": updated_by, "now": now},
    ).fetchone()


AUDIT_COLUMNS = """
    a.id, a.hospital_id, a.resource_type, a.action, a.old_values, a.new_values, a.reason,
    a.booking_id, a.changed_by, u.name AS changed_by_name, a.ip_address, a.user_agent,
    a.created_at
"""


def list_audit(conn, hospital_id, *, resource_type, limit, offset):
    """A hospital's resource changes, newest first."""
    rows = conn.execute(
        f"""
        SELECT {AUDIT_COLUMNS}
        FROM resource_audit_log AS a LEFT JOIN users AS u ON u.id = a.changed_by
        WHERE a.hospital_id = :hospital_id
          AND (:resource_type IS NULL OR a.resource_type = :resource_type)
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT :limit OFFSET :offset
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type,
         "limit": limit, "offset": offset},
    ).fetchall()
    for row in rows:
        for column in ("old_values", "new_values"):
            row[column] = json.loads(row[column]) if row[column] is not None else None
    return rows


def count_audit(conn, hospital_id, *, resource_type):
    return conn.execute(
        """
        SELECT count(*) AS n FROM resource_audit_log
        WHERE hospital_id = :hospital_id
          AND (:resource_type IS NULL OR resource_type = :resource_type)
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type},
    ).fetchone()["n"]


def counters_before(conn, hospital_id, resource_type, before):
    """The counters the last change before ``before`` left (None: no change before it)."""
    row = conn.execute(
        """
        SELECT new_values FROM resource_audit_log
        WHERE hospital_id = :hospital_id AND resource_type = :resource_type
          AND created_at < :before
        ORDER BY created_at DESC, id DESC
        LIMIT 1
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type, "before": before},
    ).fetchone()
    return json.loads(row["new_values"]) if row and row["new_values"] is not None else None


def counter_changes_since(conn, hospital_id, since):
    """Every change of the hospital's counters from ``since`` on, oldest first:
    rows of {resource_type, counters (after the change, None for a deletion), created_at}."""
    rows = conn.execute(
        """
        SELECT resource_type, new_values, created_at FROM resource_audit_log
        WHERE hospital_id = :hospital_id AND created_at >= :since
        ORDER BY created_at, id
        """,
        {"hospital_id": hospital_id, "since": since},
    ).fetchall()
    return [{"resource_type": row["resource_type"], "created_at": row["created_at"],
             "counters": json.loads(row["new_values"]) if row["new_values"] is not None else None}
            for row in rows]
