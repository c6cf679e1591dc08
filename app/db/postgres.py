"""The PostgreSQL backend: a connection pool per worker process, and transaction().

Selected by RAPIDCARE_DATABASE_URL (app/db/__init__.py). psycopg 3 and
psycopg_pool, no ORM. The rest of the code base speaks one SQL dialect of
placeholders, so a query is written once:

- ``?`` and ``:name`` placeholders (sqlite3's styles) are rewritten to psycopg's
  ``%s`` and ``%(name)s`` once per distinct statement (``translate``, cached);
  a literal ``%`` is doubled. ``::`` casts, quoted strings and comments are left alone.
- A statement whose every parameter is typed by its context (``col = ?``, ``VALUES
  (?, …)``, ``LIMIT ?``) is bound on the server and prepared: planned once per
  connection, where planning under the row-level security policies often cost more
  than running it (benchmarks/RESULTS.md §0h2, §0m). One with a parameter that nothing
  types, ``:x IS NULL`` (the optional filters), is bound on the client (psycopg's
  ClientCursor): the value is sent as a literal and types itself, as in SQLite.
  ``preparable`` tells the two apart from the statement's text. POSTGRES_PREPARED_
  STATEMENTS=false binds every statement on the client (PgBouncer before 1.21).
- Results come back as the SQLite layer gives them: dict rows; timestamptz as the
  application's ISO-8601 text (app.timeutil.to_iso), date as YYYY-MM-DD, json(b) as
  its text. Booleans come back as bool, which compares equal to SQLite's 0/1.

Transactions: reads run in autocommit, one snapshot per statement (as in SQLite).
``with transaction(conn):`` is BEGIN ISOLATION LEVEL SERIALIZABLE … COMMIT. The
service's write paths were written for SQLite's one writer at a time, where a
read-then-write inside a transaction can never interleave with another writer;
SERIALIZABLE keeps that true on PostgreSQL without a table lock: writers to
different rows (other hospitals, other wallets) run in parallel, row locks are
taken by the UPDATEs themselves, and when two transactions really conflict
PostgreSQL aborts one with a serialization failure (or a deadlock error), which
``is_retryable`` recognises. The request that lost is run again from the start
when it has committed nothing yet (app/db/retry.py); otherwise it is a 503.
"""
import os
import re
import threading
from contextlib import contextmanager
from time import perf_counter

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg.types.datetime import TimestamptzLoader
from psycopg_pool import ConnectionPool

from app.db import slow_queries
from app.timeutil import to_iso

dialect = "postgres"

# SQLSTATEs that mean "try the whole transaction again": serialization_failure,
# deadlock_detected. (lock_not_available and query_canceled are timeouts: a 503, app/errors.py.)
RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


def is_retryable(error):
    return isinstance(error, RETRYABLE)


# --- placeholders -----------------------------------------------------------

# One alternation, scanned left to right: the kept pieces first (strings, quoted
# names, comments, casts), then the three things rewritten.
_TOKENS = re.compile(
    r"""(?P<keep>'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::)"""
    r"""|(?P<named>(?<![:\w]):[A-Za-z_]\w*)"""
    r"""|(?P<positional>\?)"""
    r"""|(?P<percent>%)"""
)
# A parameter nothing around it gives a type to: ``:x IS NULL``, ``? IS NOT NULL``.
# Bound on the server, PostgreSQL refuses it ("could not determine data type").
_UNTYPED_PARAMETER = re.compile(r"(?:\?|(?<![:\w]):[A-Za-z_]\w*)\s+IS\s+(?:NOT\s+)?NULL", re.I)
_statements = {}
_STATEMENTS_MAX = 4096  # statements are constants; the bound only guards against a leak


def _statement(sql):
    """(``sql`` as psycopg takes it, whether it can be prepared), worked out once per
    statement text: every execute needs both."""
    found = _statements.get(sql)
    if found is None:
        found = (_TOKENS.sub(_rewrite, sql), _UNTYPED_PARAMETER.search(sql) is None)
        if len(_statements) < _STATEMENTS_MAX:
            _statements[sql] = found
    return found


def translate(sql):
    """``sql`` with sqlite3 placeholders rewritten for psycopg."""
    return _statement(sql)[0]


