"""Booking rules: request, triage, the transitions with atomic capacity, lists.

Every write is one ``transaction(conn)`` (BEGIN IMMEDIATE) that holds the check
and the change it guards: the rate limit is counted, the reference is taken and
the booking inserted together; approval moves the booking (guarded UPDATE),
takes the unit (guarded UPDATE), writes the audit row and the payment due
together, so a hospital can never be overbooked however many workers race.

Who may see a booking: its patient, the authority of its hospital, an admin.
Everyone else gets 404, exactly as if it did not exist.
"""
import logging
import secrets
from contextlib import nullcontext
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.auth.account_tokens import require_verified_email
from app.auth.policy import can_see_booking, is_admin, manages_hospital, scope_for
from app.bookings import queries
from app.config import parse_rate_limit
from app.db import transaction
from app.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from app.hospitals.queries import get_hospital
from app.mail import notices
from app.paging import page_total
from app.payments.hooks import on_booking_cancelled
from app.payments.queries import insert_transaction
from app.pricing.queries import get_active_price
from app.pricing.rules import calculate_amount
from app.resources import queries as resources
from app.resources import schedule
from app.timeutil import from_iso, local_date, to_iso
from app.vocabulary import BOOKING_STATUSES as STATUSES
from app.vocabulary import URGENCIES_MOST_URGENT_FIRST as URGENCIES

log = logging.getLogger(__name__)

# How far ahead a booking may be requested: beyond this a date is a typo, not a plan.
MAX_DAYS_AHEAD = 366




# --- who may see and act ------------------------------------------------------

def _visible(booking, actor):
    """``booking`` if the actor may see it; 404 for a missing one and for anyone else's."""
    if booking is None or not can_see_booking(actor, booking):
        raise NotFound("Booking not found.")
    return booking


def _visible_booking(conn, booking_id, actor):
    return _visible(queries.get_booking(conn, booking_id), actor)


def _managed_booking(conn, booking_id, actor):
    """A booking the actor may approve, decline or complete (staff of its hospital)."""
    booking = queries.get_booking(conn, booking_id)
    if booking is None or not manages_hospital(actor, booking["hospital_id"]):
        raise NotFound("Booking not found.")
    return booking


def _staff_hospital(conn, hospital_id, actor):
    hospital = get_hospital(conn, hospital_id)
    if hospital is None or not manages_hospital(actor, hospital_id):
        raise NotFound("Hospital not found.")
    return hospital


def _require_status(booking, expected, action):
    if booking["status"] != expected:
        raise Conflict(
            f"Booking {booking['booking_reference']} is {booking['status']}, not {expected}; "
            f"it cannot be {action}."
        )


# --- create -------------------------------------------------------------------

def _invalid(field, message):
    """A 422 in the same shape as schema errors."""
    return Unprocessable(errors={"json": {field: [message]}})


