"""The data layer: connections, the one write helper, nothing domain-specific.

Two backends behind one surface. Without RAPIDCARE_DATABASE_URL the database is
the SQLite file at RAPIDCARE_DATABASE (the zero-set-up default); with
``RAPIDCARE_DATABASE_URL=postgresql://…`` it is PostgreSQL. Queries are written
once (``?``/``:name`` placeholders); where the dialects differ, the owning
queries.py holds both forms side by side as ``{"sqlite": …, "postgres": …}`` and
runs ``pick(conn, FORM)``.

Public API (import it from here, never from the modules below):

- ``get_db()``: the connection of this request. SQLite: each worker thread keeps
  one open connection and reuses it (opening one and setting its pragmas costs more
  than most queries). PostgreSQL: borrowed from this process's pool (checked on
  borrow) on first use in the request, given back at teardown. Teardown rolls back
  anything a failed request left open.
- ``close_db()``: close this thread's cached connection (tests and shutdown).
- ``connect_from_config(config)``: a connection of one's own (CLI commands, the
  scheduler, operator scripts, tests); ``connect(path)``: the same on a SQLite file.
- ``transaction(conn)``: the one way to write, ``with transaction(conn): ...``.
- ``queue_lock(conn, lock_class, key)``: PostgreSQL, around a transaction that
  writes a hot row, so its writers queue instead of aborting each other.
- ``set_actor(conn, …)``, ``act_as_system()``: PostgreSQL, who the connection acts
  for under row-level security (the session loaders and the gateway's callbacks).
- ``IntegrityError``, ``OperationalError``: the exception classes of both drivers,
  for ``except`` clauses and error handlers.
- ``dialect_of(config)``: "sqlite" or "postgres".

The parts, one module each:

- ``sqlite``: the SQLite backend (pragmas, BEGIN IMMEDIATE, the write guard);
- ``writer_queue``: SQLite only, the flock queue writers wait in (SQLITE_WRITER_QUEUE);
- ``checkpoints``: SQLite only, the WAL checkpoint after a response (SQLITE_CHECKPOINT_COMMITS);
- ``postgres``: the PostgreSQL backend (pool, placeholders, SERIALIZABLE transactions);
- ``retry``: PostgreSQL only, a request that lost a serialization conflict runs again;
- ``slow_queries``: both, statements slower than SLOW_QUERY_MS (logged, counted, listed).
"""
import os
import sqlite3
import threading
from contextlib import nullcontext

import psycopg
import psycopg_pool
from flask import current_app

from app.db import checkpoints, postgres, retry
from app.db import sqlite as sqlite_backend
from app.db.sqlite import Connection, connect, dict_row, writes_outside_transaction

__all__ = ["Connection", "connect", "connect_from_config", "dict_row", "transaction",
           "writes_outside_transaction", "queue_lock", "get_db", "release_db", "close_db", "init_app",
           "set_actor", "act_as_system",
           "IntegrityError", "OperationalError", "DatabaseError", "dialect_of", "pick", "json_list",
           "where_clause"]

IntegrityError = (sqlite3.IntegrityError, psycopg.IntegrityError)
OperationalError = (sqlite3.OperationalError, psycopg.OperationalError)
DatabaseError = (sqlite3.Error, psycopg.Error, psycopg_pool.PoolTimeout)

_local = threading.local()


def dialect_of(config):
    return "postgres" if config.get("DATABASE_URL") else "sqlite"


def connect_from_config(config, *, write_guard=False, as_owner=False):
    """A connection of one's own to the configured database. PostgreSQL: in the
    service's role acting as the system (scheduler jobs, CLI commands), or with
    ``as_owner`` as the URL's user itself (migrations: `flask db upgrade|status`)."""
    if config.get("DATABASE_URL"):
        return postgres.connect(config["DATABASE_URL"], config, as_system=not as_owner)
    return sqlite_backend.connect_from_config(config, write_guard=write_guard)


def set_actor(conn, *, user_id, role, hospital_id=None):
    """PostgreSQL: who ``conn``'s later statements act for, as row-level security sees
    it (migration 0090; app/db/postgres.py for the cost). ``role``: 'user',
    'hospital-authority', 'admin' or 'system'. SQLite has no row-level security:
    nothing to do."""
    if conn.dialect == "postgres":
        postgres.set_actor(conn, user_id=user_id, role=role, hospital_id=hospital_id)


