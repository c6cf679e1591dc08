"""`flask db copy-to-postgres`: an SQLite deployment moved into an empty, migrated PostgreSQL
database, ids, sums and invariants intact, refusals leaving the target empty.

The PostgreSQL half's ``app`` is configured for a fresh migrated, empty PostgreSQL
database (app_config): that database is the copy's target, and the app then serves
from what was copied.
"""
import sqlite3
from datetime import datetime, timezone

import psycopg
import pytest

from app import migrator
from app.config import DEFAULTS
from app.db import connect, postgres, transaction
from app.ops import copy_to_postgres
from benchmarks.loader import Loader
from tests import factories
from tests.ops import helpers

pytestmark = pytest.mark.postgres_only

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def sqlite_database(path):
    conn = connect(str(path))
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    return conn


@pytest.fixture
def world_file(tmp_path):
    """An SQLite file holding the test world (and a booking, a payment's worth of rows)."""
    path = tmp_path / "world.sqlite3"
    conn = sqlite_database(path)
    try:
        world = factories.build_world(factories.Factory(conn))
        world.make.booking(world.patient, world.hospital, status="approved")
        world.make.booking(world.other_patient, world.hospital, resource_type="icu", urgency="critical")
    finally:
        conn.close()
    return path


@pytest.fixture
def loaded_file(tmp_path):
    """An SQLite file filled by the benchmark loader (small)."""
    path = tmp_path / "bench.sqlite3"
    conn = sqlite_database(path)
    try:
        loader = Loader(conn, now=NOW, batch_size=300, fast=True, generator_process=False)
        loader.load_base(hospitals=6, users=60)
        loader.load_bookings(700)
        loader.finish()
    finally:
        conn.close()
    return path


def copy_command(app, source, target=None):
    target = target or app.config["DATABASE_URL"]
    return app.test_cli_runner().invoke(args=["db", "copy-to-postgres", "--to", target,
                                              "--from", str(source)])


def sqlite_rows(path, table, columns):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
    finally:
        conn.close()


def pg_rows(url, table, columns):
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()


def counts_in_postgres(url):
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'schema_migrations'")]
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in tables}


def test_the_benchmark_data_set_is_copied_whole(app, loaded_file):
    result = copy_command(app, loaded_file)

    assert result.exit_code == 0, result.output
    assert "copying rows" in result.output and "invariants hold" in result.output
    url = app.config["DATABASE_URL"]
    # Every row, by id, in every table the loader fills; the triggers' rows too, once.
    source = sqlite3.connect(loaded_file)
    for table, count in counts_in_postgres(url).items():
        assert count == source.execute(f"SELECT count(*) FROM {table}").fetchone()[0], table
    source.close()
    assert counts_in_postgres(url)["booking_status_history"] > 700
    for table, columns in [
            ("bookings", "id, status, urgency, urgency_rank, amount_minor, allocated_units"),
            ("balance_transactions", "id, user_id, type, amount_minor, balance_after_minor"),
            ("transactions", "id, booking_id, amount_minor, platform_fee_minor, refunded_minor"),
            ("users", "id, email, role, hospital_id")]:
        assert pg_rows(url, table, columns) == sqlite_rows(loaded_file, table, columns), table


def test_ids_continue_and_triggers_work_again_after_the_copy(app, world_file):
    assert copy_command(app, world_file).exit_code == 0
    url = app.config["DATABASE_URL"]
    # The authorities kept their hospital (the column copied after the hospitals).
    assert pg_rows(url, "users", "id, hospital_id") == sqlite_rows(world_file, "users", "id, hospital_id")
    conn = postgres.connect(url, DEFAULTS)
    try:
        biggest = {table: conn.execute(f"SELECT max(id) AS m FROM {table}").fetchone()["m"]
                   for table in ("users", "hospitals", "bookings", "booking_status_history")}
        make = factories.Factory(conn)
        user = make.user()
        hospital = conn.execute("SELECT * FROM hospitals WHERE name = 'Dhaka Heart Centre'").fetchone()
        booking = make.booking(user, hospital)
        assert user["id"] == biggest["users"] + 1 and booking["id"] == biggest["bookings"] + 1
        # The booking trigger wrote its history row; the append-only guard is back on.
        assert conn.execute("SELECT count(*) AS n FROM booking_status_history WHERE booking_id = ?",
                            (booking["id"],)).fetchone()["n"] == 1
        with pytest.raises(psycopg.errors.CheckViolation, match="append-only"):
            with transaction(conn):
                conn.execute("DELETE FROM booking_status_history")
    finally:
        conn.close()
    # PostgreSQL computed the generated columns the copy left out.
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT name FROM hospitals WHERE search_vector @@ "
                            "to_tsquery('simple', 'cardio:*')").fetchall() == [("Dhaka Heart Centre",)]
        assert conn.execute("SELECT urgency_rank FROM bookings WHERE urgency = 'critical'"
                            ).fetchall() == sqlite_rows(world_file, "bookings", "urgency_rank")[1:]


def test_a_target_that_is_not_empty_is_refused(app, world_file):
    assert copy_command(app, world_file).exit_code == 0
    before = counts_in_postgres(app.config["DATABASE_URL"])
    again = copy_command(app, world_file)
    assert again.exit_code == 1
    assert "copy REFUSED" in again.output and "not empty" in again.output
    assert "Traceback" not in again.output
    assert counts_in_postgres(app.config["DATABASE_URL"]) == before