def create_booking(conn, *, actor, data, now, config):
    """A pending booking for ``actor``; returns it with its new reference.

    :raise 404: unknown hospital, or one that is not approved (pending, rejected
        and suspended hospitals take no bookings and are not public).
    :raise 409: the hospital has no unit of that type free for the whole window
        (the approved holds and the units it marked unavailable leave none at some
        instant of it), or the same user already holds an open booking for that
        hospital, type and day (in the hospital's time zone).
    :raise 403: REQUIRE_VERIFIED_EMAIL is on and the actor's address is not verified.
    :raise 422: scheduledDate not in the future or too far ahead.
    :raise 429: past BOOKING_RATE_LIMIT, with Retry-After.
    """
    require_verified_email(conn, actor.id, config, "booking")
    scheduled = data["scheduled_date"]
    if scheduled <= now:
        raise _invalid("scheduledDate", "Must be in the future.")
    if scheduled > now + timedelta(days=MAX_DAYS_AHEAD):
        raise _invalid("scheduledDate", f"Must be within {MAX_DAYS_AHEAD} days from now.")
    rate_limit = parse_rate_limit(config["BOOKING_RATE_LIMIT"], "BOOKING_RATE_LIMIT")
    hospital_id, resource_type = data["hospital_id"], data["resource_type"]
    now_iso = to_iso(now)
    year = local_date(now, config["TIMEZONE"]).year

    # Every booking of the year takes the next number of one counter row: its
    # writers queue for it (on PostgreSQL; SQLite's writers queue anyway) rather
    # than abort each other, and a refused request still takes no number.
    with queries.reference_counter_lock(conn, year), transaction(conn):
        # Counted inside the write lock, so parallel requests on other workers
        # see each other's bookings and cannot all slip under the limit.
        if rate_limit:
            _enforce_rate_limit(conn, actor.id, rate_limit, now)
        hospital = get_hospital(conn, hospital_id)
        if hospital is None or hospital["status"] != "approved":
            raise NotFound("Hospital not found or not taking bookings.")
        resource = resources.get_resource(conn, hospital_id, resource_type)
        if resource is None:
            raise Conflict(f"No {resource_type} available at this hospital: it has none.")
        scheduled_end = scheduled + timedelta(hours=data["estimated_duration_hours"])
        _require_window_fits(conn, resource, scheduled, scheduled_end, now=now,
                             action="be booked")
        scheduled_day = local_date(scheduled, hospital["timezone"]).isoformat()
        existing = queries.get_open_booking_for_day(
            conn, user_id=actor.id, hospital_id=hospital_id,
            resource_type=resource_type, scheduled_day=scheduled_day,
        )
        if existing:
            raise Conflict(
                f"You already have a {existing['status']} booking "
                f"({existing['booking_reference']}) for {resource_type} at this hospital "
                f"on {scheduled_day}."
            )
        reference = f"RC-{year}-{queries.next_reference_number(conn, year):06d}"
        booking = queries.insert_booking(conn, {
            **data,
            "notes": data.get("notes") or None,
            "booking_reference": reference,
            "user_id": actor.id,
            "scheduled_date": to_iso(scheduled),
            "scheduled_end": to_iso(scheduled_end),
            "scheduled_day": scheduled_day,
            "currency": config["CURRENCY"],
            "status_changed_by": actor.id,
            "now": now_iso,
        })
    return _as_read(booking, hospital)


def _enforce_rate_limit(conn, user_id, rate_limit, now):
    count, seconds = rate_limit
    window = timedelta(seconds=seconds)
    oldest_counted = queries.nth_latest_booking_since(conn, user_id, to_iso(now - window), count)
    if oldest_counted is not None:
        retry_after = (from_iso(oldest_counted) + window - now).total_seconds()
        raise TooManyRequests(
            f"At most {count} booking requests per {seconds} seconds; try again later.",
            retry_after=retry_after,
        )


# --- scheduled capacity ---------------------------------------------------------

def _require_window_fits(conn, resource, start, end, *, now, action, exclude_id=None):
    """409 unless one more unit fits at every instant of [start, end) from ``now`` on:
    the approved holds overlapping it plus one stay within the units the hospital
    has not marked unavailable (README "Scheduled capacity"). The message names the
    first instant that does not fit."""
    start = max(start, now)
    if end <= start:
        raise Conflict(f"The booking's window ended at {to_iso(end)}; it cannot {action}.")
    holds = resources.hold_windows(
        conn, resource["hospital_id"], resource["resource_type"], to_iso(start), to_iso(end),
        exclude_id=exclude_id,
    )
    steps = schedule.levels(holds, start, end)
    full_at = schedule.first_instant_over(steps, resource["available"])
    if full_at is not None:
        held = dict(steps)[full_at]
        raise Conflict(
            f"No {resource['resource_type']} available at {to_iso(full_at)}: {held} held by approved "
            f"bookings and {resource['total'] - resource['available']} marked unavailable, "
            f"of {resource['total']}; the booking cannot {action}.",
            errors={"json": {"scheduledDate": [f"Full at {to_iso(full_at)}."]}},
        )


def _schedule_lock(conn, booking_id):
    """resources.schedule_lock for the booking's (hospital, type), taken before the
    transaction (so read outside it: a booking's hospital and type never change)."""
    place = queries.get_booking_resource(conn, booking_id)
    if place is None:
        return nullcontext()  # 404 inside, as for any other missing booking
    return resources.schedule_lock(conn, *place)


def _window(booking):
    return from_iso(booking["scheduled_date"]), from_iso(booking["scheduled_end"])


# --- transitions --------------------------------------------------------------

