"""PostgreSQL backups (app/ops/pg_backup.py): pg_dump -Fc, verified by a restore, atomic, pruned."""
import itertools
import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from app.config import DEFAULTS
from app.db import connect_from_config, postgres, transaction
from app.ops import backup, pg_backup
from app.ops.backup import BackupError, list_backups, run_backup
from tests import pg
from tests.ops import helpers

pytestmark = pytest.mark.postgres_only

NOW = datetime(2025, 3, 10, 4, 30, 15, tzinfo=timezone.utc)
NAME = re.compile(r"database_backup_\d{8}_\d{6}\.pgdump")
_numbers = itertools.count(1)


@pytest.fixture
def live(template_database):
    """A PostgreSQL database with a little of everything (its URL); dropped afterwards
    with every scratch database named after it."""
    name = f"rc_ops_{os.getpid()}_{next(_numbers)}"
    url = helpers.pg_database(name, template_database)
    yield url
    postgres.close_pools()
    helpers.drop_pg_databases(name)


def config_for(url, backup_dir, **extra):
    return {**DEFAULTS, "DATABASE_URL": url, "BACKUP_DIR": str(backup_dir), **extra}


def restored_copy(path, name):
    """pg_restore the dump at ``path`` into a new database ``name``; its URL."""
    url = pg.create_database(name)
    pg_backup.restore_dump(path, url, DEFAULTS)
    return url


def test_backup_is_a_verified_dump_of_the_whole_database(live, tmp_path):
    result = pg_backup.backup_database(live, tmp_path / "backups", now=NOW,
                                       config=config_for(live, tmp_path / "backups"))
    assert result.path.name == "database_backup_20250310_043015.pgdump"
    assert os.listdir(tmp_path / "backups") == [result.path.name]  # no temp file left
    assert result.path.read_bytes()[:5] == b"PGDMP"
    copy = restored_copy(result.path, f"{pg_backup.database_name(live)}_copy")
    assert helpers.pg_data(copy) == helpers.pg_data(live)
    assert helpers.pg_dump_lines(copy, "--schema-only") == helpers.pg_dump_lines(live, "--schema-only")
    # The scratch database the check restored into is gone.
    assert helpers.pg_databases(pg_backup.database_name(live)) == sorted(
        [pg_backup.database_name(live), f"{pg_backup.database_name(live)}_copy"])


def test_a_dump_and_its_folder_are_owner_only(live, tmp_path):
    """Issue #18 item 4: whatever the umask, the dump is 0600 and BACKUP_DIR 0700."""
    previous = os.umask(0o022)
    try:
        result = pg_backup.backup_database(live, tmp_path / "backups", now=NOW,
                                           config=config_for(live, tmp_path / "backups"))
    finally:
        os.umask(previous)
    assert os.stat(result.path).st_mode & 0o777 == 0o600
    assert os.stat(tmp_path / "backups").st_mode & 0o777 == 0o700


def test_a_second_backup_in_the_same_second_does_not_replace_the_first(live, tmp_path):
    config = config_for(live, tmp_path / "backups")
    first = pg_backup.backup_database(live, tmp_path / "backups", now=NOW, config=config)
    before = first.path.read_bytes()
    with pytest.raises(BackupError, match="already exists"):
        pg_backup.backup_database(live, tmp_path / "backups", now=NOW, config=config)
    assert first.path.read_bytes() == before
    assert os.listdir(tmp_path / "backups") == [first.path.name]


def break_occupancy(url):
    """Every bed marked occupied by hand while an approved booking holds one in two days
    (the counters still add up, so no CHECK refuses it): app.ops.invariants'
    schedule_within_capacity."""
    conn = postgres.connect(url, DEFAULTS)
    try:
        with transaction(conn):
            conn.execute("UPDATE hospital_resources SET occupied = total, available = 0 "
                         "WHERE resource_type = 'beds'")
    finally:
        conn.close()


def test_a_dump_whose_data_breaks_an_invariant_leaves_no_file(live, tmp_path):
    break_occupancy(live)
    with pytest.raises(BackupError, match="schedule_within_capacity"):
        pg_backup.backup_database(live, tmp_path / "backups", now=NOW,
                                  config=config_for(live, tmp_path / "backups"))
    assert os.listdir(tmp_path / "backups") == []
    assert helpers.pg_databases(pg_backup.database_name(live)) == [pg_backup.database_name(live)]


