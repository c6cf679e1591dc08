"""Online backups: consistent under concurrent writers, verified, atomic, pruned by age."""
import gzip
import multiprocessing
import os
import re
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from app.db import connect
from app.ops import backup, checks
from app.ops.backup import BackupError, backup_database, list_backups, prune_backups, run_backup
from tests.ops import helpers

NOW = datetime(2025, 3, 10, 4, 30, 15, tzinfo=timezone.utc)


@pytest.fixture
def database(tmp_path):
    return helpers.migrated_database(tmp_path / "live.sqlite3")


@pytest.mark.sqlite_only
def test_backup_is_a_verified_gzip_of_the_whole_database(database, tmp_path):
    source = connect(database)
    try:
        result = backup_database(source, tmp_path / "backups", now=NOW)
    finally:
        source.close()
    assert result.path.name == "database_backup_20250310_043015.sqlite.gz"
    assert os.listdir(tmp_path / "backups") == [result.path.name]  # no temp file left
    copy = helpers.unpack(result.path, tmp_path / "copy.sqlite3")
    assert helpers.dump(copy) == helpers.dump(database)
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    assert checks.all_problems(conn) == []
    conn.close()


@pytest.mark.sqlite_only
def test_a_second_backup_in_the_same_second_does_not_replace_the_first(database, tmp_path):
    source = connect(database)
    first = backup_database(source, tmp_path / "backups", now=NOW)
    before = first.path.read_bytes()
    with pytest.raises(BackupError, match="already exists"):
        backup_database(source, tmp_path / "backups", now=NOW)
    source.close()
    assert first.path.read_bytes() == before
    assert os.listdir(tmp_path / "backups") == [first.path.name]


@pytest.mark.sqlite_only
def test_a_copy_that_fails_its_checks_leaves_no_file(tmp_path):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    conn = sqlite3.connect(database, isolation_level=None)  # foreign keys off: plant a dangling row
    conn.execute("INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) "
                 "VALUES (424242, 'h', 'now', 'later')")
    conn.close()
    source = connect(database)
    with pytest.raises(BackupError, match="api_tokens row .* missing users"):
        backup_database(source, tmp_path / "backups", now=NOW)
    source.close()
    assert os.listdir(tmp_path / "backups") == []


@pytest.mark.sqlite_only
def test_a_failure_while_writing_the_archive_leaves_no_partial_file(database, tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup.os, "fsync", broken_fsync)
    source = connect(database)
    with pytest.raises(OSError, match="No space left"):
        backup_database(source, tmp_path / "backups", now=NOW)
    source.close()
    assert os.listdir(tmp_path / "backups") == []


def _touch_backup(directory, stamp, kind="database_backup"):
    path = directory / f"{kind}_{stamp}.sqlite.gz"
    path.write_bytes(gzip.compress(b"not checked by pruning"))
    return path.name


