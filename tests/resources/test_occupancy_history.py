"""resources.service.occupancy_history: each day's peak occupancy and total, replayed
from the resource audit log in the hospital's calendar."""
from datetime import date, datetime, timezone

import pytest

from app.auth.session import CurrentUser
from app.db import transaction
from app.errors import NotFound
from app.resources import queries, service
from app.timeutil import to_iso

# 2026-03-10 12:00 in Dhaka (UTC+6) is 06:00 UTC.
NOW = datetime(2026, 3, 10, 6, 0, tzinfo=timezone.utc)


def _actor(user):
    return CurrentUser(id=user["id"], name=user["name"], email=user["email"], role=user["role"],
                       hospital_id=user["hospital_id"])


def _change(db, hospital, at, *, occupied, total=10, resource_type="beds"):
    counters = {"total": total, "available": total - occupied, "occupied": occupied,
                "reserved": 0, "maintenance": 0}
    with transaction(db):
        queries.insert_audit_entry(db, hospital_id=hospital["id"], resource_type=resource_type,
                                   action="update", old_values=None, new_values=counters,
                                   changed_by=None, now=to_iso(at))


def test_days_replay_peaks_totals_and_carry_forward(db, world):
    hospital = world.hospital  # beds and icu; Asia/Dhaka
    utc = timezone.utc
    _change(db, hospital, datetime(2026, 3, 1, 0, 0, tzinfo=utc), occupied=4)  # before the window
    # 8 March, Dhaka time: 02:00 UTC = 08:00, 17:00 UTC = 23:00; 19:00 UTC = 01:00 on 9 March
    _change(db, hospital, datetime(2026, 3, 8, 2, 0, tzinfo=utc), occupied=7)
    _change(db, hospital, datetime(2026, 3, 8, 17, 0, tzinfo=utc), occupied=5, total=12)
    _change(db, hospital, datetime(2026, 3, 8, 19, 0, tzinfo=utc), occupied=6, total=12)

    history = service.occupancy_history(db, hospital["id"], _actor(world.authority), now=NOW,
                                        days=4)
    assert history["days"] == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9),
                               date(2026, 3, 10)]
    assert history["series"]["beds"] == [
        {"peak": 4, "total": 10},  # carried from before the window
        {"peak": 7, "total": 12},  # the day's highest; its total at the end of the day
        {"peak": 6, "total": 12},  # 01:00 Dhaka time is already the 9th
        {"peak": 6, "total": 12},  # nothing changed today: yesterday's state
    ]
    assert history["series"]["icu"] == [None, None, None, None]  # no change recorded yet


def test_the_day_starts_from_the_state_before_its_first_change(db, world):
    _change(db, world.hospital, datetime(2026, 3, 9, 3, 0, tzinfo=timezone.utc), occupied=9)
    _change(db, world.hospital, datetime(2026, 3, 10, 1, 0, tzinfo=timezone.utc), occupied=2)
    history = service.occupancy_history(db, world.hospital["id"], _actor(world.authority),
                                        now=NOW, days=2)
    assert history["series"]["beds"] == [{"peak": 9, "total": 10}, {"peak": 9, "total": 10}]


def test_another_hospitals_history_is_not_found(db, world):
    with pytest.raises(NotFound):
        service.occupancy_history(db, world.other_hospital["id"], _actor(world.authority),
                                  now=NOW)
