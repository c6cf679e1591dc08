
import pytest

from app.db import IntegrityError, transaction
from app.resources import queries

NOW = "2026-01-01T00:00:00.000000+00:00"


def test_allocate_takes_from_available_and_refuses_when_none_left(db, make):
    hospital = make.hospital(resources={"icu": 1})
    with transaction(db):
        assert queries.allocate_units(db, hospital["id"], "icu", 1, NOW)
        assert not queries.allocate_units(db, hospital["id"], "icu", 1, NOW)
    row = queries.get_resource(db, hospital["id"], "icu")
    assert queries.counters(row) == {"total": 1, "available": 0, "occupied": 1, "reserved": 0, "maintenance": 0}


def test_release_gives_back_exactly_what_was_taken(db, make):
    hospital = make.hospital(resources={"beds": 3})
    with transaction(db):
        queries.allocate_units(db, hospital["id"], "beds", 2, NOW)
        assert queries.release_units(db, hospital["id"], "beds", 2, NOW)
        assert not queries.release_units(db, hospital["id"], "beds", 1, NOW)  # nothing occupied
    row = queries.get_resource(db, hospital["id"], "beds")
    assert (row["available"], row["occupied"]) == (3, 0)


def test_unknown_resource_allocates_nothing(db, make):
    hospital = make.hospital(resources={"beds": 3})
    with transaction(db):
        assert not queries.allocate_units(db, hospital["id"], "icu", 1, NOW)


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
