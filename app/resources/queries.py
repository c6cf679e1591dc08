"""SQL for hospital_resources and resource_audit_log.

The stored counters are what the hospital marks by hand; bookings hold units
only during their window (migration 0080, README "Scheduled capacity"), so the
live counters are computed (``live_counters``) and a booking's window is checked
against the holds that overlap it (``holds_overlapping``) after ``lock_resource``.
"""
import json
from datetime import timedelta

from app.db import json_list, pick, queue_lock
from app.resources import TYPE_ORDER_SQL
from app.timeutil import from_iso, to_iso, utcnow
from app.vocabulary import MAX_DURATION_HOURS, RESOURCE_TYPES


def get_resource(conn, hospital_id, resource_type):
    return conn.execute(
        "SELECT * FROM hospital_resources WHERE hospital_id = ? AND resource_type = ?",
        (hospital_id, resource_type),
    ).fetchone()


# Where the reads of the holds below stop. Each is one range of idx_bookings_holds
# on scheduled_end; without an upper end it would run to the hospital's last hold,
# which may be weeks ahead (at 1M bookings ~300 future holds per hospital and type,
# RESULTS.md §0f; the bound below made windowed availability 41-53 % faster there,
# §0i). A window lasts at most MAX_DURATION_HOURS (migration 0141 makes the database
# refuse a longer one), so a hold that contains :now ends by :now_bound, and one that
# starts before :end ends by :end_bound. Computed here rather than in SQL: PostgreSQL
# plans a range whose ends are plain values, and SQLite compares the same ISO text it
# stores.
NEVER = "9999-12-31T00:00:00.000000+00:00"  # after any stored instant: no bound
# The longest hold the database admits: SQLite's trigger (0141) lets a window exceed
# MAX_DURATION_HOURS by up to a second (its allowance for julianday()'s floating
# point), so the bound does too, or such a hold would fall outside the range.
_LONGEST_HOLD = timedelta(hours=MAX_DURATION_HOURS, seconds=1)


def _longest_hold_after(moment):
    if moment is None:
        return NEVER
    return to_iso(from_iso(moment) + _LONGEST_HOLD)


def with_hold_bounds(params):
    """``params`` (with :now and/or :end, ISO text or None) plus the bounds the holds'
    reads stop at: :now_bound and :end_bound (above), :end_or_never (:end, or NEVER
    for a window open at its end)."""
    now, end = params.get("now"), params.get("end")
    return {**params, "now_bound": _longest_hold_after(now),
            "end_bound": _longest_hold_after(end), "end_or_never": end or NEVER}


# The units approved bookings hold at :now (their window [scheduled_date,
# scheduled_end) contains it), for the resource row ``r``: one bounded range of
# idx_bookings_holds (parameters: with_hold_bounds).
_HELD_NOW = """
    (SELECT coalesce(sum(b.allocated_units), 0) FROM booking_holds AS b
     WHERE b.hospital_id = r.hospital_id
       AND b.resource_type = r.resource_type
       AND b.scheduled_end > :now AND b.scheduled_end <= :now_bound
       AND b.scheduled_date <= :now)
"""


def live_counters(where):
    """hospital_resources rows (``where``) with their live counters: the stored
    counters are what the hospital marked by hand (walk-ins, reservations,
    maintenance); the units that approved bookings hold at :now are added to
    ``occupied`` and taken from ``available`` here (``held_now`` says how many)."""
    return f"""
    SELECT id, hospital_id, resource_type, total, available - held_now AS available,
           occupied + held_now AS occupied, reserved, maintenance, updated_by,
           last_updated, held_now
    FROM (SELECT r.*, {_HELD_NOW} AS held_now FROM hospital_resources AS r
          WHERE {where}) AS live
"""


def live_resource(conn, hospital_id, resource_type, now):
    """The resource row with its counters as seen at ``now`` (None: no such resource)."""
    return conn.execute(
        live_counters("r.hospital_id = :hospital_id AND r.resource_type = :resource_type"),
        with_hold_bounds({"hospital_id": hospital_id, "resource_type": resource_type, "now": now}),
    ).fetchone()


# pg_advisory_lock(classid, objid) class of "the schedule of one (hospital, type)" ("RCSC").
SCHEDULE_LOCK_CLASS = 0x52435343