def approve_booking(conn, booking_id, *, actor, reason, now, ip_address, user_agent,
                    notes=None):
    """pending -> approved: one unit allocated and the payment due created, atomically.
    ``notes``: the hospital's notes to the patient (on the booking, in its history
    and in the patient's notification).

    :raise 404: not a booking of the actor's hospital.
    :raise 409: not pending (any more), its window does not fit (the message names
        the first instant that is full) or has ended, hospital not approved, or no
        active price for the resource type.
    """
    now_iso = to_iso(now)
    with _schedule_lock(conn, booking_id), transaction(conn):
        booking = _managed_booking(conn, booking_id, actor)
        _require_status(booking, "pending", "approved")
        hospital_id, resource_type = booking["hospital_id"], booking["resource_type"]
        # First the resource row, locked: approvals of one (hospital, type) check
        # their windows one after the other (app.resources.queries.lock_resource).
        resource = resources.lock_resource(conn, hospital_id, resource_type)
        if resource is None:
            raise Conflict(f"The hospital has no {resource_type}; cannot approve.")
        hospital = get_hospital(conn, hospital_id)
        if hospital["status"] != "approved":
            raise Conflict("The hospital is not approved; it cannot take bookings.")
        price = get_active_price(conn, hospital_id, resource_type)
        if price is None:
            raise Conflict(
                f"The hospital has no active price for {resource_type}; "
                "set one before approving."
            )
        amount_minor, _ = calculate_amount(
            price, booking["estimated_duration_hours"], booking["urgency"]
        )
        start, end = _window(booking)
        _require_window_fits(conn, resource, start, end, now=now, action="be approved")
        before = resources.live_resource(conn, hospital_id, resource_type, now_iso)
        approved = queries.approve_booking(
            conn, booking_id, reference=booking["booking_reference"], actor_id=actor.id,
            reason=reason, notes=notes, amount_minor=amount_minor, currency=price["currency"], now=now_iso,
        )
        if approved is None:
            raise Conflict("The booking is no longer pending.")
        _audit_hold(conn, booking, "allocate", before, why="approved", actor_id=actor.id,
                    now_iso=now_iso, ip_address=ip_address, user_agent=user_agent)
        # A free booking (zero price) owes nothing, so it gets no payment row.
        if amount_minor > 0:
            insert_transaction(
                conn, transaction_ref=_transaction_ref(booking), kind="booking_payment",
                booking_id=booking_id, user_id=booking["user_id"], hospital_id=hospital_id,
                amount_minor=amount_minor, currency=price["currency"], method=None,
                status="pending", now=now_iso,
            )
        notices.booking_decided(conn, approved, now=now)
    return _as_read(approved, hospital)


def extend_booking(conn, booking_id, *, actor, hours, reason, now, ip_address, user_agent):
    """Give an approved booking a new length (longer or shorter) from the same start.

    :raise 404: not a booking of the actor's hospital.
    :raise 409: not approved; the new window does not fit (as for approval); or it
        would end before now (complete the booking instead).
    """
    now_iso = to_iso(now)
    with _schedule_lock(conn, booking_id), transaction(conn):
        booking = _managed_booking(conn, booking_id, actor)
        _require_status(booking, "approved", "extended")
        resource = resources.lock_resource(conn, booking["hospital_id"],
                                           booking["resource_type"])
        start, old_end = _window(booking)
        end = start + timedelta(hours=hours)
        if end <= now:
            raise Conflict(f"The new window would have ended at {to_iso(end)}; "
                           "complete the booking instead.")
        if end > old_end:
            # only the added part can collide; checked with the booking's own hold left out
            _require_window_fits(conn, resource, start, end, now=now, action="be extended",
                                 exclude_id=booking_id)
        before = resources.live_resource(conn, booking["hospital_id"], booking["resource_type"],
                                         now_iso)
        if queries.change_window(conn, booking_id, duration_hours=hours,
                                 scheduled_end=to_iso(end), actor_id=actor.id,
                                 now=now_iso) is None:
            raise Conflict("The booking is no longer approved.")
        why = f"{'extended' if end > old_end else 'shortened'} to {hours} h"
        _audit_hold(conn, booking, "allocate", before,
                    why=why + (f" ({reason})" if reason else ""),
                    actor_id=actor.id, now_iso=now_iso, ip_address=ip_address,
                    user_agent=user_agent)
    return queries.get_booking(conn, booking_id)


