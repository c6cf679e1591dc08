"""Restores: checked before anything is touched, atomic, rolled back on failure, refused while in use."""
import gzip
import os
import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app import migrator
from app.db import connect, transaction
from app.ops import locks, restore
from app.ops.backup import backup_database, list_backups
from app.ops.restore import RestoreFailed
from tests.factories import Factory
from tests.live_server import LiveServer
from tests.ops import helpers

# SQLite files and the SQLite service lock; the PostgreSQL forms: test_pg_restore.py.
pytestmark = pytest.mark.sqlite_only

NOW = datetime(2025, 3, 10, 4, 30, 15, tzinfo=timezone.utc)


@pytest.fixture
def live(tmp_path):
    """The live database (no connection left open) and its backup directory."""
    return helpers.migrated_database(tmp_path / "live.sqlite3"), tmp_path / "backups"


def take_backup(database, backup_dir, now=NOW):
    source = connect(database)
    try:
        return backup_database(source, backup_dir, now=now).path
    finally:
        source.close()


def change_data(database):
    conn = connect(database)
    try:
        make = Factory(conn)
        make.user(email="added-after-the-backup@example.test")
        with transaction(conn):
            conn.execute("DELETE FROM booking_notifications")
    finally:
        conn.close()


def test_round_trip_restores_the_data_as_it_was_at_the_backup(live, tmp_path):
    database, backup_dir = live
    at_backup = helpers.dump(database)
    take_backup(database, backup_dir)
    change_data(database)
    changed = helpers.dump(database)
    assert changed != at_backup
    Path(f"{database}-shm").write_bytes(b"stale shared memory of the old file")

    result = helpers.run_script("restore-database", "latest", database=database,
                                backup_dir=backup_dir)

    assert result.returncode == 0, result.stderr
    assert helpers.dump(database) == at_backup
    assert not Path(f"{database}-shm").exists() and not Path(f"{database}-wal").exists()
    # The replaced database is kept, and restoring it undoes the restore.
    [pre_restore] = [b for b in list_backups(backup_dir) if b.kind == "pre_restore"]
    assert str(pre_restore.path) in result.stdout
    again = helpers.run_module("app.ops.restore", pre_restore.path, database=database,
                               backup_dir=backup_dir)
    assert again.returncode == 0, again.stderr
    assert helpers.dump(database) == changed
    # No temporary file is left beside the database.
    assert sorted(p.name for p in Path(database).parent.iterdir() if p.name.startswith(".")) == []


