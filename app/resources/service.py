"""Resource rules: live counts per (hospital, type), set by the hospital's authority
or an admin, every change audited.

``available`` is never set directly: it is total - occupied - reserved -
maintenance, and the table's CHECKs keep every counter non-negative and the sum
exact. Bookings move units concurrently (allocate/release in
app.resources.queries), so an update reads the current row and writes the new
one inside one BEGIN IMMEDIATE transaction: no booking can slip in between.
"""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.admin.queries import insert_audit_entry as insert_admin_audit
from app.auth.policy import is_admin
from app.db import transaction
from app.errors import Conflict, NotFound, Unprocessable
from app.hospitals.service import managed_hospital, visible_hospital
from app.resources import queries
from app.timeutil import from_iso, local_date, to_iso

SETTABLE = ("total", "occupied", "reserved", "maintenance")


def list_for_hospital(conn, hospital_id, actor):
    """:raise 404: the hospital is not visible to the caller."""
    visible_hospital(conn, hospital_id, actor)
    return queries.list_resources(conn, hospital_id)


def availability(conn, hospital_id, resource_type, actor):
    """:raise 404: hospital not visible, or it has no resource of this type."""
    visible_hospital(conn, hospital_id, actor)
    row = queries.get_resource(conn, hospital_id, resource_type)
    if row is None:
        raise NotFound(f"This hospital has no {resource_type}.")
    return {**row, "is_available": row["available"] > 0}


def set_counts(conn, hospital_id, resource_type, changes, actor, *, reason, ip_address,
               user_agent, now):
    """Set some or all counters (the rest keep their value), creating the row if absent.

    :raise 404: the caller does not manage this hospital.
    :raise 422: creating a row without ``total``.
    :raise 409: the counts do not add up (available would be negative).
    """
    stamp = to_iso(now)
    with transaction(conn):
        managed_hospital(conn, hospital_id, actor)
        old = queries.get_resource(conn, hospital_id, resource_type)
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
        new = queries.upsert_counts(
            conn, hospital_id=hospital_id, resource_type=resource_type, **counts,
            updated_by=actor.id, now=stamp,
        )
        action = "create" if old is None else "update"
        queries.insert_audit_entry(
            conn, hospital_id=hospital_id, resource_type=resource_type, action=action,
            old_values=queries.counters(old), new_values=queries.counters(new),
            changed_by=actor.id, now=stamp, reason=reason, ip_address=ip_address,
            user_agent=user_agent,
        )
        if is_admin(actor):
            insert_admin_audit(
                conn, actor_id=actor.id, action=f"resource.{action}", target_type="hospital",
                target_id=hospital_id, ip_address=ip_address, now=stamp,
                details={"resourceType": resource_type, "old": queries.counters(old),
                         "new": queries.counters(new), "reason": reason},
            )
    return new


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


def utilization(conn, hospital_id, actor):
    """Occupancy per type and overall. :raise 404: the caller does not manage this hospital."""
    managed_hospital(conn, hospital_id, actor)
    rows = queries.list_resources(conn, hospital_id)
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
