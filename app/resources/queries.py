"""SQL for hospital_resources and resource_audit_log.

The stored counters are what the hospital marks by hand; bookings hold units
only during their window (migration 0080, README "Scheduled capacity"), so the
live counters are computed (``LIVE_COUNTERS``) and a booking's window is checked
against the holds that overlap it (``holds_overlapping``) after ``lock_resource``.
"""
import json
from contextlib import contextmanager

from app.db import json_list, pick
from app.resources import TYPE_ORDER_SQL
from app.timeutil import to_iso, utcnow
from app.vocabulary import RESOURCE_TYPES


def get_resource(conn, hospital_id, resource_type):
    return conn.execute(
        "SELECT * FROM hospital_resources WHERE hospital_id = ? AND resource_type = ?",
        (hospital_id, resource_type),
    ).fetchone()


# The units approved bookings hold at :now (their window [scheduled_date,
# scheduled_end) contains it), for the resource row ``r``: read through
# idx_bookings_holds, so only the holds that have not ended are visited.
_HELD_NOW = """
    (SELECT coalesce(sum(b.allocated_units), 0) FROM booking_holds AS b
     WHERE b.hospital_id = r.hospital_id
       AND b.resource_type = r.resource_type
       AND b.scheduled_end > :now AND b.scheduled_date <= :now)
"""

# hospital_resources with its live counters: the stored counters are what the
# hospital marked by hand (walk-ins, reservations, maintenance); the units that
# approved bookings hold at :now are added to ``occupied`` and taken from
# ``available`` here (``held_now`` says how many).
LIVE_COUNTERS = f"""
    SELECT id, hospital_id, resource_type, total, available - held_now AS available,
           occupied + held_now AS occupied, reserved, maintenance, updated_by,
           last_updated, held_now
    FROM (SELECT r.*, {_HELD_NOW} AS held_now FROM hospital_resources AS r
          WHERE {{where}}) AS live
"""


def live_resource(conn, hospital_id, resource_type, now):
    """The resource row with its counters as seen at ``now`` (None: no such resource)."""
    return conn.execute(
        LIVE_COUNTERS.format(where="r.hospital_id = :hospital_id AND "
                                   "r.resource_type = :resource_type"),
        {"hospital_id": hospital_id, "resource_type": resource_type, "now": now},
    ).fetchone()


# pg_advisory_lock(classid, objid) class of "the schedule of one (hospital, type)" ("RCSC").
SCHEDULE_LOCK_CLASS = 0x52435343


@contextmanager
def schedule_lock(conn, hospital_id, resource_type):
    """Around a whole transaction that checks a window (approve, extend, set counts):
    on PostgreSQL a session advisory lock per (hospital, type), taken BEFORE the
    transaction begins. SERIALIZABLE takes its snapshot at the transaction's first
    statement; a lock taken inside it would make the second of two approvals wait
    and then go on with a snapshot that misses the first one's hold, to be refused
    only at its commit (and, under load, refused again on every re-run: 503s). Taken
    first, the second approval's snapshot already has the first one's hold in it.
    SQLite: nothing to do, BEGIN IMMEDIATE already serializes every writer."""
    if conn.dialect != "postgres":
        yield
        return
    key = (SCHEDULE_LOCK_CLASS, (hospital_id * 3 + RESOURCE_TYPES.index(resource_type)) % 2**31)
    conn.execute("SELECT pg_advisory_lock(?, ?)", key)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(?, ?)", key)


def lock_resource(conn, hospital_id, resource_type):
    """The stored row, locked until the transaction ends, so that two approvals of the
    same (hospital, type) check their windows one after the other. SQLite's BEGIN
    IMMEDIATE already holds the one write lock; PostgreSQL takes the row lock (and
    SERIALIZABLE would refuse the second of two overlapping writers anyway)."""
    return conn.execute(pick(conn, {
        "sqlite": "SELECT * FROM hospital_resources "
                  "WHERE hospital_id = ? AND resource_type = ?",
        "postgres": "SELECT * FROM hospital_resources "
                    "WHERE hospital_id = ? AND resource_type = ? FOR UPDATE",
    }), (hospital_id, resource_type)).fetchone()