def schedule_lock(conn, hospital_id, resource_type):
    """Around a whole transaction that checks a window (approve, extend, set counts):
    ``with schedule_lock(...), transaction(conn):``. On PostgreSQL a queue_lock per
    (hospital, type): taken inside the transaction, the second of two approvals would
    wait and then go on with a snapshot that misses the first one's hold, to be
    refused at its commit (and, under load, on every re-run: 503s). Taken first, the
    second approval's snapshot already has the first one's hold in it."""
    return queue_lock(conn, SCHEDULE_LOCK_CLASS,
                      hospital_id * len(RESOURCE_TYPES) + RESOURCE_TYPES.index(resource_type))


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


# The approved holds of (hospital, type) whose window meets [:start, :end): one bounded
# range of idx_bookings_holds (parameters: with_hold_bounds).
_HOLDS_MEETING = """
        WHERE h.hospital_id = :hospital_id
          AND h.resource_type = :resource_type
          AND h.scheduled_end > :start AND h.scheduled_end <= :end_bound
          AND h.scheduled_date < :end
          AND (:exclude_id IS NULL OR h.id <> :exclude_id)
        ORDER BY h.scheduled_date, h.id
"""
# What a capacity check needs of them, all in the index (migration 0143): no booking
# row is read.
_HOLD_WINDOWS = """
        SELECT h.id, h.scheduled_date, h.scheduled_end, h.allocated_units AS units
        FROM booking_holds AS h
""" + _HOLDS_MEETING
# The same holds with their bookings' details, for the pages that show them.
_HOLDS_OVERLAPPING = """
        SELECT h.id, b.booking_reference, b.personal, b.patient_name, b.urgency, h.scheduled_date,
               h.scheduled_end, h.allocated_units AS units
        FROM booking_holds AS h
        LEFT JOIN bookings AS b ON b.id = h.id
""" + _HOLDS_MEETING


def _hold_parameters(hospital_id, resource_type, start, end, exclude_id):
    return with_hold_bounds({"hospital_id": hospital_id, "resource_type": resource_type,
                             "start": start, "end": end, "exclude_id": exclude_id})


def hold_windows(conn, hospital_id, resource_type, start, end, *, exclude_id=None):
    """The approved holds of (hospital, type) whose window meets [start, end) (ISO
    text), as a capacity check needs them: rows of {id, scheduled_date,
    scheduled_end, units}, by start; read from idx_bookings_holds alone."""
    return conn.execute(
        _HOLD_WINDOWS, _hold_parameters(hospital_id, resource_type, start, end, exclude_id),
    ).fetchall()


def holds_overlapping(conn, hospital_id, resource_type, start, end, *, exclude_id=None):
    """The approved bookings of (hospital, type) whose window meets [start, end):
    rows of {id, booking_reference, scheduled_date, scheduled_end, units}, by start.
    idx_bookings_holds: the range runs from the first hold ending after ``start`` to the
    last that can still start before ``end``.
    Every hold counts (the booking_holds view); the booking's own details (reference,
    patient, urgency) only where the caller may see the booking (PostgreSQL's row-level
    security: NULL otherwise, e.g. other patients' holds in a patient's create)."""
    return conn.execute(
        _HOLDS_OVERLAPPING, _hold_parameters(hospital_id, resource_type, start, end, exclude_id),
    ).fetchall()


# The most units approved bookings hold at any one instant of [:start, :end) (:end
# NULL: from :start on) for the resource row ``r``: a sweep over the holds that meet
# the window, each an event +units at its start (or at :start if it began before) and
# -units at its end (if inside the window), the running sum taken in time order with
# ends before starts at the same instant (windows are half open: a unit freed at 10:00
# can be taken at 10:00), its maximum the busiest instant. app.resources.schedule.
# levels walks the same steps in Python, for the day view and for an approval's first
# instant that does not fit; tests/resources/test_busiest_instant.py holds them equal.
# Both reads are one range of idx_bookings_holds: (hospital, type) equal, scheduled_end
# after :start and before the latest end a hold meeting the window can have (the
# ends: before :end), scheduled_date checked inside the index. One statement for every
# caller: /availability's window, search's minAvailable over a window, and the check
# of the hand-set counters (from now on), so the answer is computed once, one way.
# (A first form summed the holds at each hold's start inside the window, one index
# range per start: 3-6 times slower at 1M bookings, RESULTS.md §0f.)
_PEAK_HELD = """
    (SELECT coalesce(max(level), 0) FROM (
         SELECT sum(delta) OVER (ORDER BY at, delta ROWS UNBOUNDED PRECEDING) AS level
         FROM (SELECT CASE WHEN h.scheduled_date > :start THEN h.scheduled_date
                           ELSE {start} END AS at,
                      h.allocated_units AS delta
               FROM booking_holds AS h
               WHERE h.hospital_id = r.hospital_id AND h.resource_type = r.resource_type
                 AND h.scheduled_end > :start AND h.scheduled_end <= :end_bound
                 AND ({end} IS NULL OR h.scheduled_date < :end)
               UNION ALL
               SELECT h.scheduled_end, -h.allocated_units
               FROM booking_holds AS h
               WHERE h.hospital_id = r.hospital_id AND h.resource_type = r.resource_type
                 AND h.scheduled_end > :start AND h.scheduled_end < :end_or_never
              ) AS events) AS levels)
"""


