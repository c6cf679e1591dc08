from pathlib import Path

import pytest

from app import migrator
from app.config import DEFAULTS
from app.db import connect


@pytest.fixture
def fresh(tmp_path):
    conn = connect(str(tmp_path / "m.sqlite3"))
    yield conn
    conn.close()


def tables(conn):
    return {r["name"] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_empty_database_upgrades_fully(fresh):
    applied = migrator.upgrade(fresh, DEFAULTS["MIGRATIONS_DIR"], log=lambda _l: None)
    known = [m.version for m in migrator.discover(DEFAULTS["MIGRATIONS_DIR"])]
    assert applied == known and known[0] == 1
    expected = {
        "users", "hospitals", "hospital_resources", "bookings", "booking_status_history",
        "booking_notifications", "hospital_pricing", "transactions", "user_balance",
        "balance_transactions", "resource_audit_log", "blood_requests", "blood_donor_matches",
        "payment_config", "payment_policies", "reconciliation_runs",
        "reconciliation_discrepancies", "idempotency_keys", "api_tokens", "admin_audit_log",
        "refunds", "hospital_earnings", "job_runs", "login_attempts", "schema_migrations",
    }
    assert expected <= tables(fresh)
    assert fresh.execute("PRAGMA foreign_key_check").fetchall() == []
    assert fresh.execute("PRAGMA integrity_check").fetchone()["integrity_check"] == "ok"


def test_rerun_applies_nothing(fresh):
    migrator.upgrade(fresh, DEFAULTS["MIGRATIONS_DIR"], log=lambda _l: None)
    before = fresh.execute("SELECT * FROM schema_migrations").fetchall()
    assert migrator.upgrade(fresh, DEFAULTS["MIGRATIONS_DIR"], log=lambda _l: None) == []
    assert fresh.execute("SELECT * FROM schema_migrations").fetchall() == before


def test_status_records_applied_time_and_duration(fresh):
    migrator.upgrade(fresh, DEFAULTS["MIGRATIONS_DIR"], log=lambda _l: None)
    rows = migrator.status(fresh, DEFAULTS["MIGRATIONS_DIR"])
    assert rows and all(r["applied"] and r["appliedAt"] and r["executionMs"] >= 0 for r in rows)


def write(path: Path, text):
    path.write_text(text)


def test_failing_migration_rolls_back_and_stays_pending(fresh, tmp_path):
    mdir = tmp_path / "migs"
    mdir.mkdir()
    write(mdir / "0001_good.py", '"""ok"""\ndef up(conn):\n    conn.execute("CREATE TABLE a (x INTEGER)")\n')
    write(
        mdir / "0002_bad.py",
        '"""fails halfway"""\ndef up(conn):\n'
        '    conn.execute("CREATE TABLE b (x INTEGER)")\n'
        '    conn.execute("INSERT INTO b VALUES (1)")\n'
        '    raise RuntimeError("boom")\n',
    )
    with pytest.raises(RuntimeError, match="boom"):
        migrator.upgrade(fresh, mdir, log=lambda _l: None)
    assert "a" in tables(fresh) and "b" not in tables(fresh)
    status = {r["version"]: r["applied"] for r in migrator.status(fresh, mdir)}
    assert status == {1: True, 2: False}
    # fixed, it applies on the next run, and only it
    write(mdir / "0002_bad.py", '"""fixed"""\ndef up(conn):\n    conn.execute("CREATE TABLE b (x INTEGER)")\n')
    assert migrator.upgrade(fresh, mdir, log=lambda _l: None) == [2]


def test_duplicate_numbers_are_refused(tmp_path):
    mdir = tmp_path / "migs"
    mdir.mkdir()
    write(mdir / "0001_a.py", "def up(conn): pass\n")
    write(mdir / "0001_b.py", "def up(conn): pass\n")
    with pytest.raises(RuntimeError, match="duplicate"):
        migrator.discover(mdir)


def test_every_migration_has_a_docstring_and_both_forms():
    for migration in migrator.discover(DEFAULTS["MIGRATIONS_DIR"]):
        module = migrator.load_module(migration)
        assert (module.__doc__ or "").strip(), migration.name
        if hasattr(module, "up"):
            assert callable(module.up), migration.name
        else:  # statements side by side, one list per backend
            assert isinstance(module.SQLITE, list) and isinstance(module.POSTGRES, list), migration.name
            assert all(isinstance(s, str) for s in module.SQLITE + module.POSTGRES), migration.name
