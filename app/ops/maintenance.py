"""Database upkeep: the hourly ``database-maintenance`` job and ``flask db maintenance``.

One function per backend, each doing what that database needs; the caller picks
it by the connection it holds (``maintenance_for``). PostgreSQL's equivalent
(autovacuum health, bloat, ANALYZE) goes beside ``maintain_sqlite`` in
``BACKENDS`` once that backend exists.

SQLite (``maintain_sqlite``), each step with its reason:

1. ``ANALYZE`` under ``PRAGMA analysis_limit``: fresh statistics for the query
   planner (sqlite_stat1), approximate so the run stays short at any size.
   ``PRAGMA optimize`` alone would do nothing here: before SQLite 3.46 (Debian 12
   has 3.40) it analyzes only tables the same connection has queried, and a job's
   connection has queried none.
2. FTS5 ``optimize`` of hospitals_fts: merges the index segments that every
   hospital insert and edit adds.
3. The WAL: SQLite reuses the WAL file rather than shrinking it, so a burst of
   writes leaves it at its largest size (41 MB seen under sustained writes, issue
   #19). A PASSIVE checkpoint copies what it can without waiting for anyone; then,
   if that copied every frame (no reader holds an old snapshot: the database is
   quiet), a TRUNCATE checkpoint empties the file, waiting at most
   ``TRUNCATE_WAIT_MS`` for the write lock so writers are never held up for
   longer. Busy, it is left to the next run. ``journal_size_limit`` also caps the
   WAL this connection leaves behind after its own writes.
"""
import os
import sqlite3
import time

from app.db import transaction
from app.hospitals.queries import optimize_search_index_sqlite
from app.ops.backup import human_size

# Rows ANALYZE samples per index: enough for the planner's choices here, and bounded
# time whatever the table size (SQLite's documented suggestion is 100 to 1000).
ANALYSIS_LIMIT = 1000
# The WAL this connection's own commits may leave behind once it was reset.
JOURNAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024
# How long the TRUNCATE checkpoint may wait for the write lock (and so hold writers up).
TRUNCATE_WAIT_MS = 200


def backend_of(conn):
    """The name of the database behind ``conn``: the key of ``BACKENDS``."""
    if isinstance(conn, sqlite3.Connection):
        return "sqlite"
    return type(conn).__module__.split(".")[0]  # e.g. "psycopg"


def maintenance_for(conn):
    """The maintenance function of the database behind ``conn``."""
    backend = backend_of(conn)
    if backend not in BACKENDS:
        raise NotImplementedError(f"no database maintenance written for {backend} yet")
    return BACKENDS[backend]


def run_maintenance(conn, *, now, config):
    """Scheduled job (app/ops/scheduler.py JOBS): the upkeep of whichever database this is."""
    return maintenance_for(conn)(conn, now=now, config=config)


def wal_size(database):
    try:
        return os.path.getsize(f"{database}-wal")
    except OSError:
        return 0


def maintain_sqlite(conn, *, now, config):
    """ANALYZE, FTS optimize, WAL checkpoint (truncated when quiet); returns a one-line report."""
    steps = []
    started = time.monotonic()
    conn.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
    with transaction(conn):
        conn.execute("ANALYZE")
    steps.append(f"ANALYZE (limit {ANALYSIS_LIMIT}) {time.monotonic() - started:.2f} s")

    with transaction(conn):
        optimize_search_index_sqlite(conn)
    steps.append("hospitals_fts optimized")

    steps.append(checkpoint_sqlite(conn, config["DATABASE"]))
    return "; ".join(steps)


def checkpoint_sqlite(conn, database):
    """Copy the WAL into the database and, when quiet, truncate it (see the module docstring)."""
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")
    before = wal_size(database)
    busy, frames, copied = _checkpoint(conn, "PASSIVE")
    if busy or frames != copied:
        return (f"WAL {human_size(before)}: {copied} of {frames} frames checkpointed; "
                f"busy, truncation left to the next run")
    conn.execute(f"PRAGMA busy_timeout = {TRUNCATE_WAIT_MS}")
    try:
        busy, _frames, _copied = _checkpoint(conn, "TRUNCATE")
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(conn.busy_timeout_s * 1000)}")
    after = wal_size(database)
    if busy:
        return (f"WAL {human_size(before)}: checkpointed; busy, truncation left to the next run")
    return f"WAL {human_size(before)} -> {human_size(after)} (TRUNCATE checkpoint)"


def _checkpoint(conn, mode):
    """(busy, frames in the WAL, frames copied) of ``PRAGMA wal_checkpoint(mode)``."""
    if mode not in ("PASSIVE", "TRUNCATE"):
        raise ValueError(mode)
    row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    busy, frames, copied = row.values() if isinstance(row, dict) else row
    return busy, frames, copied


BACKENDS = {"sqlite": maintain_sqlite}