def act_as_system():
    """This request acts for no user: the payment gateway's server-to-server calls."""
    set_actor(get_db(), user_id=None, role=postgres.SYSTEM)


def transaction(conn):
    """``with transaction(conn):`` BEGIN … COMMIT, ROLLBACK on any exception.
    SQLite: BEGIN IMMEDIATE (one writer at a time); PostgreSQL: SERIALIZABLE."""
    if getattr(conn, "dialect", "sqlite") == "postgres":
        return postgres.transaction(conn)
    return sqlite_backend.transaction(conn)


def queue_lock(conn, lock_class, key):
    """``with queue_lock(conn, CLASS, key), transaction(conn):`` for a transaction
    that writes a row many requests write. PostgreSQL: a session advisory lock on
    (CLASS, key) taken before the transaction begins (postgres.queue_lock says why);
    ``lock_class`` is a fixed 31-bit number naming the kind of row, ``key`` an
    integer naming the row. SQLite: nothing to do, BEGIN IMMEDIATE already queues
    every writer."""
    if conn.dialect == "postgres":
        return postgres.queue_lock(conn, lock_class, key)
    return nullcontext()


def pick(conn, sql):
    """``sql`` itself, or its form for ``conn``'s dialect when it is a {dialect: sql} dict."""
    return sql if isinstance(sql, str) else sql[conn.dialect]


_JSON_LIST = {
    "sqlite": "(SELECT value FROM json_each({param}))",
    "postgres": "(SELECT value::{pg_type} FROM jsonb_array_elements_text(CAST({param} AS jsonb)) AS value)",
}


def json_list(conn, param, pg_type="text"):
    """SQL for the values of the JSON-array parameter ``param`` (e.g. ":ids"), to write
    ``x IN <this>`` with one parameter however many values there are; ``pg_type`` is
    what PostgreSQL compares them as ("bigint" for ids)."""
    return _JSON_LIST[conn.dialect].format(param=param, pg_type=pg_type)


def where_clause(fragments, filters):
    """``WHERE a AND b`` of the fixed SQL ``fragments`` named by the keys of ``filters``
    (each fragment binds the parameter of its own key, so no input becomes SQL text);
    empty when no filter is given."""
    clauses = [fragments[key] for key in filters]
    return "WHERE " + " AND ".join(clauses) if clauses else ""


def get_db():
    """The connection for this request."""
    config = current_app.config
    key = (os.getpid(), config.get("DATABASE_URL") or config["DATABASE"])
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key != key:
        if _local.key[0] == os.getpid():
            conn.close()
        conn = None  # a forked child never touches its parent's connection
    if conn is None:
        if config.get("DATABASE_URL"):
            conn = postgres.borrow(config["DATABASE_URL"], config)
        else:
            conn = sqlite_backend.connect_from_config(config, write_guard=True)
            checkpoints.checkpoint_after_responses(conn, config["SQLITE_CHECKPOINT_COMMITS"])
        _local.conn, _local.key = conn, key
    return conn


def current_connection():
    """This thread's request connection if it has one (None otherwise); never opens one."""
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.key[0] == os.getpid():
        return conn
    return None


def release_db(exc=None):
    """Request teardown: never let a half-done transaction outlive its request;
    a pooled PostgreSQL connection goes back to its pool."""
    conn = current_connection()
    if conn is None:
        return
    if conn.in_transaction:
        conn.rollback()
    if conn.dialect == "postgres":
        conn.close()
        _local.conn = None


def close_db():
    """Close this thread's cached connection (tests and shutdown)."""
    conn = current_connection()
    if conn is not None:
        conn.close()
    _local.conn = None


def _checkpoint_after_response(response):
    conn = current_connection()
    if conn is not None and conn.dialect == "sqlite" and checkpoints.checkpoint_due(conn):
        response.call_on_close(lambda: checkpoints.checkpoint(conn))
    return response


def init_app(app):
    app.after_request(_checkpoint_after_response)
    app.teardown_appcontext(release_db)
    retry.init_app(app)
