"""The scheduler: one instance per database, jobs as data, every run recorded in job_runs."""
import inspect
import select
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from freezegun import freeze_time

from app.config import TEST_OVERRIDES, standalone_config
from app.db import connect
from app.ops import jobs, queries, scheduler
from app.ops.scheduler import JOBS, JobSpec, build_scheduler, resolve, run_job
from tests.ops import helpers

NOW = datetime(2025, 3, 10, 4, 30, 15, tzinfo=timezone.utc)


@pytest.fixture
def config(tmp_path):
    return standalone_config({
        "DATABASE": helpers.migrated_database(tmp_path / "live.sqlite3"),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "TIMEZONE": "Asia/Dhaka",
        # the scheduler is production unless told otherwise: it needs its key (README
        # "Encryption at rest")
        "ENCRYPTION_KEYS": TEST_OVERRIDES["ENCRYPTION_KEYS"],
    })


def runs(config, job_name):
    conn = connect(config["DATABASE"])
    try:
        return queries.job_runs(conn, job_name)
    finally:
        conn.close()


def test_every_job_has_the_job_signature():
    for spec in JOBS:
        parameters = inspect.signature(resolve(spec.target)).parameters
        assert list(parameters)[:1] == ["conn"], spec.name
        assert {name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY} == {"now", "config"}


def test_jobs_never_overlap_coalesce_and_have_a_grace_time(config):
    built = build_scheduler(config)
    assert [job.id for job in built.get_jobs()] == [spec.name for spec in JOBS]
    assert {"backup", "integrity-check"} <= {spec.name for spec in JOBS}
    for job in built.get_jobs():
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time >= 600
    backup = built.get_job("backup")
    dhaka = backup.trigger.timezone
    assert str(dhaka) == "Asia/Dhaka"
    # Daily, at the same local time.
    first = backup.trigger.get_next_fire_time(None, datetime(2025, 3, 10, tzinfo=dhaka))
    second = backup.trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert second - first == timedelta(days=1) and (first.hour, first.minute) == (3, 30)
    check = built.get_job("integrity-check")
    assert check.trigger.interval == timedelta(hours=1)


def test_a_missing_job_module_fails_when_the_scheduler_is_built(config):
    with pytest.raises(ModuleNotFoundError):
        build_scheduler(config, [JobSpec("ghost", "app.nowhere.jobs:run", "interval", {"minutes": 1})])


def test_run_job_records_a_successful_run(config):
    spec = next(spec for spec in JOBS if spec.name == "integrity-check")
    with freeze_time(NOW):
        status, message = run_job(spec, config)
    # the integrity job also seals and verifies the audit chains (issue #18 item 5)
    assert status == "succeeded"
    assert message.startswith("quick_check ok; audit chains ok: ") and "links verified" in message
    [row] = runs(config, "integrity-check")
    assert row["status"] == "succeeded" and row["message"] == message
    assert row["started_at"] == row["finished_at"] == "2025-03-10T04:30:15.000000+00:00"


def boom(conn, *, now, config):
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM job_runs")  # left uncommitted by the failure below
    raise ValueError(f"exploded at {now:%H:%M}")


def test_run_job_records_a_failure_and_does_not_raise(config):
    spec = JobSpec("boom", f"{__name__}:boom", "interval", {"minutes": 1})
    with freeze_time(NOW):
        status, message = run_job(spec, config)
    assert (status, message) == ("failed", "ValueError: exploded at 04:30")
    [row] = runs(config, "boom")  # the failed job's open transaction was rolled back
    assert row["status"] == "failed" and row["message"] == "ValueError: exploded at 04:30"
    assert row["finished_at"] is not None


def test_the_backup_job_through_the_scheduler(config):
    spec = next(spec for spec in JOBS if spec.name == "backup")
    with freeze_time(NOW):
        status, message = run_job(spec, config)
    assert status == "succeeded", message
    assert (Path(config["BACKUP_DIR"]) / "database_backup_20250310_043015.sqlite.gz").is_file()
    assert runs(config, "backup")[0]["message"] == message


