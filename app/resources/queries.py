"""SQL for hospital_resources and resource_audit_log.

``allocate_units`` and ``release_units`` are the only way capacity moves for a
booking: each is ONE guarded UPDATE, so the availability check and the change
cannot be separated by another writer (the original checked, then updated).
"""
import json


def get_resource(conn, hospital_id, resource_type):
    return conn.execute(
        "SELECT * FROM hospital_resources WHERE hospital_id = ? AND resource_type = ?",
        (hospital_id, resource_type),
    ).fetchone()


def allocate_units(conn, hospital_id, resource_type, units, now):
    """available -= units, occupied += units if enough is available. True if it happened."""
    cursor = conn.execute(
        """
        UPDATE hospital_resources
        SET available = available - :units, occupied = occupied + :units, last_updated = :now
        WHERE hospital_id = :hospital_id AND resource_type = :resource_type
          AND available >= :units
        """,
        {"units": units, "now": now, "hospital_id": hospital_id, "resource_type": resource_type},
    )
    return cursor.rowcount == 1


def release_units(conn, hospital_id, resource_type, units, now):
    """Give back exactly what an allocation took. True if it happened.

    The units go back to `available` only while they are still counted as
    occupied (an authority may have re-counted occupancy meanwhile); the CHECK
    constraints keep every counter non-negative either way.
    """
    cursor = conn.execute(
        """
        UPDATE hospital_resources
        SET available = available + :units, occupied = occupied - :units, last_updated = :now
        WHERE hospital_id = :hospital_id AND resource_type = :resource_type
          AND occupied >= :units
        """,
        {"units": units, "now": now, "hospital_id": hospital_id, "resource_type": resource_type},
    )
    return cursor.rowcount == 1


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
