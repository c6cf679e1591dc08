"""The thin sqlite3 layer: connections, the one write helper, nothing domain-specific.

Connections: explicit transactions (isolation_level=None), foreign keys on, WAL,
a busy timeout, dict rows. Each gunicorn worker thread keeps one open connection
and reuses it for request after request (opening a connection and setting its
pragmas costs more than most of our queries); a request therefore always works
on exactly one connection, and teardown rolls back anything a failed request
left open.

Writes: ``with transaction(conn):`` and nothing else. It issues BEGIN IMMEDIATE
so the write lock is taken (or waited for, up to busy_timeout) up front; a plain
BEGIN that later writes can fail with "database is locked" without waiting.

The writer queue: before BEGIN IMMEDIATE, transaction() takes an exclusive
flock on ``<database>.writer.lock``. SQLite's own busy handler waits by sleeping
1, 2, 5, 10, ... up to 100 ms between attempts, so under contention a writer
often sleeps long after the lock came free (measured: the p99 tail of every
write endpoint). The flock is only a queue in front of the real lock: SQLite's
lock still guarantees exclusion, writers that do not use transaction() are
unaffected, and after busy_timeout without the flock we go on to BEGIN
IMMEDIATE anyway, whose own timeout then decides (503 as before).

How a writer waits for the flock: in the main thread (a gunicorn sync worker
serves its requests there) it blocks in flock(), so the kernel hands the lock
over the moment it is released, with a SIGALRM timer as the busy_timeout
deadline. Other threads cannot take signals, a process whose own interval
timer is running keeps it, and a SIGALRM handler installed outside Python
(which could not be put back afterwards) is never replaced: those retry every
0.2-2 ms.
Measured at 1M bookings against retrying in every thread: +20 % approvals and
payments per second, and less CPU per request (no polling).

Checkpoints: SQLite copies the WAL back into the database (a checkpoint, with
two fsyncs) from inside the COMMIT that pushed the WAL past 1000 pages, so the
committing worker still held the writer queue while it copied, and every other
writer waited. Request connections instead count their commits and, after every
SQLITE_CHECKPOINT_COMMITS of them, run a PASSIVE checkpoint once the response
has been sent (``init_app``): it runs beside the other writers, never blocks
them, and skips if another checkpoint is running. SQLite's own checkpoint stays
as a backstop at a larger WAL size. Measured: benchmarks/RESULTS.md §5.
"""
import fcntl
import logging
import os
import signal
import sqlite3
import threading
import time
from contextlib import contextmanager

from flask import current_app

log = logging.getLogger(__name__)

_local = threading.local()

# SQLite's automatic checkpoint (WAL pages) on connections that checkpoint after
# their responses: only reached if those checkpoints cannot keep up.
BACKSTOP_AUTOCHECKPOINT_PAGES = 10_000


def dict_row(cursor, row):
    return {col[0]: value for col, value in zip(cursor.description, row)}


class Connection(sqlite3.Connection):
    """sqlite3.Connection plus its handle on the writer queue (see transaction())."""

    writer_lock_path = None  # None: no queue (an in-memory database)
    busy_timeout_s = 5.0
    checkpoint_commits = 0  # 0: SQLite checkpoints on its own (see the module docstring)
    commits_since_checkpoint = 0
    _writer_fd = None
    _writer_pid = None

    def writer_fd(self):
        # Opened per process: a forked child must not share its parent's open
        # file, or their flocks would not exclude each other.
        if self._writer_fd is None or self._writer_pid != os.getpid():
            self._writer_fd = os.open(self.writer_lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                      0o644)
            self._writer_pid = os.getpid()
        return self._writer_fd

    def close(self):
        if self._writer_fd is not None and self._writer_pid == os.getpid():
            os.close(self._writer_fd)
        self._writer_fd = None
        super().close()


def connect(path, *, busy_timeout_ms=5000, synchronous="NORMAL"):
    """Open a connection with the project's pragmas (read back in tests/test_db.py)."""
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        timeout=busy_timeout_ms / 1000,
        check_same_thread=False,
        factory=Connection,
    )
    if path != ":memory:" and not str(path).startswith("file:"):
        conn.writer_lock_path = f"{os.path.abspath(path)}.writer.lock"
    conn.busy_timeout_s = busy_timeout_ms / 1000
    conn.row_factory = dict_row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


