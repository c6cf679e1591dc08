"""The SQLite checkpoint policy: request connections checkpoint after their responses.

SQLite copies the WAL back into the database (a checkpoint, with two fsyncs)
from inside the COMMIT that pushed the WAL past 1000 pages, so the committing
worker still held the writer queue while it copied, and every other writer
waited. Request connections instead count their commits and, after every
SQLITE_CHECKPOINT_COMMITS of them, run a PASSIVE checkpoint once the response
has been sent (app/db/__init__.py registers that): it runs beside the other
writers, never blocks them, and skips if another checkpoint is running.
SQLite's own checkpoint stays as a backstop at a larger WAL size.
Measured: benchmarks/RESULTS.md §5.
"""
import logging
import sqlite3

log = logging.getLogger("app.db")

# SQLite's automatic checkpoint (WAL pages) on connections that checkpoint after
# their responses: only reached if those checkpoints cannot keep up.
BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000


def checkpoint_after_responses(conn, commits):
    """Make a request connection checkpoint after every ``commits`` commits, once the
    response is sent (see the module docstring); 0 leaves checkpoints to SQLite."""
    if commits > 0:
        conn.checkpoint_commits = commits
        conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_AUTOCHECKPOINT_PAGES}")


def checkpoint_due(conn):
    return 0 < conn.checkpoint_commits <= conn.commits_since_checkpoint


def checkpoint(conn):
    """PASSIVE: copies what it can without waiting for readers or writers."""
    conn.commits_since_checkpoint = 0
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        # Only an optimisation: SQLite's backstop checkpoint still bounds the WAL.
        log.warning("WAL checkpoint failed", exc_info=True)