def test_restore_of_a_named_file_relative_to_the_callers_directory(live, tmp_path):
    database, backup_dir = live
    at_backup = helpers.dump(database)
    backup = take_backup(database, backup_dir)
    change_data(database)
    result = helpers.run_script("restore-database", Path("backups") / backup.name,
                                database=database, backup_dir=tmp_path / "elsewhere",
                                cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert helpers.dump(database) == at_backup


def test_restore_of_a_bare_name_finds_it_in_the_backup_dir(live, tmp_path):
    """The names --list prints work as they are, from any directory (issue #19)."""
    database, backup_dir = live
    at_backup = helpers.dump(database)
    backup = take_backup(database, backup_dir)
    change_data(database)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = helpers.run_script("restore-database", backup.name, database=database,
                                backup_dir=backup_dir, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert f"restore: checking {backup}" in result.stdout
    assert helpers.dump(database) == at_backup


@pytest.mark.parametrize("spec, message", [
    ("database_backup_20200101_000000.sqlite.gz",
     "no backup file database_backup_20200101_000000.sqlite.gz here or in {backup_dir} "
     "(restore-database --list shows the backups)"),
    ("nowhere/database_backup_20250310_043015.sqlite.gz",
     "no backup file at nowhere/database_backup_20250310_043015.sqlite.gz"),
])
def test_a_name_that_is_not_there_is_refused_saying_where_it_looked(live, spec, message):
    database, backup_dir = live
    take_backup(database, backup_dir)  # database_backup_20250310_043015.sqlite.gz exists
    before = helpers.fingerprint(database)
    result = helpers.run_module("app.ops.restore", spec, database=database, backup_dir=backup_dir)
    assert result.returncode == 1
    assert message.format(backup_dir=backup_dir) in result.stderr
    assert helpers.fingerprint(database) == before


def test_restore_of_a_large_database_shows_progress(tmp_path):
    database = helpers.migrated_database(tmp_path / "large.sqlite3")
    conn = connect(database)
    with transaction(conn):  # ~8 MiB of rows in a table of the schema (restore checks it)
        conn.execute("""
            INSERT INTO admin_audit_log (action, target_type, details, created_at)
            SELECT 'test.filler', 'none', json_object('filler', hex(randomblob(2000))),
                   '2025-03-10T04:00:00+00:00'
            FROM (WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                  SELECT i FROM n)
        """)
    conn.close()
    backup_dir = tmp_path / "backups"
    take_backup(database, backup_dir)
    result = helpers.run_module("app.ops.restore", "latest", database=database,
                                backup_dir=backup_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for expected in ("restore: unpack 100%", "restore: checking the unpacked database",
                     "restore: keep 100%", "restore: archive 100%"):
        assert any(line.startswith(expected) for line in lines), (expected, result.stdout)
    assert any(line.startswith("restore: unpack 10%") for line in lines)  # on the way, too


def test_restored_file_is_owner_only_whatever_the_database_it_replaces_was(live):
    """Until issue #18 the restored file copied the old file's mode (0640 stayed 0640);
    the patients' data is now owner-only (app/files.py), so it is 0600 either way."""
    database, backup_dir = live
    os.chmod(database, 0o640)
    take_backup(database, backup_dir)
    result = helpers.run_module("app.ops.restore", "latest", database=database,
                                backup_dir=backup_dir)
    assert result.returncode == 0, result.stderr
    assert os.stat(database).st_mode & 0o777 == 0o600


def _truncated(path, tmp_path):
    data = path.read_bytes()
    target = tmp_path / "truncated.sqlite.gz"
    target.write_bytes(data[: len(data) // 2])
    return target


def _byte_flipped(path, tmp_path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target = tmp_path / "flipped.sqlite.gz"
    target.write_bytes(bytes(data))
    return target


def _text_file(path, tmp_path):
    target = tmp_path / "notes.sqlite.gz"
    target.write_text("these are not the droids you are looking for\n")
    return target


def _empty_file(path, tmp_path):
    target = tmp_path / "empty.sqlite.gz"
    target.write_bytes(b"")
    return target


def _gzipped_text(path, tmp_path):
    target = tmp_path / "text.sqlite.gz"
    target.write_bytes(gzip.compress(b"plain text, compressed\n" * 50))
    return target


def _database_backup(tmp_path, name, change):
    """A backup (made by our own backup code) of a database altered by ``change``."""
    database = helpers.migrated_database(tmp_path / f"{name}.sqlite3")
    conn = sqlite3.connect(database, isolation_level=None)
    for statement in change:
        conn.execute(statement)
    conn.close()
    return take_backup(database, tmp_path / f"{name}-backups")


def _from_newer_code(path, tmp_path):
    return _database_backup(tmp_path, "newer", [
        "INSERT INTO schema_migrations (version, name, applied_at, execution_ms) "
        "VALUES (9999, 'from_the_future', '2030-01-01T00:00:00+00:00', 1)"])


def _missing_a_table(path, tmp_path):
    return _database_backup(tmp_path, "missing", ["DROP TABLE job_runs"])


def _missing_a_trigger(path, tmp_path):
    return _database_backup(tmp_path, "trigger", ["DROP TRIGGER balance_transactions_before_update_append_only"])


def _missing_a_column(path, tmp_path):
    return _database_backup(tmp_path, "column", ["ALTER TABLE users DROP COLUMN last_login_at"])


def _append_only_trigger_made_a_no_op(path, tmp_path):
    return _database_backup(tmp_path, "noop", [
        "DROP TRIGGER balance_transactions_before_update_append_only",
        "CREATE TRIGGER balance_transactions_before_update_append_only "
        "BEFORE UPDATE ON balance_transactions BEGIN SELECT 1; END"])


def _open_booking_index_not_unique(path, tmp_path):
    return _database_backup(tmp_path, "nonunique", [
        "DROP INDEX idx_bookings_one_open_per_day",
        "CREATE INDEX idx_bookings_one_open_per_day "
        "ON bookings (user_id, hospital_id, resource_type, scheduled_day) "
        "WHERE status IN ('pending', 'approved')"])


def _balance_check_removed(path, tmp_path):
    # The stored definition edited in place: same table, same rows, no CHECK.
    return _database_backup(tmp_path, "nocheck", [
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (balance_minor >= 0)', '') "
        "WHERE type = 'table' AND name = 'user_balance'",
        "PRAGMA writable_schema = OFF"])


def _an_extra_trigger(path, tmp_path):
    return _database_backup(tmp_path, "extra", [
        "CREATE TRIGGER users_after_insert_surprise AFTER INSERT ON users "
        "BEGIN DELETE FROM user_balance; END"])


def _data_breaking_an_invariant(path, tmp_path):
    return _database_backup(tmp_path, "occupancy", [
        "UPDATE hospital_resources SET occupied = total, available = 0 "
        "WHERE resource_type = 'beds'"])


def _an_audit_row_edited_behind_its_trigger(path, tmp_path):
    """A sealed admin audit row changed with its append-only trigger dropped, and the
    trigger created again as it was: the schema is as migrated, only the hash chain tells."""
    database = helpers.migrated_database(tmp_path / "edited.sqlite3")
    conn = connect(database)
    try:
        helpers.seal_one_admin_audit_row(conn, Factory(conn), NOW)
        trigger = "admin_audit_log_before_update_append_only"
        definition = conn.execute("SELECT sql FROM sqlite_schema WHERE name = ?",
                                  (trigger,)).fetchone()["sql"]
        with transaction(conn):
            conn.execute(f"DROP TRIGGER {trigger}")
            conn.execute("UPDATE admin_audit_log SET action = 'hospital.suspended'")
            conn.execute(definition)
    finally:
        conn.close()
    return take_backup(database, tmp_path / "edited-backups")


def _without_migrations(path, tmp_path):
    return _database_backup(tmp_path, "nomigrations", ["DROP TABLE schema_migrations"])


def _another_application(path, tmp_path):
    database = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    target = tmp_path / "other.sqlite.gz"
    target.write_bytes(gzip.compress(database.read_bytes()))
    return target


@pytest.mark.parametrize("make_bad_backup, reason", [
    (_truncated, "truncated or corrupted"),
    (_byte_flipped, "truncated or corrupted"),
    (_text_file, "neither a gzip archive nor an SQLite database"),
    (_empty_file, "neither a gzip archive nor an SQLite database"),
    (_gzipped_text, "does not contain an SQLite database"),
    (_from_newer_code, "made by newer code: migrations [9999]"),
    (_missing_a_table, "table job_runs is missing"),
    (_missing_a_trigger, "trigger balance_transactions_before_update_append_only is missing"),
    (_missing_a_column, "table users differs from its migrations' definition"),
    (_append_only_trigger_made_a_no_op,
     "trigger balance_transactions_before_update_append_only differs"),
    (_open_booking_index_not_unique, "index idx_bookings_one_open_per_day differs"),
    (_balance_check_removed, "table user_balance differs"),
    (_an_extra_trigger, "trigger users_after_insert_surprise is not made by its migrations"),
    (_without_migrations, "no schema_migrations table"),
    (_another_application, "no schema_migrations table"),
    (_data_breaking_an_invariant, "breaks invariants: schedule_within_capacity"),
    (_an_audit_row_edited_behind_its_trigger,
     "audit trail was edited: admin_audit_log row 1: content changed"),
])
def test_restore_refuses_a_bad_backup_and_leaves_the_database_byte_identical(
        live, tmp_path, make_bad_backup, reason):
    database, backup_dir = live
    good = take_backup(database, backup_dir)
    bad = make_bad_backup(good, tmp_path)
    before = helpers.fingerprint(database)
    files_before = sorted(os.listdir(tmp_path))

    result = helpers.run_module("app.ops.restore", bad, database=database, backup_dir=backup_dir)

    assert result.returncode == 1
    assert "restore REFUSED" in result.stderr and reason in result.stderr, result.stderr
    assert helpers.fingerprint(database) == before
    # No temp file, no pre-restore copy; only the (empty) lock file it took.
    assert sorted(set(os.listdir(tmp_path)) - {"live.sqlite3.lock"}) == files_before
    assert [b.path for b in list_backups(backup_dir)] == [good]


@pytest.mark.parametrize("spec", ["latest", "does-not-exist.sqlite.gz"])
def test_restore_refuses_when_there_is_no_such_backup(live, tmp_path, spec):
    database, backup_dir = live
    before = helpers.fingerprint(database)
    result = helpers.run_module("app.ops.restore", spec, database=database, backup_dir=backup_dir)
    assert result.returncode == 1 and "restore REFUSED" in result.stderr
    assert helpers.fingerprint(database) == before


def test_restore_refuses_while_the_service_holds_the_database_unless_forced(live):
    database, backup_dir = live
    at_backup = helpers.dump(database)
    take_backup(database, backup_dir)
    change_data(database)
    before = helpers.fingerprint(database)
    # What the gunicorn master (and so every worker it forks) and the scheduler hold.
    service = locks.acquire(locks.service_lock_path(database), exclusive=False)
    try:
        refused = helpers.run_module("app.ops.restore", "latest", database=database,
                                     backup_dir=backup_dir)
        assert refused.returncode == 1 and "in use" in refused.stderr
        assert helpers.fingerprint(database) == before

        forced = helpers.run_module("app.ops.restore", "latest", "--force", database=database,
                                    backup_dir=backup_dir)
        assert forced.returncode == 0, forced.stderr
        assert "WARNING" in forced.stdout and helpers.dump(database) == at_backup
    finally:
        service.close()


@pytest.mark.slow
def test_restore_refuses_while_gunicorn_workers_run(live, tmp_path):
    database, backup_dir = live
    take_backup(database, backup_dir)
    with LiveServer(tmp_path, workers=2, database=database):
        before = helpers.fingerprint(database)
        refused = helpers.run_module("app.ops.restore", "latest", database=database,
                                     backup_dir=backup_dir)
        assert refused.returncode == 1 and "in use" in refused.stderr
        assert helpers.fingerprint(database) == before
    allowed = helpers.run_module("app.ops.restore", "latest", database=database,
                                 backup_dir=backup_dir)
    assert allowed.returncode == 0, allowed.stderr


def test_a_failed_check_after_the_swap_puts_the_previous_database_back(live, monkeypatch):
    database, backup_dir = live
    take_backup(database, backup_dir)
    change_data(database)
    current = helpers.dump(database)

    def failing_check(path, versions):
        raise RestoreFailed("simulated: integrity_check found damage")

    monkeypatch.setattr(restore, "check_restored", failing_check)
    lines = []
    with pytest.raises(RestoreFailed, match="previous database was put back"):
        restore.restore("latest", database=database, backup_dir=backup_dir,
                        migrations_dir=helpers.MIGRATIONS_DIR, now=NOW, log=lines.append)
    assert helpers.dump(database) == current
    assert any("ROLLED BACK" in line for line in lines)
    assert not any(name.startswith((".restore-", "live.sqlite3.pre-restore"))
                   for name in os.listdir(Path(database).parent))


def test_an_unreadable_current_database_is_kept_byte_for_byte(live, tmp_path):
    database, backup_dir = live
    at_backup = helpers.dump(database)
    take_backup(database, backup_dir)
    Path(database).write_bytes(b"garbage that once was a database" * 200)
    result = helpers.run_module("app.ops.restore", "latest", database=database,
                                backup_dir=backup_dir)
    assert result.returncode == 0, result.stderr
    assert helpers.dump(database) == at_backup
    [pre_restore] = [b for b in list_backups(backup_dir) if b.kind == "pre_restore"]
    assert gzip.decompress(pre_restore.path.read_bytes()) == b"garbage that once was a database" * 200


def test_a_backup_that_lacks_newer_migrations_is_accepted_and_they_are_reported(live, tmp_path):
    database, backup_dir = live
    take_backup(database, backup_dir)
    migrations = tmp_path / "migrations"
    shutil.copytree(helpers.MIGRATIONS_DIR, migrations)
    (migrations / "9999_extra_table.py").write_text(
        '"""Test migration."""\n\ndef up(conn):\n    conn.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY)")\n'
    )
    lines = []
    result = restore.restore("latest", database=database, backup_dir=backup_dir,
                             migrations_dir=str(migrations), now=NOW, log=lines.append)
    known = [m.version for m in migrator.discover(helpers.MIGRATIONS_DIR)]
    assert result.pending == [9999] and result.versions == known
    assert any("lacks migrations [9999]" in line for line in lines)


def test_list_shows_backups_with_size_and_age(live):
    database, backup_dir = live
    first = take_backup(database, backup_dir, now=datetime(2025, 3, 1, tzinfo=timezone.utc))
    second = take_backup(database, backup_dir)
    result = helpers.run_script("restore-database", "--list", database=database,
                                backup_dir=backup_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first_line = next(line for line in lines if first.name in line)
    second_line = next(line for line in lines if second.name in line)
    assert lines.index(first_line) < lines.index(second_line)
    assert "KiB" in first_line and "days old" in first_line
    assert "latest" in second_line and "latest" not in first_line


def test_restore_without_arguments_is_a_usage_error(live):
    database, backup_dir = live
    result = helpers.run_module("app.ops.restore", database=database, backup_dir=backup_dir)
    assert result.returncode == 2 and "latest" in result.stderr


def test_restore_is_refused_when_the_current_database_cannot_be_copied(live, monkeypatch):
    database, backup_dir = live
    take_backup(database, backup_dir)
    before = helpers.fingerprint(database)

    def disk_full(source, target_path, **kwargs):
        Path(target_path).write_bytes(b"half a copy")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(restore, "copy_database", disk_full)
    with pytest.raises(restore.RestoreRefused, match="could not keep a copy.*disk is full"):
        restore.restore("latest", database=database, backup_dir=backup_dir,
                        migrations_dir=helpers.MIGRATIONS_DIR, now=NOW, log=lambda line: None)
    assert helpers.fingerprint(database) == before
    assert sorted(os.listdir(Path(database).parent)) == [
        "backups", "live.sqlite3", "live.sqlite3.lock"]
