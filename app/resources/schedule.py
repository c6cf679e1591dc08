"""Scheduled capacity, in pure Python (README "Scheduled capacity").

An approved booking holds its units during [scheduled_date, scheduled_end). The
units the hospital marks by hand (the stored occupied, reserved, maintenance)
are unavailable from now on, so what the bookings may hold at any instant from
now on is the stored ``available`` (total minus those marks): call it ``free``.
A window fits when, at every instant of it, the units already held plus the
units asked for stay within ``free``.

``levels`` turns the holds that overlap a window (app.resources.queries.
holds_overlapping) into the held level at the window's start and after each
change inside it: the level only rises at a hold's start, so the busiest instant
is always one of these.
"""
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


def fewest_free(steps, free):
    """The units free for the whole window: ``free`` minus the busiest instant's holds
    (never below 0)."""
    return max(0, free - max(held for _, held in steps))
