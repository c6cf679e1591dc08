"""The busiest instant of a window, in SQL (app.resources.queries.peak_held): it agrees
with the Python walk of the same holds (app.resources.schedule.levels), and it reads
idx_bookings_holds, never the whole bookings table, on both backends: a range bounded
at both ends, which is sound because the database refuses a window over 168 hours."""
import random
from datetime import timedelta

import pytest

from app.db import IntegrityError, transaction
from app.resources import queries, schedule
from app.timeutil import from_iso, to_iso, utcnow


def test_sql_and_python_find_the_same_busiest_instant(db, make):
    hospital = make.hospital(resources={"beds": 100})
    other = make.hospital(resources={"beds": 100})
    rng = random.Random(15)
    base = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    for n in range(40):
        make.booking(make.user(), rng.choice([hospital, hospital, other]), status="approved",
                     scheduled_date=to_iso(base + timedelta(hours=rng.randrange(0, 96))),
                     estimated_duration_hours=rng.randrange(1, 30))
    for n in range(10):  # history and pending requests hold nothing
        make.booking(make.user(), hospital, status=rng.choice(["completed", "pending",
                                                               "cancelled"]),
                     scheduled_date=to_iso(base + timedelta(hours=rng.randrange(0, 96))),
                     estimated_duration_hours=rng.randrange(1, 30))
    checked = 0
    for _ in range(60):
        start = base + timedelta(hours=rng.randrange(-5, 110), minutes=rng.choice([0, 30]))
        end = start + timedelta(hours=rng.randrange(1, 40))
        holds = queries.holds_overlapping(db, hospital["id"], "beds", to_iso(start), to_iso(end))
        expected = max(held for _, held in schedule.levels(holds, start, end))
        assert queries.peak_held(db, hospital["id"], "beds", to_iso(start), to_iso(end)) \
            == expected, (start, end)
        checked += expected > 0
    assert checked > 20  # most windows did meet holds
    # open-ended: from an instant on
    holds = queries.holds_overlapping(db, hospital["id"], "beds", to_iso(base),
                                      to_iso(base + timedelta(days=30)))
    assert queries.peak_held(db, hospital["id"], "beds", to_iso(base)) == max(
        held for _, held in schedule.levels(holds, base, base + timedelta(days=30)))
    assert queries.peak_held(db, hospital["id"], "icu", to_iso(base)) == 0


def test_a_hold_starting_exactly_at_the_window_end_is_not_in_it(db, make):
    hospital = make.hospital(resources={"beds": 5})
    base = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    first = make.booking(make.user(), hospital, status="approved",
                         scheduled_date=to_iso(base), estimated_duration_hours=2)
    make.booking(make.user(), hospital, status="approved",
                 scheduled_date=first["scheduled_end"], estimated_duration_hours=2)
    end = from_iso(first["scheduled_end"])
    assert queries.peak_held(db, hospital["id"], "beds", to_iso(base), to_iso(end)) == 1
    assert queries.peak_held(db, hospital["id"], "beds", to_iso(base),
                             to_iso(end + timedelta(seconds=1))) == 1
    assert queries.peak_held(db, hospital["id"], "beds", to_iso(end - timedelta(minutes=1)),
                             to_iso(end + timedelta(minutes=1))) == 1


def _plan(db, sql, params):
    if db.dialect == "sqlite":
        return "\n".join(row["detail"] for row in
                         db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall())
    # a planner facing a tiny table prefers a scan; the question is whether it CAN use the
    # index, i.e. whether the query's shape fits it
    db.execute("SET enable_seqscan = off")
    try:
        return "\n".join(row["QUERY PLAN"] for row in
                         db.execute(f"EXPLAIN {sql}", params).fetchall())
    finally:
        db.execute("RESET enable_seqscan")


def test_the_busiest_instant_reads_use_idx_bookings_holds(db, make):
    hospital = make.hospital(resources={"beds": 5})
    for day in range(1, 4):
        make.booking(make.user(), hospital, status="approved",
                     scheduled_in=timedelta(days=day))
        make.booking(make.user(), hospital, status="completed",
                     scheduled_in=timedelta(days=day))
    start = to_iso(utcnow() + timedelta(days=1))
    end = to_iso(utcnow() + timedelta(days=3))
    for name, sql, params in queries.busiest_instant_statements(db, hospital["id"], "beds",
                                                                start, end):
        plan = _plan(db, sql, params)
        assert "idx_bookings_holds" in plan, (name, plan)
        # no full read of bookings anywhere in the statement, and every range of the
        # index is bounded above (it stops at the holds that can still meet the window)
        if db.dialect == "sqlite":
            assert "SCAN bookings" not in plan and "SCAN b " not in plan, (name, plan)
            ranges = [line for line in plan.splitlines() if "idx_bookings_holds" in line]
            assert ranges and all("scheduled_end>? AND scheduled_end<?" in line
                                  for line in ranges), (name, plan)
            # capacity is read from the index alone (migration 0143); only the day view
            # reads its holds' bookings, for their details
            if "with their bookings" not in name:
                assert all("COVERING INDEX idx_bookings_holds" in line for line in ranges), (
                    name, plan)
        else:
            assert "Seq Scan on bookings" not in plan, (name, plan)
            ranges = [line for line in plan.splitlines()
                      if "Index Cond" in line and "scheduled_end" in line]
            assert ranges and all("scheduled_end > " in line and "scheduled_end <" in line
                                  for line in ranges), (name, plan)


def test_the_database_refuses_a_window_longer_than_the_reads_stop_at(db, make):
    """The reads stop at :end + 168 h (app.resources.queries.with_hold_bounds): a longer
    window would be a hold they miss, so migration 0141 refuses one, on INSERT and UPDATE."""
    hospital = make.hospital(resources={"beds": 5})
    start = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    longest = make.booking(make.user(), hospital, status="approved", scheduled_date=to_iso(start),
                           estimated_duration_hours=168)
    assert from_iso(longest["scheduled_end"]) - start == timedelta(hours=168)
    later = start + timedelta(days=3)
    with pytest.raises(IntegrityError):
        make.booking(make.user(), hospital, status="approved", scheduled_date=to_iso(later),
                     scheduled_end=to_iso(later + timedelta(hours=168, seconds=5)))
    with pytest.raises(IntegrityError):
        with transaction(db):
            db.execute("UPDATE bookings SET scheduled_end = ? WHERE id = ?",
                       (to_iso(start + timedelta(hours=169)), longest["id"]))
    # a hold of exactly the longest window is counted at its last minute
    last_minute = to_iso(start + timedelta(hours=168) - timedelta(minutes=1))
    assert queries.peak_held(db, hospital["id"], "beds", last_minute,
                             to_iso(start + timedelta(hours=168))) == 1
    assert queries.live_resource(db, hospital["id"], "beds", last_minute)["held_now"] == 1


@pytest.mark.sqlite_only
def test_a_window_inside_the_sqlite_triggers_allowance_is_still_counted(db, make):
    """SQLite's trigger admits up to a second over 168 h (julianday's floating point);
    the reads' bound allows for it, so such a hold is not missed at its first instant."""
    hospital = make.hospital(resources={"beds": 5})
    start = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    make.booking(make.user(), hospital, status="approved", scheduled_date=to_iso(start),
                 scheduled_end=to_iso(start + timedelta(hours=168, milliseconds=500)))
    assert queries.live_resource(db, hospital["id"], "beds", to_iso(start))["held_now"] == 1
    assert queries.peak_held(db, hospital["id"], "beds", to_iso(start - timedelta(hours=1)),
                             to_iso(start + timedelta(minutes=1))) == 1