def _as_read(row, hospital):
    """A bookings row as queries.get_booking reads it (BOOKING_SELECT): saves reading
    back, after the commit, the row the write itself returned. A booking just created
    or just approved has no payment yet: once approved it owes its amount."""
    owes = row["status"] == "approved" and (row["amount_minor"] or 0) > 0
    return {**row, "hospital_name": hospital["name"],
            "payment_status": "unpaid" if owes else "not_required",
            "amount_due_minor": row["amount_minor"] if owes else 0, "paid_at": None,
            "written_off_at": None}


def _transaction_ref(booking):
    # Unique (random part) and short enough for SSLCommerz's tran_id (max 30 chars).
    return f"BP-{booking['booking_reference']}-{secrets.token_hex(3)}"


def decline_booking(conn, booking_id, *, actor, reason, now, notes=None):
    """pending -> declined with a reason and optional notes to the patient (as for
    approval). :raise 404/409: as for approval."""
    with transaction(conn):
        booking = _managed_booking(conn, booking_id, actor)
        _require_status(booking, "pending", "declined")
        if not queries.finish_booking(
            conn, booking_id, new_status="declined", from_statuses=("pending",),
            actor_id=actor.id, reason=reason, notes=notes, now=to_iso(now),
            reference=booking["booking_reference"],
        ):
            raise Conflict("The booking is no longer pending.")
        declined = queries.get_booking(conn, booking_id)
        notices.booking_decided(conn, declined, now=now)
    return declined


def complete_booking(conn, booking_id, *, actor, reason, now, ip_address, user_agent):
    """approved -> completed; releases exactly the units approval allocated."""
    now_iso = to_iso(now)
    with transaction(conn):
        booking = _managed_booking(conn, booking_id, actor)
        _require_status(booking, "approved", "completed")
        before = resources.live_resource(conn, booking["hospital_id"], booking["resource_type"],
                                         now_iso)
        if not queries.finish_booking(
            conn, booking_id, new_status="completed", from_statuses=("approved",),
            actor_id=actor.id, reason=reason, now=now_iso,
        ):
            raise Conflict("The booking is no longer approved.")
        _release(conn, booking, before, actor_id=actor.id, why="completed", now_iso=now_iso,
                 ip_address=ip_address, user_agent=user_agent)
    return queries.get_booking(conn, booking_id)


def _cancellable_from(actor, booking):
    """The statuses from which ``actor`` may cancel ``booking`` (already visible to them)."""
    if is_admin(actor) or booking["user_id"] == actor.id:
        return ("pending", "approved")
    return ("approved",)  # its hospital's authority: a pending request is declined instead


def cancel_booking(conn, booking_id, *, actor, reason, now, config, ip_address, user_agent):
    """-> cancelled by the patient, its hospital's authority or an admin, recorded as
    that actor. Releases what was allocated; the payments hook runs inside the same
    transaction and its follow-up (e.g. a gateway refund) after commit.

    :raise 404: not visible to the actor.
    :raise 409: already final, or an authority cancelling a pending request.
    """
    now_iso = to_iso(now)
    with transaction(conn):
        booking = _visible_booking(conn, booking_id, actor)
        allowed = _cancellable_from(actor, booking)
        if booking["status"] not in allowed:
            if booking["status"] == "pending":
                raise Conflict("A pending request is declined by the hospital, not cancelled.")
            raise Conflict(
                f"Booking {booking['booking_reference']} is {booking['status']}; "
                "it can no longer be cancelled."
            )
        before = resources.live_resource(conn, booking["hospital_id"], booking["resource_type"],
                                         now_iso)
        if not queries.finish_booking(
            conn, booking_id, new_status="cancelled", from_statuses=allowed,
            actor_id=actor.id, reason=reason, now=now_iso,
        ):
            raise Conflict("The booking changed meanwhile; it can no longer be cancelled.")
        _release(conn, booking, before, actor_id=actor.id, why="cancelled", now_iso=now_iso,
                 ip_address=ip_address, user_agent=user_agent)
        cancelled = queries.get_booking(conn, booking_id)
        after_commit = on_booking_cancelled(
            conn, cancelled, actor_id=actor.id, now=now, config=config
        )
    if after_commit is not None:
        try:
            after_commit()
        except Exception:
            # The cancellation is committed and stands; the payments side records
            # its own failure for reconciliation. The caller still gets its answer.
            log.exception("post-commit cancellation follow-up failed for booking %s", booking_id)
    return queries.get_booking(conn, booking_id)


