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
"""
import os
import sqlite3
import threading
from contextlib import contextmanager

from flask import current_app

_local = threading.local()


def dict_row(cursor, row):
    return {col[0]: value for col, value in zip(cursor.description, row)}


def connect(path, *, busy_timeout_ms=5000, synchronous="NORMAL"):
    """Open a connection with the project's pragmas (read back in tests/test_db.py)."""
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        timeout=busy_timeout_ms / 1000,
        check_same_thread=False,
    )
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
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")


def init_app(app):
    app.teardown_appcontext(release_db)
