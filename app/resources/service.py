"""Resource rules: live counts per (hospital, type), set by the hospital's authority
or an admin, every change audited.

The stored counters are what the hospital marks by hand (README "Scheduled
capacity"): ``occupied`` (walk-ins), ``reserved``, ``maintenance``, and
``available`` = total - those, never set directly (the table's CHECKs keep every
counter non-negative and the sum exact). Approved bookings hold units only
during their window; what the API shows is live: the holds whose window contains
now are added to ``occupied`` and taken from ``available``
(app.resources.queries.live_counters). An update locks the row, as an approval
does, and refuses marks that would leave less than the approved bookings hold at
their busiest instant from now on.
"""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.admin.queries import insert_audit_entry as insert_admin_audit
from app.auth.policy import is_admin
from app.crypto.fields import open_row
from app.db import transaction
from app.errors import Conflict, NotFound, Unprocessable
from app.hospitals.service import managed_hospital, visible_hospital
from app.resources import queries, schedule
from app.timeutil import from_iso, local_date, to_iso, utcnow

SETTABLE = ("total", "occupied", "reserved", "maintenance")


def list_for_hospital(conn, hospital_id, actor, *, now=None):
    """Live counters at ``now`` (default: the clock's now, for the console's pages).

    :raise 404: the hospital is not visible to the caller."""
    visible_hospital(conn, hospital_id, actor)
    return queries.list_resources(conn, hospital_id, to_iso(now or utcnow()))


def availability(conn, hospital_id, resource_type, actor, *, now=None, start=None, end=None):
    """Today's live counters; with a window [start, end) also the units free for the
    whole of it (the fewest free at any instant of it, from now on).

    :raise 404: hospital not visible, or it has no resource of this type.
    :raise 422: a bad window (app.resources.schedule.checked_window).
    """
    visible_hospital(conn, hospital_id, actor)
    now = now or utcnow()
    row = queries.live_resource(conn, hospital_id, resource_type, to_iso(now))
    if row is None:
        raise NotFound(f"This hospital has no {resource_type}.")
    answer = {**row, "is_available": row["available"] > 0}
    window = schedule.checked_window(start, end, now)
    if window is None:
        return answer
    start, end = window
    peak = queries.peak_held(conn, hospital_id, resource_type, to_iso(start), to_iso(end))
    free = row["available"] + row["held_now"]  # what bookings may hold: total - marks
    window_available = max(0, free - peak)
    return {**answer, "window": {"from": to_iso(start), "to": to_iso(end),
                                 "available": window_available,
                                 "is_available": window_available > 0}}


def day_schedule(conn, hospital_id, resource_type, actor, *, day, now):
    """The hospital's calendar ``day`` (its time zone) for one type: the approved holds
    that meet it and, hour by hour, the units free for the whole hour.

    :raise 404: the caller does not manage this hospital, or it has no such resource.
    """
    hospital = managed_hospital(conn, hospital_id, actor)
    zone = ZoneInfo(hospital["timezone"])
    day = day or local_date(now, hospital["timezone"])
    row = queries.live_resource(conn, hospital_id, resource_type, to_iso(now))
    if row is None:
        raise NotFound(f"This hospital has no {resource_type}.")
    start = datetime.combine(day, time.min, zone)
    end = datetime.combine(day + timedelta(days=1), time.min, zone)  # 23 or 25 h on DST days
    holds = queries.holds_overlapping(conn, hospital_id, resource_type, to_iso(start),
                                      to_iso(end))
    free = row["available"] + row["held_now"]
    hours = []
    hour_start = start
    while hour_start < end:
        hour_end = min(hour_start + timedelta(hours=1), end)
        steps = schedule.levels(holds, hour_start, hour_end)
        held = max(level for _, level in steps)
        hours.append({"from": to_iso(hour_start), "to": to_iso(hour_end), "held": held,
                      "available": max(0, free - held)})
        hour_start = hour_end
    return {"hospital_id": hospital_id, "resource_type": resource_type, "date": day,
            "timezone": hospital["timezone"], "total": row["total"],
            "marked_unavailable": row["total"] - free,
            "holds": [_with_patient(hold) for hold in holds], "hours": hours}


def _with_patient(hold):
    """A hold with its patient's name opened (sealed in the bookings table); only for the
    schedule page, so the capacity checks of every create never pay for it."""
    opened = open_row("bookings", hold)
    return {**{key: value for key, value in hold.items() if key != "personal"},
            "patient_name": opened["patient_name"]}


