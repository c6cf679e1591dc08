"""tests.pg.ReusedDatabase: the PostgreSQL half's one database per test process must hand
every test the template's state, schema and data, whatever the test before did."""
import os

import psycopg
import pytest

from tests import pg

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def reused(template_database):
    database = pg.ReusedDatabase(f"rapidcare_test_{os.getpid()}_reuse_check", template_database)
    yield database
    database.drop()


def _state(url):
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            "users": conn.execute("SELECT count(*) FROM users").fetchone()[0],
            "migrations": conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0],
            "next_user_id": conn.execute(
                "SELECT nextval(pg_get_serial_sequence('users', 'id'))").fetchone()[0],
            "triggers": conn.execute("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
                                     ).fetchone()[0],
        }


def _add_users(url, n):
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(n):
            conn.execute("INSERT INTO users (name, email, password_hash, role, created_at, updated_at)"
                         " VALUES (%s, %s, 'x', 'user', now(), now())", (f"U{i}", f"u{i}@example.com"))


def test_a_reset_empties_every_table_and_puts_back_seeds_and_sequences(reused):
    fresh = _state(reused.url)
    reused.reset()  # the nextval above moved the sequence: the reset puts it back
    _add_users(reused.url, 3)
    assert _state(reused.url)["users"] == 3
    reused.reset()
    assert _state(reused.url) == fresh
    assert fresh["users"] == 0 and fresh["migrations"] > 0
    assert (reused.resets, reused.copies) == (2, 0)


def test_a_schema_change_gets_a_fresh_copy(reused):
    fresh = _state(reused.url)
    reused.reset()
    with psycopg.connect(reused.url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER bookings_after_insert ON bookings")
    assert _state(reused.url)["triggers"] == fresh["triggers"] - 1
    reused.reset()
    assert reused.copies == 1
    assert _state(reused.url) == fresh


def test_a_dropped_database_is_copied_again(reused):
    pg.drop_database(reused.name)
    reused.reset()
    assert reused.copies == 1 and _state(reused.url)["users"] == 0


def test_seeded_rows_a_test_changed_are_put_back(reused):
    fresh = _state(reused.url)
    with psycopg.connect(reused.url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
    reused.reset()
    assert _state(reused.url)["migrations"] == fresh["migrations"]



def _alive(conn):
    try:
        conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def test_a_reset_ends_busy_sessions_and_leaves_idle_ones_warm(reused):
    """Idle sessions (the app's pool between tests) survive a reset; a session left in a
    transaction or holding an advisory lock would block the next test and is ended."""
    idle = psycopg.connect(reused.url, autocommit=True)
    in_transaction = psycopg.connect(reused.url)
    locking = psycopg.connect(reused.url, autocommit=True)
    try:
        idle.execute("SELECT count(*) FROM users")
        in_transaction.execute("SELECT count(*) FROM users")  # opens a transaction, left open
        locking.execute("SELECT pg_advisory_lock(1, 2)")
        reused.reset()
        assert [_alive(idle), _alive(in_transaction), _alive(locking)] == [True, False, False]
        assert (reused.resets, reused.copies) == (1, 0)
    finally:
        for conn in (idle, in_transaction, locking):
            conn.close()
