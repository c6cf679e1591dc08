
from datetime import timedelta

import pytest

from app.db import IntegrityError, transaction
from app.resources import queries
from app.timeutil import to_iso, utcnow

NOW = "2026-01-01T00:00:00.000000+00:00"


def _holds(db, make, hospital, *windows):
    """Approved bookings with the given (start, hours) windows, start in hours from now."""
    base = utcnow()
    return [make.booking(make.user(), hospital, status="approved",
                         scheduled_date=to_iso(base + timedelta(hours=start)),
                         estimated_duration_hours=hours)
            for start, hours in windows]


def test_live_counters_count_only_holds_whose_window_contains_now(db, make):
    hospital = make.hospital(resources={"beds": 5})
    _holds(db, make, hospital, (24, 24), (72, 24))
    soon = utcnow() + timedelta(hours=30)
    row = queries.live_resource(db, hospital["id"], "beds", to_iso(utcnow()))
    assert (row["available"], row["occupied"], row["held_now"]) == (5, 0, 0)
    row = queries.live_resource(db, hospital["id"], "beds", to_iso(soon))
    assert (row["available"], row["occupied"], row["held_now"]) == (4, 1, 1)
    assert queries.counters(queries.get_resource(db, hospital["id"], "beds"))["available"] == 5
    assert [r["available"] for r in queries.list_resources(db, hospital["id"], to_iso(soon))] == [4]
    assert queries.live_resource(db, hospital["id"], "icu", to_iso(soon)) is None


@pytest.mark.parametrize("read", [queries.holds_overlapping, queries.hold_windows])
def test_holds_overlapping_reads_half_open_windows(db, make, read):
    hospital = make.hospital(resources={"beds": 5})
    first, second = _holds(db, make, hospital, (24, 24), (48, 24))
    boundary = first["scheduled_end"]
    assert boundary == second["scheduled_date"]
    found = read(db, hospital["id"], "beds", boundary, to_iso(utcnow() + timedelta(days=5)))
    assert [r["id"] for r in found] == [second["id"]]  # the first ends where this begins
    assert (found[0]["scheduled_date"], found[0]["scheduled_end"], found[0]["units"]) == (
        second["scheduled_date"], second["scheduled_end"], 1)
    found = read(db, hospital["id"], "beds", first["scheduled_date"], boundary,
                 exclude_id=first["id"])
    assert found == []


def test_peak_held_from_finds_the_busiest_instant(db, make):
    hospital = make.hospital(resources={"beds": 5})
    _holds(db, make, hospital, (24, 24), (30, 24), (36, 5), (60, 24))
    now = to_iso(utcnow())
    assert queries.peak_held_from(db, hospital["id"], "beds", now) == 3  # at +36 h
    later = to_iso(utcnow() + timedelta(hours=45))
    assert queries.peak_held_from(db, hospital["id"], "beds", later) == 2  # from +45 h on
    latest = to_iso(utcnow() + timedelta(hours=55))
    assert queries.peak_held_from(db, hospital["id"], "beds", latest) == 1
    assert queries.peak_held_from(db, hospital["id"], "icu", now) == 0


def test_audit_entry_is_written_as_json(db, make):
    hospital = make.hospital(resources={"beds": 3})
    user = make.admin()
    with transaction(db):
        queries.insert_audit_entry(
            db, hospital_id=hospital["id"], resource_type="beds", action="update",
            old_values={"total": 3}, new_values={"total": 4}, changed_by=user["id"], now=NOW,
            reason="new ward", ip_address="127.0.0.1", user_agent="ua",
        )
    row = db.execute("SELECT * FROM resource_audit_log").fetchone()
    assert row["old_values"] == '{"total": 3}' and row["reason"] == "new ward"
    with pytest.raises(IntegrityError):
        with transaction(db):
            queries.insert_audit_entry(
                db, hospital_id=hospital["id"], resource_type="beds", action="explode",
                old_values=None, new_values=None, changed_by=user["id"], now=NOW,
            )

