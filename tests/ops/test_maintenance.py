"""Database upkeep (app/ops/maintenance.py): the job, `flask db maintenance`, and the
health thresholds that say when upkeep is needed (issue #19 item 3)."""
import os
import sqlite3
import types
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from app import create_app
from app.config import TEST_OVERRIDES, ConfigError
from app.db import connect, transaction
from app.ops import maintenance
from app.ops.scheduler import JOBS, run_job

# SQLite's upkeep (WAL, FTS5, ANALYZE limits); PostgreSQL's is in tests/test_postgres.py.
pytestmark = pytest.mark.sqlite_only

MAINTENANCE = next(spec for spec in JOBS if spec.name == "database-maintenance")


def wal_size(database):
    return os.path.getsize(database + "-wal") if os.path.exists(database + "-wal") else 0


def grow_wal(database, *, rows=200):
    """Commit ~800 KB through a connection that never checkpoints; returns it (still open,
    so closing it does not checkpoint the WAL away)."""
    writer = connect(database)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    with transaction(writer):
        writer.execute("CREATE TABLE IF NOT EXISTS test_filler (payload BLOB) STRICT")
    for _ in range(rows):
        with transaction(writer):
            writer.execute("INSERT INTO test_filler VALUES (randomblob(4000))")
    return writer


def test_the_job_analyzes_optimizes_search_and_truncates_the_wal(app, db, make):
    database = app.config["DATABASE"]
    hospitals = [make.hospital(name=f"Maintenance Test {n}", city="Khulna") for n in range(12)]
    segments_before = db.execute("SELECT count(*) AS n FROM hospitals_fts_data").fetchone()["n"]
    writer = grow_wal(database)
    assert wal_size(database) > 500_000
    assert db.execute("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'sqlite_stat1'").fetchone()["n"] == 0

    status, message = run_job(MAINTENANCE, app.config)

    assert status == "succeeded", message
    assert "ANALYZE (limit 1000)" in message and "hospitals_fts optimized" in message
    assert message.endswith("-> 0 B (TRUNCATE checkpoint)")
    assert wal_size(database) < 10_000  # then only run_job's own note in job_runs
    stats = {row["tbl"] for row in db.execute("SELECT tbl FROM sqlite_stat1")}
    assert {"hospitals", "schema_migrations", "job_runs"} <= stats  # tables with rows
    segments_after = db.execute("SELECT count(*) AS n FROM hospitals_fts_data").fetchone()["n"]
    assert segments_after < segments_before
    # the merged index still finds every hospital
    found = db.execute("SELECT rowid FROM hospitals_fts WHERE hospitals_fts MATCH 'Khulna'").fetchall()
    assert {row["rowid"] for row in found} >= {hospital["id"] for hospital in hospitals}
    writer.close()


def test_a_reader_holding_an_old_snapshot_defers_the_truncation(app, db):
    database = app.config["DATABASE"]
    reader = connect(database)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM users").fetchone()  # its snapshot pins the WAL
    writer = grow_wal(database, rows=50)
    size = wal_size(database)
    try:
        status, message = run_job(MAINTENANCE, app.config)
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert status == "succeeded", message
    assert "busy, truncation left to the next run" in message
    assert wal_size(database) >= size
    writer.close()
    # once quiet, the next run truncates
    assert run_job(MAINTENANCE, app.config)[1].endswith("-> 0 B (TRUNCATE checkpoint)")


