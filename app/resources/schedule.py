"""Scheduled capacity, in pure Python (README "Scheduled capacity").

An approved booking holds its units during [scheduled_date, scheduled_end). The
units the hospital marks by hand (the stored occupied, reserved, maintenance)
are unavailable from now on, so what the bookings may hold at any instant from
now on is the stored ``available`` (total minus those marks): call it ``free``.
A window fits when, at every instant of it, the units already held plus the
units asked for stay within ``free``; the units free for the whole window are
``free`` less the busiest instant's holds, which SQL finds by the same sweep
(app.resources.queries.peak_held), so that search can ask it of many hospitals
in one statement.

``levels`` turns the holds that overlap a window (app.resources.queries.
holds_overlapping) into the held level at the window's start and after each
change inside it: the level only rises at a hold's start, so the busiest instant
is always one of these.
"""
from datetime import timedelta

from app.errors import Unprocessable
from app.timeutil import from_iso


def levels(holds, start, end):
    """[(instant, units held from that instant on)] over [start, end), in order; the
    first entry is ``start`` itself. ``holds``: rows with scheduled_date,
    scheduled_end (ISO text) and units, each overlapping [start, end)."""
    base = 0
    changes = {}
    for hold in holds:
        begins, ends, units = (from_iso(hold["scheduled_date"]), from_iso(hold["scheduled_end"]),
                               hold["units"])
        if ends <= start or begins >= end:
            continue
        if begins <= start:
            base += units
        else:
            changes[begins] = changes.get(begins, 0) + units
        if ends < end:
            changes[ends] = changes.get(ends, 0) - units
    steps = [(start, base)]
    level = base
    for instant in sorted(changes):
        level += changes[instant]
        steps.append((instant, level))
    return steps


def first_instant_over(steps, free, units=1):
    """The first instant at which ``units`` more would exceed ``free``; None if they fit."""
    for instant, held in steps:
        if held + units > free:
            return instant
    return None


# The longest window availability and search answer for: a booking lasts at most
# 168 hours, and a month covers any planning question; a longer window would only
# make the busiest-instant sweep sort more holds (those that meet the window).
MAX_WINDOW = timedelta(days=31)


def checked_window(start, end, now):
    """The window [start, end) a query asks about, as counted: from ``now`` at the
    earliest (the past is not bookable). None when neither is given.

    :raise 422: only one of them, ``end`` not after ``start``, a window that has
        already ended, or one longer than MAX_WINDOW.
    """
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise Unprocessable(errors={"query": {"from" if start is None else "to":
                                              ["Give both from and to, or neither."]}})
    if end <= start:
        raise Unprocessable(errors={"query": {"to": ["Must be after from."]}})
    if end <= now:
        raise Unprocessable(errors={"query": {"to": ["Must be in the future."]}})
    if end - start > MAX_WINDOW:
        raise Unprocessable(errors={"query": {"to": [
            f"The window may be at most {MAX_WINDOW.days} days long."]}})
    return max(start, now), end