def test_the_integrity_job_fails_on_a_damaged_database(tmp_path):
    database = helpers.migrated_database(tmp_path / "damaged.sqlite3")
    helpers.add_writer_tables(database, writers=1, prefill_rows=300)
    conn = connect(database)
    page_size = conn.execute("PRAGMA page_size").fetchone()["page_size"]
    root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'test_parent'").fetchone()
    conn.close()
    with open(database, "r+b") as handle:  # scribble over the table's root page
        handle.seek((root["rootpage"] - 1) * page_size + 8)
        handle.write(b"\xff" * 64)
    conn = connect(database)
    try:
        with pytest.raises(Exception, match="quick_check|malformed"):
            jobs.check_integrity(conn, now=NOW, config={})
    finally:
        conn.close()


# --- the process ----------------------------------------------------------------

def start_scheduler(tmp_path, database):
    process = subprocess.Popen(
        [sys.executable, "-m", "app.ops.scheduler"], cwd=helpers.ROOT,
        env=helpers.script_env(database, tmp_path / "backups"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    ready, _, _ = select.select([process.stdout], [], [], 60)
    if not ready:
        process.kill()
        pytest.fail("the scheduler did not start within 60 s")
    line = process.stdout.readline()  # it has started (or died)
    assert line.startswith("scheduler: started"), (line, process.stderr.read() if process.poll() else "")
    return process


def stop(process):
    process.terminate()
    try:
        return process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.slow
def test_a_second_scheduler_refuses_to_start(tmp_path):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    first = start_scheduler(tmp_path, database)
    try:
        second = helpers.run_module("app.ops.scheduler", database=database,
                                    backup_dir=tmp_path / "backups", timeout=60)
        assert second.returncode == 1
        assert "already running" in second.stderr and f"pid {first.pid}" in second.stderr
        run_now = helpers.run_module("app.ops.scheduler", "--run", "integrity-check",
                                     database=database, backup_dir=tmp_path / "backups")
        assert run_now.returncode == 1 and "already running" in run_now.stderr
        assert first.poll() is None  # the first one is unaffected
    finally:
        assert stop(first) == 0
    # Once it has stopped, the lock is free again.
    again = helpers.run_module("app.ops.scheduler", "--run", "integrity-check",
                               database=database, backup_dir=tmp_path / "backups")
    assert again.returncode == 0, again.stderr
    assert "integrity-check succeeded: quick_check ok" in again.stdout


def test_the_scheduler_script_runs_one_job_and_marks_interrupted_runs_failed(tmp_path):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    conn = connect(database)
    with conn:
        conn.execute("INSERT INTO job_runs (job_name, started_at, status) "
                     "VALUES ('backup', '2025-03-10T03:30:00+00:00', 'running')")
    conn.close()
    result = helpers.run_script("scheduler", "--run", "backup", database=database,
                                backup_dir=tmp_path / "backups")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("backup succeeded: database_backup_")
    interrupted, ran = runs({"DATABASE": database}, "backup")
    assert (interrupted["status"], interrupted["message"]) == (
        "failed", "interrupted: the scheduler stopped")
    assert ran["status"] == "succeeded" and ran["message"].startswith("database_backup_")
    assert len(list((tmp_path / "backups").glob("database_backup_*.sqlite.gz"))) == 1


def test_the_scheduler_refuses_an_unmigrated_database(tmp_path):
    result = helpers.run_module("app.ops.scheduler", database=tmp_path / "nothing.sqlite3",
                                backup_dir=tmp_path / "backups")
    assert result.returncode == 1 and "no database" in result.stderr


def test_scheduler_list_shows_every_job():
    result = subprocess.run([sys.executable, "-m", "app.ops.scheduler", "--list"],
                            cwd=helpers.ROOT, capture_output=True, text=True, timeout=60,
                            env=helpers.script_env(":memory:", "/nonexistent"))
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [s.name for s in JOBS]


def test_job_list_is_data_in_one_place():
    assert all(isinstance(spec, JobSpec) for spec in scheduler.JOBS)
    assert len({spec.name for spec in JOBS}) == len(JOBS)