def checkpoint_after_responses(conn, commits):
    """Make a request connection checkpoint after every ``commits`` commits, once the
    response is sent (see the module docstring); 0 leaves checkpoints to SQLite."""
    if commits > 0:
        conn.checkpoint_commits = commits
        conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_AUTOCHECKPOINT_PAGES}")


def connect_from_config(config):
    path = config["DATABASE"]
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return connect(
        path,
        busy_timeout_ms=int(config["SQLITE_BUSY_TIMEOUT_MS"]),
        synchronous=str(config["SQLITE_SYNCHRONOUS"]).upper(),
    )


def get_db():
    """The connection for this request (opened once per worker thread, then reused)."""
    key = (os.getpid(), current_app.config["DATABASE"])
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key != key:
        if _local.key[0] == os.getpid():
            conn.close()
        conn = None  # a forked child never touches its parent's connection
    if conn is None:
        conn = connect_from_config(current_app.config)
        checkpoint_after_responses(conn, current_app.config["SQLITE_CHECKPOINT_COMMITS"])
        _local.conn, _local.key = conn, key
    return conn


def release_db(exc=None):
    """Request teardown: never let a half-done transaction outlive its request."""
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key[0] == os.getpid() and conn.in_transaction:
        conn.rollback()


def close_db():
    """Close this thread's cached connection (tests and shutdown)."""
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key[0] == os.getpid():
        conn.close()
    _local.conn = None


@contextmanager
def transaction(conn):
    """The one way to write: BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception."""
    if conn.in_transaction:
        raise RuntimeError("transaction() does not nest; pass the open connection down instead")
    queued = _enter_writer_queue(conn)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")
        if isinstance(conn, Connection):  # plain sqlite3 connections cannot count
            conn.commits_since_checkpoint += 1
    finally:
        if queued is not None:
            fcntl.flock(queued, fcntl.LOCK_UN)


def _enter_writer_queue(conn):
    """Wait for the writer-queue flock; its fd, or None (no queue, or waited busy_timeout)."""
    if getattr(conn, "writer_lock_path", None) is None:
        return None  # a plain sqlite3 connection or an in-memory database
    fd = conn.writer_fd()
    if _try_lock(fd):
        return fd
    if _may_use_the_alarm():
        return _block_for_writer_queue(fd, conn.busy_timeout_s)
    deadline = time.monotonic() + conn.busy_timeout_s
    delay = 0.0002
    while time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.002)
        if _try_lock(fd):
            return fd
    return None


def _may_use_the_alarm():
    """Whether blocking with a SIGALRM deadline leaves everything as it found it.

    Only the main thread receives signals; a running ITIMER_REAL is someone
    else's; and a SIGALRM handler installed outside Python (getsignal() answers
    None) could not be put back afterwards, so a later SIGALRM would hit the
    default action and kill the process. In all these cases the writer polls.
    """
    return (threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
            and signal.getsignal(signal.SIGALRM) is not None)


def _try_lock(fd):
    """Take the writer-queue flock without waiting; True if this descriptor holds it
    (also when it already did: re-locking a held flock succeeds at once)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class _WaitTimedOut(Exception):
    pass


_blocked_in_flock = [False]  # main thread only: the SIGALRM handler runs there too


def _on_alarm(signum, frame):
    # Only interrupt the flock() below; an alarm handled just after it returned is ignored.
    if _blocked_in_flock[0]:
        raise _WaitTimedOut


def _block_for_writer_queue(fd, timeout_s):
    """Block in flock() until the queue is ours or ``timeout_s`` passed (main thread)."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        try:
            _blocked_in_flock[0] = True
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            _blocked_in_flock[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _WaitTimedOut:
        pass
    finally:
        signal.signal(signal.SIGALRM, previous)  # never None: see _may_use_the_alarm()
    # Whether we hold it now, also when the deadline raced the grant.
    return fd if _try_lock(fd) else None


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


def _checkpoint_after_response(response):
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key[0] == os.getpid() and checkpoint_due(conn):
        response.call_on_close(lambda: checkpoint(conn))
    return response


def init_app(app):
    app.after_request(_checkpoint_after_response)
    app.teardown_appcontext(release_db)