def preparable(sql):
    """Whether ``sql`` can be bound on the server and prepared: no parameter of it is
    left untyped."""
    return _statement(sql)[1]


def _rewrite(match):
    kind = match.lastgroup
    text = match.group(0)
    if kind == "keep":
        return text.replace("%", "%%")  # psycopg reads % everywhere, literals included
    if kind == "named":
        return f"%({text[1:]})s"
    if kind == "positional":
        return "%s"
    return "%%"


# --- result types -----------------------------------------------------------

class _IsoTimestamptzLoader(TimestamptzLoader):
    """timestamptz as the application's ISO-8601 text, as SQLite stores it.

    Every connection runs with TimeZone UTC and DateStyle ISO, so PostgreSQL prints
    ``2026-12-04 16:05:55.1234+00`` (no fraction when it is zero, trailing zeros
    dropped); that is rewritten as text into ``2026-12-04T16:05:55.123400+00:00``, what
    ``to_iso`` makes of the same instant: 1.8 µs a value instead of 15 for parsing into a
    datetime and formatting it again (a page of bookings holds a hundred or more).
    Anything else (a year past 9999, BC, infinity) takes the full parse, as before."""

    def load(self, data):
        text = bytes(data).decode()
        if len(text) >= 22 and text[10] == " " and text.endswith("+00"):
            fraction = text[19:-3] or "."
            return f"{text[:10]}T{text[11:19]}{fraction.ljust(7, '0')}+00:00"
        return to_iso(super().load(data))


class _IsoDateLoader(psycopg.adapt.Loader):
    def load(self, data):
        return bytes(data).decode()  # PostgreSQL prints a date as YYYY-MM-DD (DateStyle ISO)


class _TextLoader(psycopg.adapt.Loader):
    """json/jsonb as text: the code parses JSON itself, as it does on SQLite."""

    def load(self, data):
        return bytes(data).decode()


def _register_loaders(adapters):
    adapters.register_loader("timestamptz", _IsoTimestamptzLoader)
    adapters.register_loader("date", _IsoDateLoader)
    adapters.register_loader("jsonb", _TextLoader)
    adapters.register_loader("json", _TextLoader)


# --- connections ------------------------------------------------------------

class Connection:
    """A psycopg connection with the sqlite3 Connection's small surface that the
    code uses: execute/executemany returning a cursor, in_transaction, rollback, close."""

    dialect = "postgres"

    def __init__(self, raw, pool=None, slow_query_s=slow_queries.OFF, prepare=True):
        self.raw = raw
        self.prepare = prepare  # POSTGRES_PREPARED_STATEMENTS (module docstring)
        self.slow_query_s = slow_query_s  # SLOW_QUERY_MS (app/db/slow_queries.py)
        self.pool = pool  # the pool it was borrowed from, None for a connection of one's own
        self.commits = 0  # app/db/retry.py: did this request commit anything yet?
        self.actor = None  # set_actor(): who this connection acts for, if it was told
        self.actor_in_transaction = False

    # Each statement timed (app/db/slow_queries.py); inline rather than a shared
    # wrapper, as this runs for every statement.
    def execute(self, sql, params=()):
        """The statement with its parameters, prepared when ``preparable`` (module
        docstring). A prepared ``SELECT b.*`` fails once a migration changes its table
        under running workers: run migrations with the service stopped, as
        scripts/serve does."""
        started = perf_counter()
        try:
            text, typed = _statement(sql)
            if params and self.prepare and typed:
                return psycopg.Cursor(self.raw).execute(text, params, prepare=True)
            return self.raw.execute(text, params)
        finally:
            elapsed = perf_counter() - started
            if elapsed >= self.slow_query_s:
                slow_queries.record(sql, elapsed, "postgres")

    def executemany(self, sql, seq_of_params):
        cursor = self.raw.cursor()
        started = perf_counter()
        try:
            cursor.executemany(translate(sql), list(seq_of_params))
        finally:
            elapsed = perf_counter() - started
            if elapsed >= self.slow_query_s:
                slow_queries.record(sql, elapsed, "postgres")
        return cursor

    @property
    def in_transaction(self):
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def __enter__(self):
        return self  # ``with conn:``, as on sqlite3 in autocommit mode: nothing to commit

    def __exit__(self, *exc):
        return False

    def rollback(self):
        self.raw.rollback()

    def close(self):
        if self.pool is not None:
            self.pool.putconn(self.raw)
        else:
            self.raw.close()
        self.raw = None