def _peak_held(conn):
    # PostgreSQL cannot type a bare parameter that is only selected (CASE's ELSE) or
    # only tested for NULL; typed, the statement can also be prepared (app/db/postgres.py)
    return _PEAK_HELD.format(
        start=pick(conn, {"sqlite": ":start", "postgres": "CAST(:start AS timestamptz)"}),
        end=pick(conn, {"sqlite": ":end", "postgres": "CAST(:end AS timestamptz)"}))


def free_units_sql(conn, *, window):
    """SQL for the units of the resource row ``r`` that bookings can still take: the
    stored ``available`` (total minus what the hospital marked by hand) less what
    approved bookings hold at :now (``window`` False: the live counters' rule), or
    less the most they hold at any instant of [:start, :end) (``window`` True: free
    for the whole window). May be negative only where marks and holds already
    disagree; callers clamp at 0 where they show it."""
    return f"(r.available - {_peak_held(conn) if window else _HELD_NOW})"


def _peak_held_statement(conn):
    # r: the (hospital, type) asked about, whether or not its counters row exists yet
    return f"""
        SELECT {_peak_held(conn)} AS peak
        FROM (SELECT CAST(:hospital_id AS bigint) AS hospital_id,
                     CAST(:resource_type AS text) AS resource_type) AS r
    """


def peak_held(conn, hospital_id, resource_type, start, end=None):
    """The most units approved bookings of (hospital, type) hold at any one instant of
    [start, end) (ISO text; ``end`` None: from ``start`` on); 0 if none."""
    return conn.execute(_peak_held_statement(conn), with_hold_bounds({
        "hospital_id": hospital_id, "resource_type": resource_type, "start": start, "end": end,
    })).fetchone()["peak"]


def peak_held_from(conn, hospital_id, resource_type, now):
    """The most units approved bookings hold at any instant from ``now`` on (0: none)."""
    return peak_held(conn, hospital_id, resource_type, now)


def busiest_instant_statements(conn, hospital_id, resource_type, start, end):
    """(name, SQL, parameters) of the reads that find a window's busiest instant, for
    EXPLAIN (tests/resources/test_busiest_instant_plan.py, benchmarks/windows.py)."""
    return [
        ("peak held over a window", _peak_held_statement(conn),
         with_hold_bounds({"hospital_id": hospital_id, "resource_type": resource_type,
                           "start": start, "end": end})),
        ("holds meeting a window (approve, extend)",
         _HOLD_WINDOWS, _hold_parameters(hospital_id, resource_type, start, end, None)),
        ("holds overlapping a window, with their bookings (day view)",
         _HOLDS_OVERLAPPING, _hold_parameters(hospital_id, resource_type, start, end, None)),
        ("units held now (live counters)",
         live_counters("r.hospital_id = :hospital_id AND r.resource_type = :resource_type"),
         with_hold_bounds({"hospital_id": hospital_id, "resource_type": resource_type,
                           "now": start})),
    ]


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
        {live_counters("r.hospital_id = :hospital_id")}
        ORDER BY {TYPE_ORDER_SQL}
        """,
        with_hold_bounds({"hospital_id": hospital_id, "now": _now_iso(now)}),
    ).fetchall()


def list_resources_of(conn, hospital_ids, now=None):
    """Resource rows of several hospitals at once (a page of search results), live
    counters at ``now``: the columns a search result shows, not ``*`` (a page holds
    ~60 rows, and every column of every row is a Python object made and a dict
    entry: -11 % of this query, RESULTS.md §0d)."""
    live = live_counters(f"r.hospital_id IN {json_list(conn, ':ids', 'bigint')}")
    return conn.execute(
        f"""
        SELECT hospital_id, resource_type, total, available, occupied, reserved,
               maintenance, last_updated
        FROM ({live}) AS resources
        ORDER BY hospital_id, {TYPE_ORDER_SQL}
        """,
        with_hold_bounds({"ids": json.dumps(list(hospital_ids)), "now": _now_iso(now)}),
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