def test_run_backup_job_dispatches_to_pg_dump_and_prunes(live, tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    expired = directory / "database_backup_20250101_000000.pgdump"
    expired.write_bytes(b"PGDMP not checked by pruning")
    config = config_for(live, directory, BACKUP_RETENTION_DAYS=7)
    conn = connect_from_config(config)
    try:
        message = run_backup(conn, now=NOW, config=config)
    finally:
        conn.close()
    assert "database_backup_20250310_043015.pgdump" in message and "pruned 1" in message
    assert [b.path.name for b in list_backups(directory)] == ["database_backup_20250310_043015.pgdump"]


def test_writers_are_not_blocked_and_the_dump_is_one_snapshot(live, tmp_path):
    """A writer holding row locks and an uncommitted insert does not stop the backup;
    the dump has none of its work; the writer then commits normally."""
    writer = postgres.connect(live, DEFAULTS)
    try:
        writer.raw.execute("BEGIN")
        writer.execute("UPDATE hospital_resources SET maintenance = maintenance + 1, "
                       "available = available - 1 WHERE resource_type = 'beds'")
        writer.execute("INSERT INTO job_runs (job_name, started_at, status) "
                       "VALUES ('uncommitted', now(), 'running')")
        done = {}

        def take():
            done["result"] = pg_backup.backup_database(
                live, tmp_path / "backups", now=NOW, config=config_for(live, tmp_path / "backups"))

        thread = threading.Thread(target=take)
        thread.start()
        thread.join(timeout=120)
        assert not thread.is_alive(), "the backup waited for the writer"
        writer.raw.execute("COMMIT")  # the writer was not blocked either
    finally:
        writer.close()
    copy = restored_copy(done["result"].path, f"{pg_backup.database_name(live)}_copy")
    with psycopg.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM job_runs WHERE job_name = 'uncommitted'"
                            ).fetchone()[0] == 0
        assert conn.execute("SELECT sum(maintenance) FROM hospital_resources").fetchone()[0] == 0
    with psycopg.connect(live) as conn:
        assert conn.execute("SELECT count(*) FROM job_runs WHERE job_name = 'uncommitted'"
                            ).fetchone()[0] == 1


# --- the command ----------------------------------------------------------------

def run(live, backup_dir, *args, script=False, env=None):
    environment = {"RAPIDCARE_DATABASE_URL": live, **(env or {})}
    if script:
        return helpers.run_script("backup-database", *args, database="unused.sqlite3",
                                  backup_dir=backup_dir, env=environment)
    return helpers.run_module("app.ops.backup", *args, database="unused.sqlite3",
                              backup_dir=backup_dir, env=environment)


def test_backup_script_dumps_verifies_and_exits_zero(live, tmp_path):
    result = run(live, tmp_path / "backups", script=True)
    assert result.returncode == 0, result.stderr
    [name] = os.listdir(tmp_path / "backups")
    assert NAME.fullmatch(name)
    assert name in result.stdout and "invariants ok" in result.stdout
    copy = restored_copy(tmp_path / "backups" / name, f"{pg_backup.database_name(live)}_copy")
    assert helpers.pg_data(copy) == helpers.pg_data(live)


