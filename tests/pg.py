"""The PostgreSQL server the suite's PostgreSQL half runs on (TEST_DATABASE_URL).

TEST_DATABASE_URL names a database to connect to for administration (e.g.
postgresql://postgres@127.0.0.1:5432/postgres); the test databases are created
beside it: a migrated template and one reused database per test process
(ReusedDatabase), plus the databases of tests that make their own.
"""
import os
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.sql import quote

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
    A test that changed the schema is noticed (``_look``) and gets the database copied
    from the template again. A reset is three round trips on a connection kept for it
    (end the sessions the test left busy; look; empty): it runs after every test.
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
                    self._seeds[table] = (rows, conn.execute(self._digest_sql(table)).fetchone()[0])
            # setval(name, value, is_called): the sequence as the template has it
            self._setval_sql = [
                f"setval({quote(name)}, {start if last is None else last}, {last is not None})"
                for name, last, start in conn.execute(
                    "SELECT format('%I.%I', schemaname, sequencename), last_value, start_value"
                    " FROM pg_sequences WHERE schemaname = 'public'")]
            self._since = "0"
            self._mark_schema(conn)
        self.resets = self.copies = 0
        self._conn = None

    def _mark_schema(self, conn):
        """Remember the schema as it is: the catalogs' row counts, and an xid newer than
        every catalog row written so far (32-bit, as xmin is)."""
        self._rows, self._since = self._look(conn, check=False)[:2]

    def _look(self, conn, check=True):
        """One round trip: the catalogs' row counts, a new xid mark, whether a catalog
        row was written since the last mark, and each seeded table's digest."""
        row = conn.execute(
            f"SELECT ARRAY[{_SCHEMA_ROWS}], (txid_current() %% 4294967296)::text,"
            f" {_SCHEMA_WRITTEN_SINCE if check else 'false'}"
            + "".join(f", ({self._digest_sql(table)})" for table in self._seeds),
            {"since": self._since}).fetchone()
        return row[0], row[1], row[2], dict(zip(self._seeds, row[3:]))

    @staticmethod
    def _digest_sql(table):
        return f"SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM {table} AS t"

    def reset(self):
        """Back to the template's state, for the next test."""
        if not self.usable:
            self.copy_again()
            return
        try:
            conn = self._housekeeping()
            # A session the test left busy, in a transaction or holding an advisory lock
            # (a thread's, a killed server's) could block the next test: it is ended.
            # Idle sessions stay: the app's pool keeps its connections warm for the next
            # test (a new backend costs ~4 ms and its first queries several more).
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity AS a"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND (state IS DISTINCT FROM 'idle' OR EXISTS (SELECT 1 FROM pg_locks AS l"
                " WHERE l.pid = a.pid AND l.locktype = 'advisory'))")
            rows, since, written, digests = self._look(conn)
            changed = written or rows != self._rows
            if not changed:
                self._empty(conn, digests)
                self._since = since
        except psycopg.Error:  # the test dropped or renamed it, a lock outlived its holder
            changed = True
        if changed:
            self.copy_again()

    def _housekeeping(self):
        """This object's own connection to the database, kept between resets."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._close()
            self._conn = psycopg.connect(self.url, autocommit=True)
        return self._conn

    def _close(self):
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _empty(self, conn, digests):
        """Every table emptied, the seeded rows put back, the sequences set back, in one
        statement list. A seeded table the test left as it was stays: rewriting it would
        leave dead rows in it after every test."""
        reseed = [table for table in self._seeds if digests[table] != self._seeds[table][1]]
        script = ["SET LOCAL session_replication_role = replica",  # no triggers
                  "SET LOCAL lock_timeout = '5s'"]
        script += [f"DELETE FROM {table}" for table in self._tables
                   if table not in self._seeds or table in reseed]
        if self._setval_sql:
            script.append("SELECT " + ", ".join(self._setval_sql))
        with conn.transaction():
            conn.execute("; ".join(script))
            for table in reseed:
                with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(self._seeds[table][0])
        self.resets += 1

    def copy_again(self):
        """A new copy of the template (a test marked fresh_database, or after a schema change)."""
        self._close()
        create_database(self.name, template=self.template)  # drops the old one first
        self._mark_schema(self._housekeeping())
        self.copies += 1

    def drop(self):
        self._close()
        drop_database(self.name)
