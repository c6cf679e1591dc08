"""The SQLite backend: connections with the project's pragmas, and transaction().

Connections: explicit transactions (isolation_level=None), foreign keys on, WAL,
a busy timeout, dict rows.

Writes: ``with transaction(conn):`` and nothing else. It issues BEGIN IMMEDIATE
so the write lock is taken (or waited for, up to busy_timeout) up front; a plain
BEGIN that later writes can fail with "database is locked" without waiting.
This is checked on request connections (get_db()): an authorizer
(``WriteGuard``) refuses, as sqlite3.DatabaseError "not authorized", any
statement that would change the database unless it is prepared inside
transaction() (or ``writes_outside_transaction()``, the migrator's one named
exception). SQLite consults an authorizer when it prepares a statement, not
each time it runs one, so reads cost nothing once their statements are cached;
for the same reason a write statement prepared inside transaction() and reused
from the statement cache outside it is not refused (the rule is checked, not
proven). Connections of one's own (connect(); tests arranging data, operator
tools) have no guard unless asked for.
Before BEGIN IMMEDIATE it waits in the writer queue if the connection was opened
with one (``writer_queue=True``, the SQLITE_WRITER_QUEUE setting; app/db/writer_queue.py).
"""
import os
import sqlite3
from contextlib import contextmanager
from time import perf_counter

from app import files
from app.db import slow_queries
from app.db import writer_queue as flock_queue

# Authorizer actions that change the database, its schema included.
_WRITE_ACTIONS = frozenset({
    sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE,
    sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_TRIGGER,
    sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_CREATE_TEMP_INDEX, sqlite3.SQLITE_CREATE_TEMP_TABLE,
    sqlite3.SQLITE_CREATE_TEMP_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_VIEW, sqlite3.SQLITE_CREATE_VTABLE,
    sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_TRIGGER,
    sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_DROP_TEMP_INDEX, sqlite3.SQLITE_DROP_TEMP_TABLE,
    sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_VIEW, sqlite3.SQLITE_DROP_VTABLE,
    sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_REINDEX, sqlite3.SQLITE_ANALYZE,
})


# SQLite reports writes to its schema table while it sets up a table-valued function
# (json_each) or an FTS5 table for a plain SELECT; real schema changes are refused
# by their own CREATE/DROP/ALTER actions above.
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master"})


class WriteGuard:
    """A connection's authorizer: statements that write are refused unless ``open``.

    A separate object (not a method of the connection), so the connection and
    its callback form no reference cycle.
    """

    __slots__ = ("open",)

    def __init__(self):
        self.open = False

    def __call__(self, action, arg1, arg2, database, source):
        if action in _WRITE_ACTIONS and not self.open and arg1 not in _SCHEMA_TABLES:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


@contextmanager
def _writes_allowed(conn):
    """Let ``conn`` prepare writing statements for the duration of the block."""
    guard = getattr(conn, "write_guard", None)
    if guard is None:
        yield  # no guard: nothing to open
        return
    guard.open = True
    try:
        yield
    finally:
        guard.open = False


def writes_outside_transaction(conn):
    """The one named exception to "writes only inside transaction()": the migrator's
    ``CREATE TABLE IF NOT EXISTS schema_migrations``, which runs before any
    migration's own transaction, also for a read of the migration status on a
    request connection (GET /api/monitoring/migrations). Nothing else should need it."""
    return _writes_allowed(conn)


def dict_row(cursor, row):
    return {col[0]: value for col, value in zip(cursor.description, row)}


_execute = sqlite3.Connection.execute
_executemany = sqlite3.Connection.executemany


class Connection(sqlite3.Connection):
    """sqlite3.Connection plus its writer queue and its commit count (for checkpoints)."""

    dialect = "sqlite"
    writer_queue = None  # None: no queue (the setting is off, or an in-memory database)
    write_guard = None  # the authorizer, once connect() installed it
    busy_timeout_s = 5.0
    checkpoint_commits = 0  # 0: SQLite checkpoints on its own (app/db/checkpoints.py)
    commits_since_checkpoint = 0
    slow_query_s = slow_queries.OFF  # SLOW_QUERY_MS, for connections made from the config

    # Each statement timed (app/db/slow_queries.py); inline rather than a shared
    # wrapper, and the base methods called directly rather than through super(), as
    # this runs for every statement (benchmarks/slow_query_overhead.py).
    def execute(self, sql, params=()):
        started = perf_counter()
        try:
            return _execute(self, sql, params)
        finally:
            elapsed = perf_counter() - started
            if elapsed >= self.slow_query_s:
                slow_queries.record(sql, elapsed, "sqlite")

    def executemany(self, sql, seq_of_params):
        started = perf_counter()
        try:
            return _executemany(self, sql, seq_of_params)
        finally:
            elapsed = perf_counter() - started
            if elapsed >= self.slow_query_s:
                slow_queries.record(sql, elapsed, "sqlite")

    def close(self):
        if self.writer_queue is not None:
            self.writer_queue.close()
        super().close()


def connect(path, *, busy_timeout_ms=5000, synchronous="NORMAL", writer_queue=False,
            write_guard=False, slow_query_s=slow_queries.OFF):
    """Open a connection with the project's pragmas (read back in tests/test_db.py);
    ``writer_queue``: its writers wait in the flock queue of ``path``;
    ``write_guard``: writes outside transaction() are refused (see the module docstring);
    ``slow_query_s``: statements this slow are recorded (app/db/slow_queries.py)."""
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        timeout=busy_timeout_ms / 1000,
        check_same_thread=False,
        factory=Connection,
    )
    if writer_queue and path != ":memory:" and not str(path).startswith("file:"):
        conn.writer_queue = flock_queue.WriterQueue(path)
    conn.busy_timeout_s = busy_timeout_ms / 1000
    conn.slow_query_s = slow_query_s
    if write_guard:
        conn.write_guard = WriteGuard()
        conn.set_authorizer(conn.write_guard)
    conn.row_factory = dict_row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


def connect_from_config(config, *, write_guard=False):
    path = config["DATABASE"]
    new = path != ":memory:" and not os.path.exists(path)
    if path != ":memory:":
        # a folder made here is owner-only; an existing one (maybe shared) is left as it is
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=files.DIR_MODE, exist_ok=True)
    conn = connect(
        path,
        busy_timeout_ms=int(config["SQLITE_BUSY_TIMEOUT_MS"]),
        synchronous=str(config["SQLITE_SYNCHRONOUS"]).upper(),
        writer_queue=config["SQLITE_WRITER_QUEUE"],
        write_guard=write_guard,
        slow_query_s=slow_queries.threshold_seconds(config),
    )
    if new:
        # owner-only whatever the umask; SQLite gives the -wal and -shm the same mode
        files.restrict_database(path)
    return conn


@contextmanager
def transaction(conn):
    """The one way to write: BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception."""
    if conn.in_transaction:
        raise RuntimeError("transaction() does not nest; pass the open connection down instead")
    queued = _enter_writer_queue(conn)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            with _writes_allowed(conn):
                yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")
        if isinstance(conn, Connection):  # plain sqlite3 connections cannot count
            conn.commits_since_checkpoint += 1
    finally:
        if queued is not None:
            flock_queue.leave(queued)


def _enter_writer_queue(conn):
    """The writer-queue fd once it is ours, or None (no queue, or waited busy_timeout)."""
    queue = getattr(conn, "writer_queue", None)
    if queue is None:
        return None  # a plain sqlite3 connection, an in-memory database, or the queue is off
    return flock_queue.enter(queue, conn.busy_timeout_s)
