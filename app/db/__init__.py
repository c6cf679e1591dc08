"""The data layer: connections, the one write helper, nothing domain-specific.

Public API (import it from here, never from the modules below):

- ``get_db()``: the connection of this request. Each gunicorn worker thread keeps
  one open connection and reuses it for request after request (opening a
  connection and setting its pragmas costs more than most of our queries); a
  request therefore always works on exactly one connection, and teardown rolls
  back anything a failed request left open.
- ``close_db()``: close this thread's cached connection (tests and shutdown).
- ``connect(path, ...)`` / ``connect_from_config(config)``: a connection of one's
  own (CLI commands, the scheduler, operator scripts, tests).
- ``transaction(conn)``: the one way to write, ``with transaction(conn): ...``;
  on a request connection a write outside it is refused (app/db/sqlite.py).

The parts, one module each:

- ``sqlite``: the SQLite backend (pragmas, BEGIN IMMEDIATE);
- ``writer_queue``: SQLite only, the flock queue writers wait in (SQLITE_WRITER_QUEUE);
- ``checkpoints``: SQLite only, the WAL checkpoint after a response (SQLITE_CHECKPOINT_COMMITS).
"""
import os
import threading

from flask import current_app

from app.db import checkpoints
from app.db.sqlite import Connection, connect, connect_from_config, dict_row, transaction, writes_outside_transaction

__all__ = ["Connection", "connect", "connect_from_config", "dict_row", "transaction",
           "writes_outside_transaction", "get_db", "release_db", "close_db", "init_app"]

_local = threading.local()


def get_db():
    """The connection for this request (opened once per worker thread, then reused)."""
    key = (os.getpid(), current_app.config["DATABASE"])
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key != key:
        if _local.key[0] == os.getpid():
            conn.close()
        conn = None  # a forked child never touches its parent's connection
    if conn is None:
        conn = connect_from_config(current_app.config, write_guard=True)
        checkpoints.checkpoint_after_responses(conn, current_app.config["SQLITE_CHECKPOINT_COMMITS"])
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


def _checkpoint_after_response(response):
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key[0] == os.getpid() and checkpoints.checkpoint_due(conn):
        response.call_on_close(lambda: checkpoints.checkpoint(conn))
    return response


def init_app(app):
    app.after_request(_checkpoint_after_response)
    app.teardown_appcontext(release_db)