def test_pruning_deletes_by_the_age_in_the_name_and_never_the_newest(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    old = [_touch_backup(directory, "20250101_030000"), _touch_backup(directory, "20250207_035959"),
           _touch_backup(directory, "20250101_000000", kind="pre_restore")]
    recent = [_touch_backup(directory, "20250208_043016"), _touch_backup(directory, "20250310_030000")]
    unrelated = directory / "notes.txt"
    unrelated.write_text("kept")

    removed = prune_backups(directory, now=NOW, retention_days=30)  # cutoff 2025-02-08 04:30:15

    assert sorted(b.path.name for b in removed) == sorted(old)
    assert sorted(os.listdir(directory)) == sorted(recent + ["notes.txt"])


def test_pruning_keeps_the_newest_backup_however_old(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    names = [_touch_backup(directory, "20240101_030000"), _touch_backup(directory, "20240102_030000")]
    prune_backups(directory, now=NOW, retention_days=1)
    assert os.listdir(directory) == [names[1]]


def test_pruning_removes_temp_files_a_killed_run_left_a_day_ago(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    stale, fresh = directory / ".tmp-database_backup.old", directory / ".tmp-database_backup.new"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    a_day_ago = time.time() - 25 * 3600
    os.utime(stale, (a_day_ago, a_day_ago))
    prune_backups(directory, now=NOW, retention_days=30)
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to a running backup


@pytest.mark.sqlite_only
def test_run_backup_job_backs_up_and_prunes(database, tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    expired = _touch_backup(directory, "20250101_000000")
    config = {"BACKUP_DIR": str(directory), "BACKUP_RETENTION_DAYS": 7}
    conn = connect(database)
    with freeze_time(NOW):
        message = run_backup(conn, now=NOW, config=config)
    conn.close()
    assert "database_backup_20250310_043015.sqlite.gz" in message and "pruned 1" in message
    assert [b.path.name for b in list_backups(directory)] == ["database_backup_20250310_043015.sqlite.gz"]
    assert expired not in os.listdir(directory)


@pytest.mark.sqlite_only
@pytest.mark.slow
def test_backups_taken_while_processes_write_are_complete_and_consistent(tmp_path):
    database = helpers.migrated_database(tmp_path / "busy.sqlite3")
    writers = 3
    helpers.add_writer_tables(database, writers=writers, prefill_rows=1000)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    processes = [context.Process(target=helpers.writer_loop, args=(database, w, stop))
                 for w in range(writers)]
    for process in processes:
        process.start()
    observer = connect(database)
    taken = []
    try:
        deadline = time.monotonic() + 60
        while min(helpers.writer_progress(observer).values()) < 5:  # every writer is going
            assert time.monotonic() < deadline, "writers did not start"
            time.sleep(0.05)
        for i in range(3):
            steps = []

            def slow_disk(phase, done, total):
                # Small steps on a slow disk: many commits land between the steps of one copy.
                if phase == "copy":
                    steps.append(done)
                    if len(steps) == 1 or done == total:
                        during.append(helpers.writer_progress(observer))
                    time.sleep(0.003)

            during = []
            before = helpers.writer_progress(observer)
            source = connect(database)
            try:
                result = backup_database(source, tmp_path / "backups", now=NOW + timedelta(seconds=i),
                                         pages_per_step=8, progress=slow_disk)
            finally:
                source.close()
            assert len(steps) > 50 and steps == sorted(steps)  # never restarted from page 1
            taken.append((result.path, before, during))
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=30)
        observer.close()
    assert all(process.exitcode == 0 for process in processes)
    # The writers really were committing between the first and the last step of the copies.
    assert all(sum(last.values()) > sum(first.values()) for _, _, (first, last) in taken)

    for path, before, _after in taken:
        copy = sqlite3.connect(helpers.unpack(path, tmp_path / f"{path.name}.sqlite3"))
        assert checks.integrity_problems(copy) == [] and checks.foreign_key_problems(copy) == []
        progress = dict(copy.execute("SELECT writer, committed FROM test_progress"))
        for w in range(writers):
            assert progress[w] >= before[w]  # everything committed before the backup began
            count, top = copy.execute(
                "SELECT count(*), coalesce(max(seq), 0) FROM test_parent WHERE writer = ?", (w,)
            ).fetchone()
            assert count == top == progress[w]  # no transaction half in, half out
        parents = copy.execute("SELECT count(*) FROM test_parent WHERE writer >= 0").fetchone()[0]
        children = copy.execute("SELECT count(*) FROM test_child").fetchone()[0]
        assert children == helpers.CHILDREN_PER_PARENT * parents
        assert copy.execute("SELECT count(*) FROM test_parent WHERE writer = -1").fetchone()[0] == 1000
        copy.close()


# --- the command ----------------------------------------------------------------

NAME = re.compile(r"database_backup_\d{8}_\d{6}\.sqlite\.gz")


@pytest.mark.sqlite_only
def test_backup_script_backs_up_prints_and_exits_zero(database, tmp_path):
    result = helpers.run_script("backup-database", database=database,
                                backup_dir=tmp_path / "backups")
    assert result.returncode == 0, result.stderr
    [name] = os.listdir(tmp_path / "backups")
    assert NAME.fullmatch(name)
    assert name in result.stdout and "integrity_check ok" in result.stdout
    copy = helpers.unpack(tmp_path / "backups" / name, tmp_path / "copy.sqlite3")
    assert helpers.dump(copy) == helpers.dump(database)


@pytest.mark.sqlite_only
def test_backup_command_prunes_with_retention_days_option(database, tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    ten_days_ago = (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y%m%d_%H%M%S")
    old = _touch_backup(directory, ten_days_ago)
    result = helpers.run_module("app.ops.backup", "--retention-days", "7", database=database,
                                backup_dir=directory)
    assert result.returncode == 0, result.stderr
    assert f"pruned {old}" in result.stdout
    assert old not in os.listdir(directory) and len(os.listdir(directory)) == 1


@pytest.mark.sqlite_only
def test_backup_command_shows_progress_for_a_large_database(tmp_path):
    database = helpers.migrated_database(tmp_path / "large.sqlite3")
    helpers.add_writer_tables(database, writers=1, prefill_rows=6000)  # ~7 MiB: two copy steps
    result = helpers.run_module("app.ops.backup", database=database, backup_dir=tmp_path / "b")
    assert result.returncode == 0, result.stderr
    assert "backup: copy 100%" in result.stdout and "backup: compress 100%" in result.stdout
    # the checks report nothing while they read every page: their start is shown
    assert "backup: check started (" in result.stdout and "backup: check 100%" in result.stdout
    lines = result.stdout.splitlines()
    assert lines.index(next(line for line in lines if "copy 100%" in line)) < \
        lines.index(next(line for line in lines if "check started" in line))


@pytest.mark.sqlite_only
@pytest.mark.parametrize("problem", ["missing", "not_a_database", "dangling_foreign_key"])
def test_backup_command_fails_non_zero_and_leaves_nothing(tmp_path, problem):
    database = tmp_path / "live.sqlite3"
    if problem == "not_a_database":
        database.write_text("hello, I am a text file\n" * 100)
    elif problem == "dangling_foreign_key":
        helpers.migrated_database(database)
        conn = sqlite3.connect(database)
        conn.execute("INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) "
                     "VALUES (999, 'h', 'now', 'later')")
        conn.commit()
        conn.close()
    result = helpers.run_module("app.ops.backup", database=database, backup_dir=tmp_path / "b")
    assert result.returncode != 0
    assert "backup FAILED" in result.stderr
    assert not (tmp_path / "b").exists() or os.listdir(tmp_path / "b") == []


@pytest.mark.sqlite_only
def test_retention_days_below_one_is_a_usage_error(database, tmp_path):
    result = helpers.run_module("app.ops.backup", "--retention-days", "0", database=database,
                                backup_dir=tmp_path / "b")
    assert result.returncode == 2 and "at least 1" in result.stderr
    assert not (tmp_path / "b").exists()