def test_backup_command_prunes_with_retention_days_option(live, tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    ten_days_ago = (datetime.now(timezone.utc) - timedelta(days=10)).strftime("%Y%m%d_%H%M%S")
    old = directory / f"database_backup_{ten_days_ago}.pgdump"
    old.write_bytes(b"PGDMP")
    result = run(live, directory, "--retention-days", "7")
    assert result.returncode == 0, result.stderr
    assert f"pruned {old.name}" in result.stdout
    assert not old.exists() and len(os.listdir(directory)) == 1


@pytest.mark.parametrize("problem", ["no_such_database", "broken_invariant", "no_pg_dump",
                                     "sqlite_file_named"])
def test_backup_command_fails_non_zero_and_leaves_nothing(live, tmp_path, problem):
    url, env, args = live, {}, []
    if problem == "no_such_database":
        url = pg.url_for(f"{pg_backup.database_name(live)}_absent")
    elif problem == "broken_invariant":
        break_occupancy(live)
    elif problem == "no_pg_dump":
        env["RAPIDCARE_PG_BIN_DIR"] = str(tmp_path)  # holds no pg_dump
    else:
        args = ["--database", str(tmp_path / "live.sqlite3")]
    result = run(url, tmp_path / "b", *args, env=env)
    assert result.returncode != 0
    assert ("backup FAILED" in result.stderr or "selects PostgreSQL" in result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "b").exists() or os.listdir(tmp_path / "b") == []
    assert helpers.pg_databases(pg_backup.database_name(live)) == [pg_backup.database_name(live)]


def test_backup_names_and_retention_are_shared_with_sqlite(tmp_path):
    directory = tmp_path / "backups"
    directory.mkdir()
    for name in ("database_backup_20250101_000000.sqlite.gz", "database_backup_20250102_000000.pgdump",
                 "database_backup_20250103_000000.sqlite.gz"):
        (directory / name).write_bytes(b"x")
    assert backup.latest_backup(directory, ".pgdump").path.name == "database_backup_20250102_000000.pgdump"
    assert backup.latest_backup(directory).path.name == "database_backup_20250103_000000.sqlite.gz"
    removed = backup.prune_backups(directory, now=datetime(2025, 3, 1, tzinfo=timezone.utc),
                                   retention_days=30)
    assert sorted(b.path.name for b in removed) == ["database_backup_20250101_000000.sqlite.gz",
                                                     "database_backup_20250102_000000.pgdump"]


def test_the_password_is_never_on_the_command_line(monkeypatch):
    seen = {}

    def fake_run(command, env, **kwargs):
        seen.update(command=command, env=env)

        class Done:
            returncode, stdout, stderr = 0, "", ""
        return Done()

    monkeypatch.setattr(pg_backup.subprocess, "run", fake_run)  # the program, not our code
    pg_backup.run_tool("pg_dump", ["--schema-only"],
                       url="postgresql://alice:s3cret@db.example:5433/rapidcare", config=DEFAULTS)
    assert not any("s3cret" in part for part in seen["command"])
    assert seen["env"]["PGPASSWORD"] == "s3cret"
    assert "dbname=rapidcare" in seen["command"][-1] and "port=5433" in seen["command"][-1]


@pytest.mark.slow
def test_backups_taken_while_writers_commit_are_consistent(live, tmp_path):
    """Writers commit parent + children + their counter in one transaction each while
    backups run; every backup holds whole transactions only."""
    conn = postgres.connect(live, DEFAULTS)
    with transaction(conn):
        conn.execute("CREATE TABLE test_parent (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                     "writer int NOT NULL, seq int NOT NULL)")
        conn.execute("CREATE TABLE test_child (parent_id bigint NOT NULL REFERENCES test_parent, "
                     "n int NOT NULL)")
        conn.execute("CREATE TABLE test_progress (writer int PRIMARY KEY, committed int NOT NULL)")
        conn.execute("INSERT INTO test_progress VALUES (0, 0), (1, 0)")
    conn.close()
    stop = threading.Event()

    def write(writer):
        own = psycopg.connect(live, autocommit=True)
        seq = 0
        while not stop.is_set():
            seq += 1
            with own.transaction():
                parent = own.execute("INSERT INTO test_parent (writer, seq) VALUES (%s, %s) "
                                     "RETURNING id", (writer, seq)).fetchone()[0]
                own.execute("INSERT INTO test_child SELECT %s, n FROM generate_series(1, 3) n",
                            (parent,))
                own.execute("UPDATE test_progress SET committed = %s WHERE writer = %s",
                            (seq, writer))
        own.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        paths = [pg_backup.backup_database(live, tmp_path / "b", now=NOW + timedelta(seconds=i),
                                           config=config_for(live, tmp_path / "b")).path
                 for i in range(2)]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    for i, path in enumerate(paths):
        copy = restored_copy(path, f"{pg_backup.database_name(live)}_copy{i}")
        with psycopg.connect(copy) as conn:
            for writer, committed in conn.execute("SELECT writer, committed FROM test_progress"):
                count, top = conn.execute("SELECT count(*), coalesce(max(seq), 0) FROM test_parent "
                                          "WHERE writer = %s", (writer,)).fetchone()
                assert count == top == committed
            parents = conn.execute("SELECT count(*) FROM test_parent").fetchone()[0]
            assert conn.execute("SELECT count(*) FROM test_child").fetchone()[0] == 3 * parents
            assert parents > 0