def _release(conn, booking, before, *, why, actor_id, now_iso, ip_address, user_agent):
    """End the hold of an approved booking (read before its status moved) at once: the
    audit log records it as a release."""
    if booking["status"] == "approved":
        _audit_hold(conn, booking, "release", before, why=why, actor_id=actor_id,
                    now_iso=now_iso, ip_address=ip_address, user_agent=user_agent)


def _audit_hold(conn, booking, action, before, *, why, actor_id, now_iso, ip_address,
                user_agent):
    """The audit row of a hold: ``allocate`` when a booking is approved (or its window
    changed), ``release`` when it is completed or cancelled, written at that moment.
    old/new values are the live counters as seen then, before and after (equal for
    a hold whose window does not contain now); the reason names the window."""
    hospital_id, resource_type = booking["hospital_id"], booking["resource_type"]
    after = resources.live_resource(conn, hospital_id, resource_type, now_iso)
    current = queries.get_booking(conn, booking["id"])
    window = f"{current['scheduled_date']} to {current['scheduled_end']}"
    reason = (f"booking {booking['booking_reference']} {why}: "
              + (f"holds 1 unit from {window}" if action == "allocate"
                 else f"hold {window} ended"))
    resources.insert_audit_entry(
        conn, hospital_id=hospital_id, resource_type=resource_type, action=action,
        old_values=resources.counters(before), new_values=resources.counters(after),
        reason=reason, booking_id=booking["id"], changed_by=actor_id, now=now_iso,
        ip_address=ip_address, user_agent=user_agent,
    )


# --- reads --------------------------------------------------------------------

def get_booking(conn, booking_id, *, actor):
    return _visible_booking(conn, booking_id, actor)


def get_booking_by_reference(conn, reference, *, actor):
    return _visible(queries.get_booking_by_reference(conn, reference.upper()), actor)


def booking_history(conn, booking_id, *, actor):
    """The status changes, oldest first. The hospital's notes are kept once, sealed, on
    the booking (migration 0120); they are shown on the approval or decline that gave
    them, the only transitions that set them."""
    booking = _visible_booking(conn, booking_id, actor)
    rows = [dict(row) for row in queries.list_history(conn, booking_id)]
    for row in rows:
        if row["new_status"] in ("approved", "declined") and row["old_status"] == "pending":
            row["notes"] = booking["authority_notes"]
            break
    return rows


def _page(conn, filters, limit, offset):
    rows = queries.list_bookings(conn, filters, limit=limit, offset=offset)
    return rows, page_total(rows, limit, offset, lambda: queries.count_bookings(conn, filters))


def my_bookings(conn, *, actor, limit, offset):
    """(page of the actor's bookings, newest first; total)."""
    return _page(conn, {"user_id": actor.id}, limit, offset)


def _date_filters(start_date, end_date, tz_name):
    """Inclusive calendar days in ``tz_name`` -> created_at bounds in UTC."""
    zone = ZoneInfo(tz_name)
    filters = {}
    if start_date is not None:
        filters["created_from"] = to_iso(datetime.combine(start_date, time.min, zone))
    if end_date is not None:
        filters["created_before"] = to_iso(
            datetime.combine(end_date + timedelta(days=1), time.min, zone)
        )
    return filters


def search_bookings(conn, *, actor, criteria, limit, offset, config):
    """(page, total) of the bookings matching ``criteria`` within the actor's scope."""
    # An authority without a hospital sees nothing: a missing scope must never widen
    # to "all bookings".
    scope = scope_for(actor)
    wanted = {key: value for key, value in criteria.items()
              if value is not None and key not in ("start_date", "end_date")}
    if scope is None or any(key in wanted and wanted[key] != value
                            for key, value in scope.items()):
        return [], 0  # asking for another hospital's bookings finds none
    if "patient_name" in wanted:
        # exact tokens through the blind index (README "Encryption at rest")
        wanted.update(queries.name_search_filter(wanted.pop("patient_name")))
    if "booking_reference" in wanted:
        wanted["booking_reference"] = wanted["booking_reference"].upper()
    filters = {
        **wanted,
        **_date_filters(criteria.get("start_date"), criteria.get("end_date"), config["TIMEZONE"]),
        **scope,
    }
    return _page(conn, filters, limit, offset)


