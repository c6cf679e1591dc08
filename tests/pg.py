"""The PostgreSQL server the suite's PostgreSQL half runs on (TEST_DATABASE_URL).

TEST_DATABASE_URL names a database to connect to for administration (e.g.
postgresql://postgres@127.0.0.1:5432/postgres); each test's database is created
beside it and dropped after the test.
"""
import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "")


def url_for(name):
    """ADMIN_URL with its database name replaced by ``name``."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path="/" + name))


def _admin():
    return psycopg.connect(ADMIN_URL, autocommit=True)


def create_database(name, template=None):
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return url_for(name)


def drop_database(name):
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_trigger(name, table):
    """DROP TRIGGER in each dialect's words (PostgreSQL names the table), for ``pick``."""
    return {"sqlite": f"DROP TRIGGER IF EXISTS {name}",
            "postgres": f"DROP TRIGGER IF EXISTS {name} ON {table}"}


def drop_check_constraints(conn):
    """Drop every CHECK constraint of the test database (PostgreSQL's stand-in for SQLite's
    PRAGMA ignore_check_constraints, to plant damage the schema would refuse)."""
    conn.execute(
        """
        DO $$
        DECLARE c record;
        BEGIN
            FOR c IN SELECT conrelid::regclass AS tab, conname FROM pg_constraint
                     WHERE contype = 'c' AND connamespace = 'public'::regnamespace LOOP
                EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tab, c.conname);
            END LOOP;
        END $$
        """
    )


def again_after_conflicts(run):
    """``run()``, run again while PostgreSQL aborts it with a serialization conflict, as
    app/db/retry.py runs a request again (tests calling services straight from threads)."""
    from app.db import postgres

    while True:
        try:
            return run()
        except Exception as error:
            if not postgres.is_retryable(error):
                raise