def set_counts(conn, hospital_id, resource_type, changes, actor, *, reason, ip_address,
               user_agent, now):
    """Set some or all counters (the rest keep their value), creating the row if absent.

    :raise 404: the caller does not manage this hospital.
    :raise 422: creating a row without ``total``.
    :raise 409: the counts do not add up (available would be negative).
    """
    stamp = to_iso(now)
    with queries.schedule_lock(conn, hospital_id, resource_type), transaction(conn):
        managed_hospital(conn, hospital_id, actor)
        # locked first, as an approval locks it: no hold can be approved meanwhile
        old = queries.lock_resource(conn, hospital_id, resource_type)
        if old is None and "total" not in changes:
            raise Unprocessable(errors={"json": {"total": ["Required to create this resource."]}})
        counts = {name: changes.get(name, old[name] if old else 0) for name in SETTABLE}
        in_use = counts["occupied"] + counts["reserved"] + counts["maintenance"]
        if in_use > counts["total"]:
            # The CHECKs would refuse the write anyway (409); this says why.
            raise Conflict(
                f"total ({counts['total']}) is below occupied + reserved + maintenance ({in_use}).",
                errors={"json": {"total": [f"Must be at least {in_use}."]}},
            )
        live_before = queries.live_resource(conn, hospital_id, resource_type, stamp)
        peak = queries.peak_held_from(conn, hospital_id, resource_type, stamp)
        if in_use + peak > counts["total"]:
            raise Conflict(
                f"Approved bookings hold up to {peak} {resource_type} at once from now on; "
                f"with {in_use} marked occupied, reserved or in maintenance that exceeds the "
                f"total ({counts['total']}).",
                errors={"json": {"total": [f"Must be at least {in_use + peak}."]}},
            )
        new = queries.upsert_counts(
            conn, hospital_id=hospital_id, resource_type=resource_type, **counts,
            updated_by=actor.id, now=stamp,
        )
        action = "create" if old is None else "update"
        live = queries.live_resource(conn, hospital_id, resource_type, stamp)
        # live counters, as the allocate/release rows record them (the occupancy chart
        # replays them): the marks plus what bookings hold at this moment
        queries.insert_audit_entry(
            conn, hospital_id=hospital_id, resource_type=resource_type, action=action,
            old_values=queries.counters(live_before), new_values=queries.counters(live),
            changed_by=actor.id, now=stamp, reason=reason, ip_address=ip_address,
            user_agent=user_agent, api_key_id=getattr(actor, "api_key_id", None),
        )
        if is_admin(actor):
            insert_admin_audit(
                conn, actor_id=actor.id, action=f"resource.{action}", target_type="hospital",
                target_id=hospital_id, ip_address=ip_address, now=stamp,
                details={"resourceType": resource_type, "old": queries.counters(old),
                         "new": queries.counters(new), "reason": reason},
            )
    return live


def audit_log(conn, hospital_id, actor, *, resource_type, limit, offset):
    """:raise 404: the caller does not manage this hospital."""
    managed_hospital(conn, hospital_id, actor)
    total = queries.count_audit(conn, hospital_id, resource_type=resource_type)
    rows = queries.list_audit(conn, hospital_id, resource_type=resource_type,
                              limit=limit, offset=offset)
    return rows, total


def _ratios(row):
    total = row["total"]
    if total == 0:
        return {"occupancy_rate": None, "utilization_rate": None}
    return {
        "occupancy_rate": round(row["occupied"] / total, 4),
        "utilization_rate": round((total - row["available"]) / total, 4),
    }


def utilization(conn, hospital_id, actor, *, now=None):
    """Occupancy per type and overall, live at ``now``.

    :raise 404: the caller does not manage this hospital."""
    managed_hospital(conn, hospital_id, actor)
    rows = queries.list_resources(conn, hospital_id, to_iso(now or utcnow()))
    overall = {name: sum(row[name] for row in rows) for name in queries.COUNTER_COLUMNS}
    return {
        "hospital_id": hospital_id,
        "resources": [{**row, **_ratios(row)} for row in rows],
        "overall": {**overall, **_ratios(overall)},
    }


def occupancy_history(conn, hospital_id, actor, *, now, days=30):
    """Each resource type's occupancy over the last ``days`` calendar days of the
    hospital (today included), replayed from the resource audit log, which records
    the counters after every change (an authority's edit, a booking's allocation or
    release).

    Returns ``{"days": [date, ...], "series": {type: [point or None per day]}}``; a
    point is ``{"peak": the most units occupied at any moment of the day, "total":
    the total at the end of the day}``; None for days before the type's first
    recorded change. Types are those the hospital has now.

    :raise 404: the caller does not manage this hospital.
    """
    hospital = managed_hospital(conn, hospital_id, actor)
    zone = ZoneInfo(hospital["timezone"])
    first_day = local_date(now, hospital["timezone"]) - timedelta(days=days - 1)
    day_list = [first_day + timedelta(days=n) for n in range(days)]
    since = to_iso(datetime.combine(first_day, time.min, zone))
    types = [row["resource_type"] for row in queries.list_resources(conn, hospital_id)]

    changes_by_day = {}  # (type, day) -> counters after each change that day, in order
    for change in queries.counter_changes_since(conn, hospital_id, since):
        day = from_iso(change["created_at"]).astimezone(zone).date()
        changes_by_day.setdefault((change["resource_type"], day), []).append(change["counters"])

    series = {}
    for resource_type in types:
        state = queries.counters_before(conn, hospital_id, resource_type, since)
        points = []
        for day in day_list:
            peak = state["occupied"] if state else None
            for counters in changes_by_day.get((resource_type, day), []):
                state = counters or {"total": 0, "occupied": 0}
                peak = max(peak or 0, state["occupied"])
            points.append(None if state is None else {"peak": peak, "total": state["total"]})
        series[resource_type] = points
    return {"days": day_list, "series": series}