def holds_overlapping(conn, hospital_id, resource_type, start, end, *, exclude_id=None):
    """The approved bookings of (hospital, type) whose window meets [start, end):
    rows of {id, booking_reference, scheduled_date, scheduled_end, units}, by start.
    idx_bookings_holds: the range scan starts at the first hold ending after ``start``.
    Every hold counts (the booking_holds view); the booking's own details (reference,
    patient, urgency) only where the caller may see the booking (PostgreSQL's row-level
    security: NULL otherwise, e.g. other patients' holds in a patient's create)."""
    return conn.execute(
        """
        SELECT h.id, b.booking_reference, b.patient_name, b.urgency, h.scheduled_date,
               h.scheduled_end, h.allocated_units AS units
        FROM booking_holds AS h
        LEFT JOIN bookings AS b ON b.id = h.id
        WHERE h.hospital_id = :hospital_id
          AND h.resource_type = :resource_type
          AND h.scheduled_end > :start AND h.scheduled_date < :end
          AND (:exclude_id IS NULL OR h.id <> :exclude_id)
        ORDER BY h.scheduled_date, h.id
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type, "start": start,
         "end": end, "exclude_id": exclude_id},
    ).fetchall()


def peak_held_from(conn, hospital_id, resource_type, now):
    """The most units approved bookings hold at any instant from ``now`` on (0: none):
    the busiest instant is ``now`` or the start of some later hold."""
    row = conn.execute(
        f"""
        WITH holds AS (
            SELECT scheduled_date, scheduled_end, allocated_units FROM booking_holds
            WHERE hospital_id = :hospital_id
              AND resource_type = :resource_type AND scheduled_end > :now
        ),
        instants AS (
            SELECT DISTINCT CASE WHEN scheduled_date > :now THEN scheduled_date
                                 ELSE {pick(conn, {"sqlite": ":now", "postgres": "CAST(:now AS timestamptz)"})}
                            END AS at
            FROM holds
        )
        SELECT coalesce(max(held), 0) AS peak FROM (
            SELECT i.at, sum(h.allocated_units) AS held
            FROM instants AS i JOIN holds AS h
              ON h.scheduled_date <= i.at AND h.scheduled_end > i.at
            GROUP BY i.at) AS per_instant
        """,
        {"hospital_id": hospital_id, "resource_type": resource_type, "now": now},
    ).fetchone()
    return row["peak"]


def insert_audit_entry(conn, *, hospital_id, resource_type, action, old_values, new_values,
                       changed_by, now, reason=None, booking_id=None, ip_address=None,
                       user_agent=None, api_key_id=None):
    """One append-only row per change: who (a person, or a hospital system's API key),
    when, what (old/new as JSON), why, from where."""
    conn.execute(
        """
        INSERT INTO resource_audit_log (hospital_id, resource_type, action, old_values, new_values,
            reason, booking_id, changed_by, api_key_id, ip_address, user_agent, created_at)
        VALUES (:hospital_id, :resource_type, :action, :old_values, :new_values,
            :reason, :booking_id, :changed_by, :api_key_id, :ip_address, :user_agent, :now)
        """,
        {
            "hospital_id": hospital_id, "resource_type": resource_type, "action": action,
            "old_values": json.dumps(old_values) if old_values is not None else None,
            "new_values": json.dumps(new_values) if new_values is not None else None,
            "reason": reason, "booking_id": booking_id, "changed_by": changed_by,
            "api_key_id": api_key_id,
            "ip_address": ip_address, "user_agent": (user_agent or "")[:500] or None, "now": now,
        },
    )


COUNTER_COLUMNS = ("total", "available", "occupied", "reserved", "maintenance")


def counters(row):
    """The counter part of a resource row, for audit old/new values."""
    return {column: row[column] for column in COUNTER_COLUMNS} if row else None


def _now_iso(now):
    # The hospitals domain reads resources without a clock of its own: "now" then.
    return now if now is not None else to_iso(utcnow())


def list_resources(conn, hospital_id, now=None):
    """The hospital's resources with their live counters at ``now`` (ISO text)."""
    return conn.execute(
        f"""
        {LIVE_COUNTERS.format(where="r.hospital_id = :hospital_id")}
        ORDER BY {TYPE_ORDER_SQL}
        """,
        {"hospital_id": hospital_id, "now": _now_iso(now)},
    ).fetchall()


def list_resources_of(conn, hospital_ids, now=None):
    """Resource rows of several hospitals at once (a page of search results), live
    counters at ``now``: the columns a search result shows, not ``*`` (a page holds
    ~60 rows, and every column of every row is a Python object made and a dict
    entry: -11 % of this query, RESULTS.md §0d)."""
    live = LIVE_COUNTERS.format(
        where=f"r.hospital_id IN {json_list(conn, ':ids', 'bigint')}")
    return conn.execute(
        f"""
        SELECT hospital_id, resource_type, total, available, occupied, reserved,
               maintenance, last_updated
        FROM ({live}) AS resources
        ORDER BY hospital_id, {TYPE_ORDER_SQL}
        """,
        {"ids": json.dumps(list(hospital_ids)), "now": _now_iso(now)},
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
    a.booking_id, a.changed_by, u.name AS changed_by_name, a.api_key_id,
    k.prefix AS api_key_prefix, k.name AS api_key_name, a.ip_address, a.user_agent,
    a.created_at
"""


def list_audit(conn, hospital_id, *, resource_type, limit, offset):
    """A hospital's resource changes, newest first."""
    rows = conn.execute(
        f"""
        SELECT {AUDIT_COLUMNS}
        FROM resource_audit_log AS a LEFT JOIN users AS u ON u.id = a.changed_by
        LEFT JOIN hospital_api_keys AS k ON k.id = a.api_key_id
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