# --- row-level security: the service's role and the actor ----------------------
#
# The service never acts as the owner of the tables: its connections switch to
# SERVICE_ROLE when they open (``-c role=…``, no extra round trip), a role that owns
# nothing and cannot bypass row-level security (migration 0090). The URL's user may
# be the owner (then only the service's connections switch) or a login that is a
# member of SERVICE_ROLE and owns nothing itself (README, "Row-level security").
# Migrations run as the URL's user: ``connect(url, config)`` does not switch.
#
# The actor (who is acting) is three settings of the session, read by the policies:
# app.user_id, app.role, app.hospital_id. Session-level rather than per transaction,
# because reads run in autocommit. Costs, in statements sent per request:
# - a pooled connection is reset to nobody by the check the pool runs on every
#   borrow anyway (RESET_ACTOR replaces the pool's empty query): 0 extra;
# - an anonymous request sets nothing: 0;
# - a signed-in request sets its actor once its user is loaded (SET_ACTOR): 1;
# - a connection of one's own (scheduler, CLI) is the system from its start
#   options: 0.

SERVICE_ROLE = "rapidcare_service"
SYSTEM = "system"

SET_ACTOR = """
    SELECT set_config('app.user_id', :user_id, false),
           set_config('app.role', :role, false),
           set_config('app.hospital_id', :hospital_id, false)
"""
RESET_ACTOR = """
    SELECT set_config('app.user_id', '', false),
           set_config('app.role', '', false),
           set_config('app.hospital_id', '', false)
"""


def set_actor(conn, *, user_id, role, hospital_id):
    """Make ``conn``'s later statements act for this actor (the policies read it).

    A session-level setting made inside a transaction is undone if the transaction
    rolls back; transaction() puts it back then (``actor_in_transaction``)."""
    conn.actor = {
        "user_id": "" if user_id is None else str(int(user_id)),
        "role": role,
        "hospital_id": "" if hospital_id is None else str(int(hospital_id)),
    }
    conn.actor_in_transaction = conn.in_transaction
    conn.raw.execute(translate(SET_ACTOR), conn.actor)


def _check_and_reset_actor(raw):
    """The pool's check on borrow (any statement proves the connection works), which
    also makes the connection act for nobody until the request says who it is."""
    raw.execute(RESET_ACTOR)


def _settings(config, *, service=True):
    """Session settings every connection gets (UTC, so timestamptz prints as UTC; the
    timeouts); ``service``: the service's role, acting as nobody."""
    settings = {
        "TimeZone": "UTC",
        "DateStyle": "ISO",
        "statement_timeout": str(int(config["POSTGRES_STATEMENT_TIMEOUT_MS"])),
        "lock_timeout": str(int(config["POSTGRES_LOCK_TIMEOUT_MS"])),
        "application_name": "rapidcare",
        # No JIT compilation: the row-level security policies make the planner's cost
        # estimates of even a tiny query pass jit_above_cost, and compiling then took
        # 8-60 ms of a 1 ms query (the wallet invariant check, measured on PG 15).
        "jit": "off",
    }
    if service:
        settings["role"] = SERVICE_ROLE
    return settings


# psycopg keeps at most this many prepared statements a connection, dropping the least
# recently used (its default, 100, is below the number of distinct statements the
# service runs, and a dropped hot statement would be planned again).
PREPARED_MAX = 500


def _configure(raw):
    _register_loaders(raw.adapters)
    raw.prepared_max = PREPARED_MAX


def _options(settings):
    return " ".join(f"-c {name}={value}" for name, value in settings.items())


