"""Database upkeep: the hourly ``database-maintenance`` job and ``flask db maintenance``.

One function per backend, each doing what that database needs; the caller picks
it by the connection it holds (``maintenance_for``).

PostgreSQL (``maintain_postgres``): autovacuum does the routine work (dead rows,
statistics) on its own; the job runs ANALYZE so the planner's statistics are never
older than an hour, and reports the tables autovacuum is falling behind on (more
than ``DEAD_ROW_WARN_RATIO`` of their rows dead, at least ``DEAD_ROW_WARN_MIN``):
a long transaction holding back vacuum, or autovacuum settings too timid for the
write rate. Bloat is what those dead rows become; the report names the tables.

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


# A table with more dead rows than this share of its rows (and at least DEAD_ROW_WARN_MIN)
# is one autovacuum is not keeping up with.
DEAD_ROW_WARN_RATIO = 0.2
DEAD_ROW_WARN_MIN = 10_000


def backend_of(conn):
    """The name of the database behind ``conn``: the key of ``BACKENDS``."""
    if isinstance(conn, sqlite3.Connection):
        return "sqlite"
    return getattr(conn, "dialect", type(conn).__module__.split(".")[0])


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


def maintain_postgres(conn, *, now, config):
    """ANALYZE, and the tables autovacuum is behind on; returns a one-line report."""
    from app.db import connect_from_config

    started = time.monotonic()
    # ANALYZE needs the tables' owner: the job's own connection acts in the service's role,
    # for which PostgreSQL skips every table with only a warning (migration 0090).
    owner = connect_from_config(config, as_owner=True)
    try:
        owner.execute("ANALYZE")  # autocommit: each table analysed in its own transaction
    finally:
        owner.close()
    steps = [f"ANALYZE {time.monotonic() - started:.2f} s"]
    behind = lagging_tables(conn)
    steps.append("autovacuum keeps up" if not behind else
                 "autovacuum behind on " + ", ".join(f"{row['relname']} ({row['n_dead_tup']:,} dead rows)"
                                                     for row in behind))
    return "; ".join(steps)


def lagging_tables(conn):
    """Tables with more dead rows than DEAD_ROW_WARN_RATIO of their live ones."""
    return conn.execute(
        """
        SELECT relname, n_live_tup, n_dead_tup, last_autovacuum
        FROM pg_stat_user_tables
        WHERE n_dead_tup >= :min_dead AND n_dead_tup > :ratio * greatest(n_live_tup, 1)
        ORDER BY n_dead_tup DESC
        """,
        {"min_dead": DEAD_ROW_WARN_MIN, "ratio": DEAD_ROW_WARN_RATIO},
    ).fetchall()


BACKENDS = {"sqlite": maintain_sqlite, "postgres": maintain_postgres}
