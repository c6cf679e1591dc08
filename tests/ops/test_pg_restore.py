"""PostgreSQL restores (app/ops/pg_restore.py): into a new database, checked before the swap,
swapped back on failure, refused while the service is connected; the live one kept."""
import gzip
import itertools
import os
import shutil
import zlib
from datetime import datetime, timezone

import psycopg
import pytest

from app import migrator
from app.config import DEFAULTS
from app.db import postgres, transaction
from app.ops import pg_backup, pg_restore
from app.ops.restore import RestoreFailed
from tests import pg
from tests.factories import Factory
from tests.ops import helpers

pytestmark = pytest.mark.postgres_only

NOW = datetime(2025, 3, 10, 4, 30, 15, tzinfo=timezone.utc)
_numbers = itertools.count(1)


@pytest.fixture
def live(template_database, tmp_path):
    """(URL of a database with a little of everything, its backup directory)."""
    name = f"rc_rst_{os.getpid()}_{next(_numbers)}"
    url = helpers.pg_database(name, template_database)
    yield url, tmp_path / "backups"
    postgres.close_pools()
    helpers.drop_pg_databases(name)


@pytest.fixture(scope="module")
def untouchable(template_database, tmp_path_factory):
    """(URL, backup directory, a good backup of it) shared by the refusals: a refused
    restore leaves the live database as it was, which each of them checks on this one
    database (a verified backup and a database of its own per case cost seconds each)."""
    name = f"rc_rst_{os.getpid()}_refusals"
    url = helpers.pg_database(name, template_database)
    backup_dir = tmp_path_factory.mktemp("refusals") / "backups"
    yield url, backup_dir, take_backup(url, backup_dir)
    postgres.close_pools()
    helpers.drop_pg_databases(name)


def name_of(url):
    return pg_backup.database_name(url)


def config_for(url, backup_dir):
    return {**DEFAULTS, "DATABASE_URL": url, "BACKUP_DIR": str(backup_dir)}


def take_backup(url, backup_dir, now=NOW):
    return pg_backup.backup_database(url, backup_dir, now=now,
                                     config=config_for(url, backup_dir)).path


def change_data(url):
    conn = postgres.connect(url, DEFAULTS)
    try:
        Factory(conn).user(email="added-after-the-backup@example.test")
        with transaction(conn):
            conn.execute("DELETE FROM booking_notifications")
    finally:
        conn.close()


def run(url, backup_dir, *args, script=False):
    env = {"RAPIDCARE_DATABASE_URL": url}
    if script:
        return helpers.run_script("restore-database", *args, database="unused.sqlite3",
                                  backup_dir=backup_dir, env=env)
    return helpers.run_module("app.ops.restore", *args, database="unused.sqlite3",
                              backup_dir=backup_dir, env=env)


def test_round_trip_restores_the_data_and_keeps_the_old_database(live):
    url, backup_dir = live
    at_backup = helpers.pg_data(url)
    take_backup(url, backup_dir)
    change_data(url)
    changed = helpers.pg_data(url)
    assert changed != at_backup

    result = run(url, backup_dir, "latest", script=True)

    assert result.returncode == 0, result.stderr
    assert helpers.pg_data(url) == at_backup
    # The replaced database is kept under a pre-restore name, as it was.
    pre_restore = f"{name_of(url)}_prerestore_"
    [kept] = [name for name in helpers.pg_databases(name_of(url)) if name.startswith(pre_restore)]
    assert kept in result.stdout
    assert helpers.pg_data(pg.url_for(kept)) == changed
    # Nothing else is left beside it: no candidate, no reference database.
    assert helpers.pg_databases(name_of(url)) == sorted([name_of(url), kept])


def test_the_restored_database_serves_the_application(live):
    url, backup_dir = live
    take_backup(url, backup_dir)
    assert run(url, backup_dir, "latest").returncode == 0
    conn = postgres.connect(url, DEFAULTS)
    try:
        # Identity sequences continue after the restored ids; triggers still fire.
        user = Factory(conn).user(email="after-the-restore@example.test")
        assert user["id"] > 2
        assert migrator.status(conn, DEFAULTS["MIGRATIONS_DIR"])[-1]["applied"]
    finally:
        conn.close()


# --- bad backups ------------------------------------------------------------------

