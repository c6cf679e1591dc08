"""The SQLite backend: connections with the project's pragmas, and transaction().

Connections: explicit transactions (isolation_level=None), foreign keys on, WAL,
a busy timeout, dict rows.

Writes: ``with transaction(conn):`` and nothing else. It issues BEGIN IMMEDIATE
so the write lock is taken (or waited for, up to busy_timeout) up front; a plain
BEGIN that later writes can fail with "database is locked" without waiting.
Before BEGIN IMMEDIATE it waits in the writer queue if the connection was opened
with one (``writer_queue=True``, the SQLITE_WRITER_QUEUE setting; app/db/writer_queue.py).
"""
import os
import sqlite3
from contextlib import contextmanager

from app.db import writer_queue as flock_queue


def dict_row(cursor, row):
    return {col[0]: value for col, value in zip(cursor.description, row)}


class Connection(sqlite3.Connection):
    """sqlite3.Connection plus its writer queue and its commit count (for checkpoints)."""

    writer_queue = None  # None: no queue (the setting is off, or an in-memory database)
    busy_timeout_s = 5.0
    checkpoint_commits = 0  # 0: SQLite checkpoints on its own (app/db/checkpoints.py)
    commits_since_checkpoint = 0

    def close(self):
        if self.writer_queue is not None:
            self.writer_queue.close()
        super().close()


def connect(path, *, busy_timeout_ms=5000, synchronous="NORMAL", writer_queue=False):
    """Open a connection with the project's pragmas (read back in tests/test_db.py);
    ``writer_queue``: its writers wait in the flock queue of ``path``."""
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
    conn.row_factory = dict_row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


def connect_from_config(config):
    path = config["DATABASE"]
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return connect(
        path,
        busy_timeout_ms=int(config["SQLITE_BUSY_TIMEOUT_MS"]),
        synchronous=str(config["SQLITE_SYNCHRONOUS"]).upper(),
        writer_queue=config["SQLITE_WRITER_QUEUE"],
    )


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
            flock_queue.leave(queued)


def _enter_writer_queue(conn):
    """The writer-queue fd once it is ours, or None (no queue, or waited busy_timeout)."""
    queue = getattr(conn, "writer_queue", None)
    if queue is None:
        return None  # a plain sqlite3 connection, an in-memory database, or the queue is off
    return flock_queue.enter(queue, conn.busy_timeout_s)