def test_flask_db_maintenance_runs_the_job_and_records_it(app, db):
    result = app.test_cli_runner().invoke(args=["db", "maintenance"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("database-maintenance succeeded: ANALYZE")
    runs = db.execute("SELECT status, message FROM job_runs WHERE job_name = 'database-maintenance'").fetchall()
    assert len(runs) == 1 and runs[0]["status"] == "succeeded"
    assert runs[0]["message"] == result.output.split("succeeded: ", 1)[1].strip()


def test_maintenance_is_chosen_by_the_backend_of_the_connection(db):
    assert maintenance.backend_of(db) == "sqlite"
    assert maintenance.maintenance_for(db) is maintenance.maintain_sqlite
    other = types.SimpleNamespace()  # a connection of a backend with no maintenance yet
    with pytest.raises(NotImplementedError, match="no database maintenance written for types"):
        maintenance.maintenance_for(other)


# --- detailed health: thresholds turn upkeep problems into warnings ---------------------

def detailed(client, make, admin):
    return client.get("/api/health/detailed", headers=make.auth(admin)).json


def test_a_large_wal_is_a_warning_until_maintenance_truncates_it(app, client, make):
    admin = make.admin()
    app.config["HEALTH_WAL_WARN_MB"] = 0.25
    writer = grow_wal(app.config["DATABASE"])

    body = detailed(client, make, admin)
    assert body["status"] == "degraded"
    [warning] = [w for w in body["warnings"] if w.startswith("the WAL is ")]
    assert "(more than HEALTH_WAL_WARN_MB=0.25): checkpoints are not keeping up" in warning

    assert app.test_cli_runner().invoke(args=["db", "maintenance"]).exit_code == 0
    body = detailed(client, make, admin)
    assert not any(w.startswith("the WAL is ") for w in body["warnings"])
    assert body["database"]["walSizeBytes"] < 0.25 * 1024 * 1024
    writer.close()


def test_a_slow_quick_check_is_a_warning(app, client, make):
    admin = make.admin()
    assert detailed(client, make, admin)["warnings"] == []  # 1000 ms: far above a test database
    app.config["HEALTH_INTEGRITY_CHECK_WARN_MS"] = 0.001
    body = detailed(client, make, admin)
    took = body["database"]["quickCheckMs"]
    assert body["warnings"] == [
        f"quick_check took {took} ms (more than HEALTH_INTEGRITY_CHECK_WARN_MS=0.001)"]
    assert body["status"] == "degraded"


def test_no_backup_is_a_note_on_a_new_database_and_a_warning_on_an_old_one(client, make):
    admin = make.admin()
    body = detailed(client, make, admin)
    assert body["status"] == "ok" and body["notes"][0].startswith("no backup yet")

    with freeze_time(datetime.now(timezone.utc) + timedelta(hours=30)):
        old = detailed(client, make, admin)
    assert old["status"] == "degraded" and old["notes"] == []
    assert old["warnings"] == ["no backup yet, 30 hours after the database was created "
                               "(more than HEALTH_BACKUP_MAX_AGE_HOURS=26)"]


@pytest.mark.parametrize("key", ["HEALTH_WAL_WARN_MB", "HEALTH_BACKUP_MAX_AGE_HOURS",
                                 "HEALTH_INTEGRITY_CHECK_WARN_MS"])
@pytest.mark.parametrize("value", ["32", 0, -1, True])
def test_health_thresholds_must_be_positive_numbers(tmp_path, key, value):
    config = {**TEST_OVERRIDES, "DATABASE": str(tmp_path / "x.sqlite3"), key: value}
    with pytest.raises(ConfigError, match=f"RAPIDCARE_{key} must be a number > 0"):
        create_app(config)


def test_a_maintained_database_still_fits_its_migrations_for_restore(app, db):
    """ANALYZE adds sqlite_stat1: SQLite's own table, which restore's schema check ignores."""
    from app.ops.restore import schema_problems

    assert run_job(MAINTENANCE, app.config)[0] == "succeeded"
    assert db.execute("SELECT count(*) AS n FROM sqlite_stat1").fetchone()["n"] > 0
    plain = sqlite3.connect(app.config["DATABASE"])  # as restore opens a backup
    try:
        assert schema_problems(plain, app.config["MIGRATIONS_DIR"])[0] == []
    finally:
        plain.close()