def connect_raw(url, config, *, as_system=False):
    """A psycopg connection of one's own, configured as pool connections are except
    for the role: as the URL's user (migrations, tests arranging data), or with
    ``as_system`` as the service's role acting as the system (jobs, CLI commands)."""
    settings = _settings(config, service=as_system)
    if as_system:
        settings["app.role"] = SYSTEM
    options = _options(settings)
    raw = psycopg.connect(url, autocommit=True, row_factory=dict_row,
                          cursor_factory=psycopg.ClientCursor, options=options)
    _configure(raw)
    return raw


def connect(url, config, *, as_system=False):
    return Connection(connect_raw(url, config, as_system=as_system),
                      slow_query_s=slow_queries.threshold_seconds(config),
                      prepare=config.get("POSTGRES_PREPARED_STATEMENTS", True))


_pools = {}
_pools_lock = threading.Lock()


# The settings a pool's connections are made with: another value is another pool.
POOL_SETTINGS = ("POSTGRES_POOL_SIZE", "POSTGRES_POOL_TIMEOUT_SECONDS",
                 "POSTGRES_STATEMENT_TIMEOUT_MS", "POSTGRES_LOCK_TIMEOUT_MS")


def pool_key(url, config):
    return (os.getpid(), url, *(config[name] for name in POOL_SETTINGS))


def pool_for(url, config):
    """This process's pool for ``url`` and the pool settings of ``config`` (created on
    first use; a forked worker makes its own)."""
    key = pool_key(url, config)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                options = _options(_settings(config))
                pool = ConnectionPool(
                    url,
                    min_size=1,
                    max_size=int(config["POSTGRES_POOL_SIZE"]),
                    timeout=float(config["POSTGRES_POOL_TIMEOUT_SECONDS"]),
                    kwargs={"autocommit": True, "row_factory": dict_row,
                            "cursor_factory": psycopg.ClientCursor, "options": options},
                    configure=_configure,
                    check=_check_and_reset_actor,
                    name="rapidcare",
                    open=True,
                )
                _pools[key] = pool
    return pool


def borrow(url, config):
    """A pooled connection (checked on borrow); close() gives it back."""
    pool = pool_for(url, config)
    return Connection(pool.getconn(), pool, slow_query_s=slow_queries.threshold_seconds(config),
                      prepare=config.get("POSTGRES_PREPARED_STATEMENTS", True))


def close_pools(keep=None):
    """Close this process's pools (forget a forked parent's), except the one ``keep``
    names (a pool_key)."""
    for key, pool in list(_pools.items()):
        if key == keep:
            continue
        if key[0] == os.getpid():
            pool.close()
        del _pools[key]


def pool_stats():
    """Sizes of this process's pools (detailed health)."""
    return [pool.get_stats() for key, pool in _pools.items() if key[0] == os.getpid()]


@contextmanager
def queue_lock(conn, lock_class, key):
    """A session advisory lock on (lock_class, key), held around a whole transaction.

    Under SERIALIZABLE, two transactions that write one row do not queue: the second
    waits for the first, then is aborted because its snapshot (taken at its first
    statement) misses the first one's write, and the request runs again. For a row
    that many requests write (a counter, one payment's refunds, one schedule) that
    means rounds of aborted work and, past POSTGRES_RETRIES, 503s. Taking this lock
    BEFORE the transaction begins makes those writers wait their turn instead, and
    each one's snapshot then already holds the previous one's commit."""
    if conn.in_transaction:
        raise RuntimeError("queue_lock() is taken before transaction(), never inside it")
    key = (lock_class, key % 2**31)
    conn.execute("SELECT pg_advisory_lock(?, ?)", key)
    try:
        yield
    finally:
        if not conn.raw.closed:
            conn.execute("SELECT pg_advisory_unlock(?, ?)", key)


@contextmanager
def transaction(conn):
    """BEGIN ISOLATION LEVEL SERIALIZABLE … COMMIT; ROLLBACK on any exception."""
    if conn.in_transaction:
        raise RuntimeError("transaction() does not nest; pass the open connection down instead")
    conn.raw.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
    try:
        yield conn
    except BaseException:
        if not conn.raw.closed:
            conn.raw.rollback()
            if conn.actor_in_transaction:
                # The rollback undid set_actor(); a retried request must still act as itself.
                set_actor(conn, **conn.actor)
        raise
    conn.raw.execute("COMMIT")
    conn.commits += 1
    conn.actor_in_transaction = False
