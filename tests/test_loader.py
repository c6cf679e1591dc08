"""benchmarks/loader.py: the fast bulk load writes exactly what the trigger path writes,
leaves every invariant holding, and puts the schema (indexes, triggers) back as migrated."""
import random
from datetime import datetime, timezone

import pytest

from app import migrator
from app.config import DEFAULTS
from app.crypto import fields
from app.db import connect
from app.ops import invariants
from benchmarks.loader import Loader

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
# every table the loader writes; users without password_hash (bcrypt salts differ per run)
COMPARED = {
    "users": "id, name, email, phone, role, hospital_id, status, created_at, updated_at",
    "hospitals": "*", "hospital_resources": "*", "hospital_pricing": "*",
    "payment_policies": "*", "bookings": "*", "booking_status_history": "*",
    "booking_notifications": "*", "transactions": "*", "hospital_earnings": "*",
    "balance_transactions": "*", "user_balance": "*", "booking_reference_counters": "*",
}


def migrated(path):
    conn = connect(str(path))
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    return conn


def load(path, *, fast, bookings=700, generator_process=True):
    conn = migrated(path)
    loader = Loader(conn, now=NOW, batch_size=300, fast=fast,  # several batches
                    generator_process=generator_process)
    loader.load_base(hospitals=6, users=60)
    loader.load_bookings(bookings)
    loader.finish()
    return conn


def schema(conn):
    return sorted(
        (row["type"], row["name"], row["tbl_name"], " ".join((row["sql"] or "").split()))
        for row in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")
        if not row["name"].startswith("sqlite_stat")  # the loader's ANALYZE adds these
    )


def contents(conn):
    return {table: [tuple(row.values()) for row in conn.execute(
                f"SELECT {columns} FROM {table} ORDER BY rowid")]
            for table, columns in COMPARED.items()}


@pytest.fixture
def fast_db(tmp_path):
    conn = load(tmp_path / "fast.db", fast=True)
    yield conn
    conn.close()


def test_fast_load_writes_the_same_rows_as_the_triggers(tmp_path, fast_db):
    slow = load(tmp_path / "slow.db", fast=False)
    expected = contents(slow)
    slow.close()
    got = contents(fast_db)
    assert len(got["booking_status_history"]) > 700 and len(got["booking_notifications"]) > 1400
    for table in COMPARED:
        assert got[table] == expected[table], table


def test_generator_process_writes_what_in_process_generation_writes(tmp_path, fast_db):
    in_process = load(tmp_path / "in_process.db", fast=True, generator_process=False)
    expected = contents(in_process)
    in_process.close()
    assert contents(fast_db) == expected


def test_generator_process_hands_back_the_state_later_loads_continue_from(tmp_path):
    """Two load_bookings calls (as benchmarks/run makes) write the same through the generator
    process as in-process: ids, references, balances and the random stream come back from the
    child, so the second call continues where the first one's child stopped."""
    def two_calls(path, generator_process):
        conn = migrated(path)
        loader = Loader(conn, now=NOW, batch_size=300, generator_process=generator_process)
        loader.load_base(hospitals=6, users=60)
        loader.load_bookings(400)
        loader.load_bookings(300)
        loader.finish()
        return conn

    split, whole = two_calls(tmp_path / "split.db", True), two_calls(tmp_path / "whole.db", False)
    assert contents(split) == contents(whole)
    assert invariants.check_all(split) == []
    split.close()
    whole.close()


def test_fast_load_keeps_invariants_and_restores_the_schema(tmp_path, fast_db):
    assert invariants.check_all(fast_db) == []
    fresh = migrated(tmp_path / "fresh.db")
    assert schema(fast_db) == schema(fresh)
    for pragma in ("synchronous", "foreign_keys"):
        assert fast_db.execute(f"PRAGMA {pragma}").fetchone()[pragma] == \
            fresh.execute(f"PRAGMA {pragma}").fetchone()[pragma]
    fresh.close()


def test_fast_load_refuses_a_dangling_reference(tmp_path, monkeypatch):
    """Foreign keys are off during the fast load and checked in bulk at its end."""
    fast_rows = Loader._fast_rows

    def with_a_stranger(self, size):
        bookings, *rest = fast_rows(self, size)
        bookings[0] = (*bookings[0][:2], 999_999, *bookings[0][3:])  # user_id: no such user
        return (bookings, *rest)

    monkeypatch.setattr(Loader, "_fast_rows", with_a_stranger)
    conn = migrated(tmp_path / "dangling.db")
    loader = Loader(conn, now=NOW, batch_size=300, generator_process=False)
    loader.load_base(hospitals=6, users=60)
    with pytest.raises(RuntimeError, match="dangling references"):
        loader.load_bookings(300)
    assert conn.execute("PRAGMA foreign_keys").fetchone()["foreign_keys"] == 1
    conn.close()


def test_fast_load_still_fires_the_booking_triggers_afterwards(fast_db):
    before = fast_db.execute("SELECT count(*) AS n FROM booking_status_history").fetchone()["n"]
    booking = fast_db.execute(
        "SELECT id FROM bookings WHERE status = 'pending' ORDER BY id LIMIT 1").fetchone()
    fast_db.execute("UPDATE bookings SET status = 'declined' WHERE id = ?", (booking["id"],))
    after = fast_db.execute("SELECT count(*) AS n FROM booking_status_history").fetchone()["n"]
    assert after == before + 1


def test_the_loaders_draws_are_the_random_modules_draws():
    """_one_booking draws through rng._randbelow and _pick for speed: the same values, from the
    same generator state, as random.Random's choice/randint/randrange/choices."""
    from benchmarks.loader import _STATE_CHOICE, _pick

    ours, theirs = random.Random(7), random.Random(7)
    values, cumulative = _STATE_CHOICE
    people = list(range(50, 10_050))
    for _ in range(2_000):
        assert _pick(ours, _STATE_CHOICE) == theirs.choices(values, cum_weights=cumulative)[0]
        assert people[ours._randbelow(len(people))] == theirs.choice(people)
        assert 60 + ours._randbelow(3000 - 60 + 1) == theirs.randint(60, 3000)
        assert ours._randbelow(10**8) == theirs.randrange(10**8)
    assert ours.getstate() == theirs.getstate()


def test_seal_moves_every_loaded_patient_field_into_the_envelope(fast_db):
    """The served benchmarks read bookings as the service stores them (Loader.seal)."""
    loaded = {row["id"]: row for row in fast_db.execute("SELECT * FROM bookings")}
    assert all(row["personal"] is None for row in loaded.values())  # loaded as plaintext

    Loader(fast_db, now=NOW).seal()

    rows = fast_db.execute("SELECT * FROM bookings ORDER BY id").fetchall()
    assert len(rows) == len(loaded) == 700
    for row in rows:
        assert row["personal"] is not None
        assert all(row[column] is None for column in fields.legacy_columns("bookings"))
        # what the service reads, before (legacy plaintext columns) and after
        before = fields.open_row("bookings", dict(loaded[row["id"]]), strict=True)
        after = fields.open_row("bookings", dict(row), strict=True)
        assert {c: after[c] for c in fields.legacy_columns("bookings")} == \
            {c: before[c] for c in fields.legacy_columns("bookings")}
        assert after["patient_name"] == loaded[row["id"]]["patient_name"]
    tokened = fast_db.execute(
        "SELECT count(DISTINCT booking_id) AS n FROM booking_name_tokens").fetchone()["n"]
    assert tokened == len(rows)  # every booking findable by its patient's name
    assert invariants.check_all(fast_db) == []