def _truncated(good, tmp_path, template):
    data = good.read_bytes()
    target = tmp_path / "truncated.pgdump"
    target.write_bytes(data[: len(data) // 2])
    return target


def _zlib_streams(data):
    """(start, length) of each zlib stream in a custom-format dump (each table's rows)."""
    streams = []
    for start in (i for i in range(len(data) - 1) if data[i:i + 2] == b"\x78\x9c"):
        inflate = zlib.decompressobj()
        try:
            inflate.decompress(data[start:])
        except zlib.error:
            continue
        if inflate.eof:
            streams.append((start, len(data) - start - len(inflate.unused_data)))
    return streams


def _byte_flipped_in_table_data(good, tmp_path, template):
    data = bytearray(good.read_bytes())
    start, length = max(_zlib_streams(bytes(data)), key=lambda stream: stream[1])
    data[start + length // 2] ^= 0xFF
    target = tmp_path / "flipped.pgdump"
    target.write_bytes(bytes(data))
    return target


def _byte_changed_in_a_definition(good, tmp_path, template):
    # A damaged byte that still reads as SQL: the CHECK now says >= 1. Loading may well
    # succeed; the schema comparison must see it.
    data = good.read_bytes()
    assert data.count(b"balance_minor >= 0") == 1
    target = tmp_path / "changed.pgdump"
    target.write_bytes(data.replace(b"balance_minor >= 0", b"balance_minor >= 1"))
    return target


def _text_file(good, tmp_path, template):
    target = tmp_path / "notes.pgdump"
    target.write_text("these are not the droids you are looking for\n")
    return target


def _empty_file(good, tmp_path, template):
    target = tmp_path / "empty.pgdump"
    target.write_bytes(b"")
    return target


def _an_sqlite_backup(good, tmp_path, template):
    database = helpers.migrated_database(tmp_path / "sqlite.sqlite3")
    target = tmp_path / "database_backup_20250101_000000.sqlite.gz"
    target.write_bytes(gzip.compress(open(database, "rb").read()))
    return target


def _dump_of(tmp_path, template, tag, change):
    """A pg_dump (no checks) of a database migrated as the live one, altered by ``change``."""
    name = f"{tmp_path.name[-12:]}_{tag}".lower().replace("-", "_")
    url = helpers.pg_database(f"rc_rst_{os.getpid()}_{name}", template)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in change:
                conn.execute(statement)
        target = tmp_path / f"{tag}.pgdump"
        pg_backup.dump(url, target, DEFAULTS)
    finally:
        helpers.drop_pg_databases(pg_backup.database_name(url))
    return target


def _from_newer_code(good, tmp_path, template):
    return _dump_of(tmp_path, template, "newer", [
        "INSERT INTO schema_migrations (version, name, applied_at, execution_ms) "
        "VALUES (9999, 'from_the_future', '2030-01-01T00:00:00+00:00', 1)"])


def _missing_a_table(good, tmp_path, template):
    return _dump_of(tmp_path, template, "missing", ["DROP TABLE job_runs"])


def _missing_a_trigger(good, tmp_path, template):
    return _dump_of(tmp_path, template, "trigger",
                    ["DROP TRIGGER balance_transactions_append_only ON balance_transactions"])


def _missing_a_column(good, tmp_path, template):
    return _dump_of(tmp_path, template, "column", ["ALTER TABLE users DROP COLUMN last_login_at"])


def _append_only_function_made_a_no_op(good, tmp_path, template):
    return _dump_of(tmp_path, template, "noop", [
        "CREATE OR REPLACE FUNCTION refuse_change_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$"])


def _open_booking_index_not_unique(good, tmp_path, template):
    return _dump_of(tmp_path, template, "nonunique", [
        "DROP INDEX idx_bookings_one_open_per_day",
        "CREATE INDEX idx_bookings_one_open_per_day "
        "ON bookings (user_id, hospital_id, resource_type, scheduled_day) "
        "WHERE status IN ('pending', 'approved')"])


def _balance_check_removed(good, tmp_path, template):
    return _dump_of(tmp_path, template, "nocheck", [
        "ALTER TABLE user_balance DROP CONSTRAINT user_balance_balance_minor_check"])


def _an_extra_trigger(good, tmp_path, template):
    return _dump_of(tmp_path, template, "extra", [
        "CREATE TRIGGER users_after_insert_surprise AFTER INSERT ON users "
        "FOR EACH ROW EXECUTE FUNCTION refuse_change_append_only()"])


def _without_migrations(good, tmp_path, template):
    return _dump_of(tmp_path, template, "nomigrations", ["DROP TABLE schema_migrations"])


def _data_breaking_an_invariant(good, tmp_path, template):
    return _dump_of(tmp_path, template, "occupancy", [
        "UPDATE hospital_resources SET occupied = total, available = 0 "
        "WHERE resource_type = 'beds'"])


def _an_audit_row_edited_behind_its_trigger(good, tmp_path, template):
    """A sealed admin audit row changed with its append-only trigger off, and the trigger
    put back: the schema is as migrated, only the hash chain tells."""
    name = f"rc_rst_{os.getpid()}_{tmp_path.name[-12:]}_edited".lower().replace("-", "_")
    url = helpers.pg_database(name, template)
    try:
        conn = postgres.connect(url, DEFAULTS)
        try:
            helpers.seal_one_admin_audit_row(conn, Factory(conn), NOW)
        finally:
            conn.close()
        with psycopg.connect(url, autocommit=True) as owner:
            owner.execute("ALTER TABLE admin_audit_log DISABLE TRIGGER USER")
            owner.execute("UPDATE admin_audit_log SET action = 'hospital.suspended'")
            owner.execute("ALTER TABLE admin_audit_log ENABLE TRIGGER USER")
        target = tmp_path / "edited.pgdump"
        pg_backup.dump(url, target, DEFAULTS)
    finally:
        postgres.close_pools()
        helpers.drop_pg_databases(name)
    return target


def _another_application(good, tmp_path, template):
    url = pg.create_database(f"rc_rst_{os.getpid()}_other")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE things (id bigint PRIMARY KEY, name text)")
            conn.execute("INSERT INTO things VALUES (1, 'a thing')")
        target = tmp_path / "other.pgdump"
        pg_backup.dump(url, target, DEFAULTS)
    finally:
        helpers.drop_pg_databases(pg_backup.database_name(url))
    return target


@pytest.mark.parametrize("make_bad_backup, reason", [
    (_truncated, "could not be restored"),
    (_byte_flipped_in_table_data, "could not be restored"),
    (_byte_changed_in_a_definition, "+CONSTRAINT user_balance_balance_minor_check CHECK ((balance_minor >= 1))"),
    (_text_file, "not a pg_dump custom-format archive"),
    (_empty_file, "not a pg_dump custom-format archive"),
    (_an_sqlite_backup, "not a pg_dump custom-format archive"),
    (_from_newer_code, "made by newer code: migrations [9999]"),
    (_missing_a_table, "-CREATE TABLE public.job_runs ("),
    (_missing_a_trigger, "-CREATE TRIGGER balance_transactions_append_only"),
    (_missing_a_column, "-last_login_at timestamp with time zone,"),
    (_append_only_function_made_a_no_op, "RAISE EXCEPTION '% is append-only'"),
    (_open_booking_index_not_unique, "+CREATE INDEX idx_bookings_one_open_per_day"),
    (_balance_check_removed, "-CONSTRAINT user_balance_balance_minor_check"),
    (_an_extra_trigger, "+CREATE TRIGGER users_after_insert_surprise"),
    (_without_migrations, "no schema_migrations table"),
    (_another_application, "no schema_migrations table"),
    (_data_breaking_an_invariant, "breaks invariants: schedule_within_capacity"),
    (_an_audit_row_edited_behind_its_trigger,
     "audit trail was edited: admin_audit_log row 1: content changed"),
])
def test_restore_refuses_a_bad_backup_and_leaves_the_live_database_untouched(
        untouchable, tmp_path, template_database, make_bad_backup, reason):
    url, backup_dir, good = untouchable
    bad = make_bad_backup(good, tmp_path, template_database)
    before = helpers.pg_fingerprint(url)

    result = run(url, backup_dir, bad)

    assert result.returncode == 1, result.stdout
    assert "restore REFUSED" in result.stderr and reason in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert helpers.pg_fingerprint(url) == before  # the same database, schema and data
    assert helpers.pg_databases(name_of(url)) == [name_of(url)]  # no candidate, no copy left


@pytest.mark.parametrize("spec", ["latest", "does-not-exist.pgdump"])
def test_restore_refuses_when_there_is_no_such_backup(live, spec):
    url, backup_dir = live
    before = helpers.pg_fingerprint(url)
    result = run(url, backup_dir, spec)
    assert result.returncode == 1 and "restore REFUSED" in result.stderr
    assert helpers.pg_fingerprint(url) == before


def test_latest_on_postgresql_ignores_sqlite_backups(live, tmp_path):
    url, backup_dir = live
    backup_dir.mkdir()
    (backup_dir / "database_backup_20991231_000000.sqlite.gz").write_bytes(b"newer, but SQLite")
    take_backup(url, backup_dir)
    change_data(url)
    result = run(url, backup_dir, "latest")
    assert result.returncode == 0, result.stderr
    assert "database_backup_20250310_043015.pgdump" in result.stdout


def service_session(url, application_name="rapidcare"):
    return psycopg.connect(url, autocommit=True, application_name=application_name)


def test_restore_refuses_while_the_service_is_connected_unless_forced(live):
    url, backup_dir = live
    at_backup = helpers.pg_data(url)
    take_backup(url, backup_dir)
    change_data(url)
    before = helpers.pg_fingerprint(url)
    # What every gunicorn worker's pool and the scheduler hold.
    service = service_session(url)
    try:
        refused = run(url, backup_dir, "latest")
        assert refused.returncode == 1 and "in use" in refused.stderr, refused.stderr
        assert "application_name 'rapidcare'" in refused.stderr
        assert helpers.pg_fingerprint(url) == before

        forced = run(url, backup_dir, "latest", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "WARNING" in forced.stdout and helpers.pg_data(url) == at_backup
        assert service.closed or _terminated(service)
    finally:
        service.close()


def _terminated(conn):
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


def test_restore_refuses_while_anyone_else_is_connected(live):
    url, backup_dir = live
    take_backup(url, backup_dir)
    before = helpers.pg_fingerprint(url)
    other = service_session(url, application_name="psql")
    try:
        for args in (["latest"], ["latest", "--force"]):
            refused = run(url, backup_dir, *args)
            assert refused.returncode == 1 and "other sessions are connected" in refused.stderr
            assert "psql" in refused.stderr
            assert helpers.pg_fingerprint(url) == before
    finally:
        other.close()


@pytest.mark.slow
def test_restore_refuses_while_gunicorn_workers_run(live, tmp_path):
    from tests.live_server import LiveServer

    url, backup_dir = live
    take_backup(url, backup_dir)
    with LiveServer(tmp_path, workers=2, database_url=url):
        before = helpers.pg_fingerprint(url)
        refused = run(url, backup_dir, "latest")
        assert refused.returncode == 1 and "in use" in refused.stderr, refused.stderr
        assert helpers.pg_fingerprint(url) == before
    allowed = run(url, backup_dir, "latest")
    assert allowed.returncode == 0, allowed.stderr


def test_a_failed_check_after_the_swap_puts_the_previous_database_back(live, monkeypatch):
    url, backup_dir = live
    take_backup(url, backup_dir)
    change_data(url)
    current = helpers.pg_fingerprint(url)

    def failing_check(url, versions, config):
        raise RestoreFailed("simulated: the restored database is unreadable")

    monkeypatch.setattr(pg_restore, "check_restored", failing_check)
    lines = []
    with pytest.raises(RestoreFailed, match="previous database was put back"):
        pg_restore.restore("latest", url=url, backup_dir=backup_dir,
                           migrations_dir=DEFAULTS["MIGRATIONS_DIR"], now=NOW,
                           config=config_for(url, backup_dir), log=lines.append)
    assert helpers.pg_fingerprint(url) == current  # the very same database, oid and all
    assert any("ROLLED BACK" in line for line in lines)
    assert helpers.pg_databases(name_of(url)) == [name_of(url)]


def test_a_backup_that_lacks_newer_migrations_is_accepted_and_they_are_reported(live, tmp_path):
    url, backup_dir = live
    take_backup(url, backup_dir)
    migrations = tmp_path / "migrations"
    shutil.copytree(DEFAULTS["MIGRATIONS_DIR"], migrations)
    (migrations / "9999_extra_table.py").write_text(
        '"""Test migration."""\n\nSQLITE = POSTGRES = ["CREATE TABLE extra (id integer PRIMARY KEY)"]\n')
    lines = []
    result = pg_restore.restore("latest", url=url, backup_dir=backup_dir,
                                migrations_dir=str(migrations), now=NOW,
                                config=config_for(url, backup_dir), log=lines.append)
    known = [m.version for m in migrator.discover(DEFAULTS["MIGRATIONS_DIR"])]
    assert result.pending == [9999] and result.versions == known
    assert any("lacks migrations [9999]" in line for line in lines)


def test_restore_into_a_server_without_the_live_database_creates_it(live):
    url, backup_dir = live
    at_backup = helpers.pg_data(url)
    take_backup(url, backup_dir)
    fresh = pg.url_for(f"{name_of(url)}_new")
    result = run(fresh, backup_dir, "latest")
    assert result.returncode == 0, result.stderr
    assert helpers.pg_data(fresh) == at_backup
    assert "prerestore" not in result.stdout