def _empty(url):
    return not any(counts_in_postgres(url).values())


def test_a_target_at_another_migration_version_is_refused(app, world_file):
    url = app.config["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = "
                     "(SELECT max(version) FROM schema_migrations)")
    result = copy_command(app, world_file)
    assert result.exit_code == 1 and "at migrations" in result.output, result.output
    assert _empty(url)


def test_a_target_that_is_not_migrated_is_refused(app, world_file):
    from tests import pg

    name = f"{copy_to_postgres.__name__.rsplit('.', 1)[1]}_{id(app)}"[:40]
    url = pg.create_database(name)
    try:
        result = copy_command(app, world_file, target=url)
        assert result.exit_code == 1 and "not migrated" in result.output, result.output
    finally:
        pg.drop_database(name)


def test_an_unknown_table_fails_loudly(app, world_file):
    conn = sqlite3.connect(world_file)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.close()
    result = copy_command(app, world_file)
    assert result.exit_code == 1
    assert "SQLite table notes has no PostgreSQL table to go to" in result.output
    assert _empty(app.config["DATABASE_URL"])


def test_a_column_the_target_lacks_fails_loudly(app, world_file):
    conn = sqlite3.connect(world_file)
    conn.execute("ALTER TABLE users ADD COLUMN nickname TEXT")
    conn.close()
    result = copy_command(app, world_file)
    assert result.exit_code == 1 and "only in SQLite ['nickname']" in result.output, result.output
    assert _empty(app.config["DATABASE_URL"])


def test_data_that_breaks_an_invariant_is_rolled_back(app, world_file):
    conn = sqlite3.connect(world_file)
    conn.execute("UPDATE hospital_resources SET occupied = total, available = 0 "
                 "WHERE resource_type = 'beds'")
    conn.commit()
    conn.close()
    result = copy_command(app, world_file)
    assert result.exit_code == 1
    assert "copy FAILED" in result.output and "schedule_within_capacity" in result.output
    assert _empty(app.config["DATABASE_URL"])


def test_a_row_postgresql_refuses_rolls_everything_back(app, world_file):
    # SQLite's TEXT takes any text; PostgreSQL's timestamptz does not.
    conn = sqlite3.connect(world_file)
    conn.execute("INSERT INTO login_attempts (email, ip_address, succeeded, created_at) "
                 "VALUES ('a@example.test', NULL, 1, 'not a time')")
    conn.commit()
    conn.close()
    result = copy_command(app, world_file)
    assert result.exit_code == 1
    assert "PostgreSQL refused a row of login_attempts" in result.output, result.output
    assert _empty(app.config["DATABASE_URL"])


def test_money_sums_are_compared_column_by_column(app, world_file):
    assert copy_command(app, world_file).exit_code == 0
    source = sqlite3.connect(world_file)
    target = postgres.connect(app.config["DATABASE_URL"], DEFAULTS)
    try:
        tables = {"hospital_pricing": copy_to_postgres.postgres_columns(target, "hospital_pricing")}
        report, differences = copy_to_postgres.compare(source, target, tables)
        assert differences == []
        assert report.money["hospital_pricing", "base_price_minor"] == 150000 * 1
        # A difference is seen: one price changed on the SQLite side afterwards (its
        # history guard dropped for the purpose).
        source.execute("DROP TRIGGER hospital_pricing_before_update_history")
        source.execute("UPDATE hospital_pricing SET base_price_minor = base_price_minor + 1")
        _, differences = copy_to_postgres.compare(source, target, tables)
        assert differences == ["hospital_pricing.base_price_minor: sums to 150001 in SQLite, "
                               "150000 in PostgreSQL"]
    finally:
        source.close()
        target.close()


def test_a_missing_source_or_a_bad_url_is_a_clear_error(app, tmp_path):
    missing = copy_command(app, tmp_path / "nothing.sqlite3")
    assert missing.exit_code == 1 and "no SQLite database" in missing.output
    bad = copy_command(app, helpers.migrated_database(tmp_path / "x.sqlite3"), target="mysql://x")
    assert bad.exit_code == 2 and "postgresql://" in bad.output


def test_the_audit_chains_still_verify_after_the_copy(app, world_file):
    """Issue #18 item 5: the chain hashes a row alike on both backends (jsonb reorders a
    JSON object's keys; timestamptz reads back in its own spelling)."""
    from app.audit import chain
    from app.timeutil import utcnow

    conn = connect(str(world_file))
    try:
        with transaction(conn):
            conn.execute(
                "INSERT INTO admin_audit_log (actor_id, action, target_type, target_id, details, "
                "created_at) VALUES (NULL, 'x', 'user', 1, ?, '2025-03-10T04:30:15+00:00')",
                ('{"reason": "a long reason first", "n": 1, "nested": {"b": 2, "a": [1, 2.5]}}',))
        chain.seal_now(conn, now=utcnow())
        sealed = chain.verify(conn)
    finally:
        conn.close()
    assert sealed["ok"] and sealed["linksChecked"] > 0
    assert copy_command(app, world_file).exit_code == 0
    target = postgres.connect(app.config["DATABASE_URL"], DEFAULTS)
    try:
        copied = chain.verify(target)
    finally:
        target.close()
    assert copied["ok"], copied["problems"]
    assert copied["linksChecked"] == sealed["linksChecked"] and copied["heads"] == sealed["heads"]