def hospital_history(conn, hospital_id, *, actor, status, start_date, end_date, limit, offset):
    hospital = _staff_hospital(conn, hospital_id, actor)
    filters = {"hospital_id": hospital_id,
               **_date_filters(start_date, end_date, hospital["timezone"])}
    if status is not None:
        filters["status"] = status
    return _page(conn, filters, limit, offset)


def hospital_statistics(conn, hospital_id, *, actor, start_date, end_date, config):
    """Counts and amounts (fixed at approval) per status of bookings created in the range."""
    hospital = _staff_hospital(conn, hospital_id, actor)
    filters = {"hospital_id": hospital_id,
               **_date_filters(start_date, end_date, hospital["timezone"])}
    found = {row["status"]: row for row in queries.statistics_by_status(conn, filters)}
    by_status = [
        {"status": status,
         "count": found[status]["count"] if status in found else 0,
         "amount_minor": found[status]["amount_minor"] if status in found else 0}
        for status in STATUSES
    ]
    return {
        "hospital_id": hospital_id,
        "start_date": start_date,
        "end_date": end_date,
        "currency": config["CURRENCY"],
        "total_bookings": sum(row["count"] for row in by_status),
        "total_amount_minor": sum(row["amount_minor"] for row in by_status),
        "by_status": by_status,
    }


def pending_queue(conn, hospital_id, *, actor, now, limit, offset):
    """(queue page with its summary, total pending): critical -> low, then oldest first."""
    _staff_hospital(conn, hospital_id, actor)
    counts = queries.count_pending_by_urgency(conn, hospital_id)
    summary = {urgency: counts.get(urgency, 0) for urgency in URGENCIES}
    summary["total_pending"] = sum(summary.values())
    items = [
        {**row, "waiting_time": waiting_time(from_iso(row["created_at"]), now)}
        for row in queries.list_pending_queue(conn, hospital_id, limit=limit, offset=offset)
    ]
    return {"summary": summary, "items": items}, summary["total_pending"]


def upcoming_bookings(conn, hospital_id, *, actor, now, limit):
    """(today's, later) open bookings of the hospital, by scheduled time: today is the
    hospital's calendar day. ``limit`` bounds both together."""
    hospital = _staff_hospital(conn, hospital_id, actor)
    today = local_date(now, hospital["timezone"]).isoformat()
    rows = queries.list_upcoming(conn, hospital_id, from_day=today, limit=limit)
    return ([row for row in rows if row["scheduled_day"] == today],
            [row for row in rows if row["scheduled_day"] != today])


def waiting_time(since, now):
    """{"seconds": 7500, "human": "2h 5m"}: how long a request has waited."""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        human = f"{days}d {hours}h"
    elif hours:
        human = f"{hours}h {minutes}m"
    elif minutes:
        human = f"{minutes}m"
    else:
        human = f"{secs}s"
    return {"seconds": seconds, "human": human}


# --- notifications ------------------------------------------------------------

def list_notifications(conn, *, actor, is_read, limit, offset):
    """({items, unread_count}, total matching the filter)."""
    flag = None if is_read is None else bool(is_read)
    items = queries.list_notifications(conn, actor.id, flag, limit=limit, offset=offset)
    return (
        {"items": items, "unread_count": queries.count_notifications(conn, actor.id, False)},
        queries.count_notifications(conn, actor.id, flag),
    )


def mark_notification_read(conn, notification_id, *, actor):
    """:raise 404: not the actor's notification."""
    with transaction(conn):
        notification = queries.mark_notification_read(conn, notification_id, actor.id)
    if notification is None:
        raise NotFound("Notification not found.")
    return notification


def mark_all_notifications_read(conn, *, actor):
    with transaction(conn):
        marked = queries.mark_all_notifications_read(conn, actor.id)
    return {"marked": marked, "unread_count": 0}
