"""The PostgreSQL server the suite's PostgreSQL half runs on (TEST_DATABASE_URL).

TEST_DATABASE_URL names a database to connect to for administration (e.g.
postgresql://postgres@127.0.0.1:5432/postgres); each test's database is created
beside it and dropped after the test.
"""
import os
from urllib.parse import urlsplit, urlunsplit

import psycopg

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "")

# This test process's migrated template database (the conftest's template_database
# sets it): a database another fixture needs is copied from it rather than migrated.
migrated_template = None


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


# -- one database per test process, emptied between tests ----------------------------

# The catalogs a schema change writes to. A test that changes the schema (drops a
# trigger, plants a bad constraint, ...) leaves rows in one of them newer than the
# last reset, or fewer rows (a drop leaves no new row); the database is then dropped
# and copied from the template again.
_SCHEMA_CATALOGS = (
    "pg_class", "pg_attribute", "pg_attrdef", "pg_constraint", "pg_index", "pg_trigger",
    "pg_proc", "pg_policy", "pg_namespace", "pg_type", "pg_rewrite", "pg_sequence",
    "pg_description", "pg_event_trigger", "pg_extension", "pg_default_acl", "pg_inherits",
)
_SCHEMA_WRITTEN_SINCE = " OR ".join(
    f"EXISTS (SELECT 1 FROM {catalog} WHERE age(xmin) <= age(%(since)s::xid))"
    for catalog in _SCHEMA_CATALOGS
)
_SCHEMA_ROWS = ", ".join(f"(SELECT count(*) FROM {catalog})" for catalog in _SCHEMA_CATALOGS)


class ReusedDatabase:
    """A test process's one test database, handed to each test in turn.

    Copying the template for every test (CREATE DATABASE … TEMPLATE) and dropping it
    afterwards cost about 0.6 s a test, most of the PostgreSQL half's time: each copy
    WAL-logs the whole template, each drop forces a checkpoint. Emptying the tables
    costs a few ms: after a test, every table is emptied, the rows the migrations
    seeded are put back and every sequence is set back to the template's value, all
    with triggers off (session_replication_role = replica, which needs a superuser:
    without one, ``usable`` is False and each test gets a fresh copy as before).
    A test that changed the schema is noticed (``_schema_changed``) and gets the
    database copied from the template again.
    """

    def __init__(self, name, template):
        self.name, self.template = name, template
        self.url = create_database(name, template=template)
        with psycopg.connect(self.url, autocommit=True) as conn:
            self.usable = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
            self._tables = [row[0] for row in conn.execute(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                " WHERE schemaname = 'public' ORDER BY tablename")]
            self._seeds = {}  # {table: (its rows as COPY text, their digest)}
            for table in self._tables:
                if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                    with conn.cursor().copy(f"COPY {table} TO STDOUT") as copy:
                        rows = b"".join(bytes(block) for block in copy)
                    self._seeds[table] = (rows, self._digest(conn, table))
            self._sequences = conn.execute(
                "SELECT format('%I.%I', schemaname, sequencename), last_value, start_value"
                " FROM pg_sequences WHERE schemaname = 'public'").fetchall()
            self._mark_schema(conn)
        self.resets = self.copies = 0

    @staticmethod
    def _digest(conn, table):
        return conn.execute(f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} AS t"
                            ).fetchone()[0]

    def _mark_schema(self, conn):
        """Remember the schema as it is: the catalogs' row counts, and an xid newer than
        every catalog row written so far (32-bit, as xmin is)."""
        self._since = str(conn.execute("SELECT txid_current() % 4294967296").fetchone()[0])
        self._rows = conn.execute(f"SELECT {_SCHEMA_ROWS}").fetchone()

    def _schema_changed(self, conn):
        return (conn.execute(f"SELECT {_SCHEMA_ROWS}").fetchone() != self._rows
                or conn.execute(f"SELECT {_SCHEMA_WRITTEN_SINCE}", {"since": self._since}).fetchone()[0])

    def reset(self):
        """Back to the template's state, for the next test."""
        if not self.usable:
            self.copy_again()
            return
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                # A connection the test left open (a thread's, a killed server's) could
                # hold a lock or an advisory lock the next test would wait on.
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE datname = current_database() AND pid <> pg_backend_pid()")
                changed = self._schema_changed(conn)
                if not changed:
                    self._empty(conn)
        except psycopg.Error:  # the test dropped or renamed it, a lock outlived its holder
            changed = True
        if changed:
            self.copy_again()

    def _empty(self, conn):
        """Every table emptied, the seeded rows put back, the sequences set back."""
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # no triggers
            conn.execute("SET LOCAL lock_timeout = '5s'")
            for table in self._tables:
                # A seeded table the test left as it was stays: rewriting it would leave
                # dead rows in it after every test.
                if table in self._seeds and self._digest(conn, table) == self._seeds[table][1]:
                    continue
                conn.execute(f"DELETE FROM {table}")
                if table in self._seeds:
                    with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                        copy.write(self._seeds[table][0])
            for sequence, last_value, start_value in self._sequences:
                conn.execute("SELECT setval(%s, %s, %s)", (
                    sequence, start_value if last_value is None else last_value,
                    last_value is not None))
        self._mark_schema(conn)
        self.resets += 1

    def copy_again(self):
        """A new copy of the template (a test marked fresh_database, or after a schema change)."""
        create_database(self.name, template=self.template)  # drops the old one first
        with psycopg.connect(self.url, autocommit=True) as conn:
            self._mark_schema(conn)
        self.copies += 1

    def drop(self):
        drop_database(self.name)
