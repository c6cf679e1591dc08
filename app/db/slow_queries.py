"""Slow statements, on both backends: logged, counted in /metrics, kept for detailed health.

Both backends' ``Connection.execute`` and ``executemany`` time each statement
(app/db/sqlite.py, app/db/postgres.py) and hand one that took ``SLOW_QUERY_MS`` or longer to ``record``; 0
turns it off. What is timed is the driver's execute: on PostgreSQL the whole
statement with its rows (psycopg fetches them in execute), on SQLite the statement
up to its first row (the rest are stepped as the caller fetches them; an aggregate
or a sort does its work before the first row).

The fast path is two ``perf_counter()`` calls and a comparison (measured:
benchmarks/slow_query_overhead.py, README "Slow queries").

A statement is known by its normalized form, never by its parameters or literals:
whitespace collapsed, every string and number literal and every placeholder
replaced by ``?``, cut at MAX_QUERY_CHARS; and by ``query_id``, the first 12 hex
digits of its SHA-1, short and stable across processes and restarts. Statements are
constants in the code, so the label set is bounded already; MAX_QUERY_IDS bounds it
again (later ones are counted as "other").

- the log: one JSON line at WARNING on ``rapidcare.slow_query``: ``{"slow_query":
  query_id, "query": normalized, "duration_ms": …, "backend": …}``;
- /metrics: ``rapidcare_slow_queries_total`` and ``rapidcare_slow_query_seconds_total``
  by ``query_id``, ``query``, ``backend``, summed over every worker (app/ops/metrics.py);
- detailed health: the slowest of the last RECENT_MAX slow statements of the worker
  that answers (an in-memory list per process, lost on restart: the log and the
  metrics are the lasting record).
"""
import hashlib
import json
import logging
import os
import re
import threading
from collections import deque

from app.timeutil import to_iso, utcnow

log = logging.getLogger("rapidcare.slow_query")

MAX_QUERY_CHARS = 300
MAX_QUERY_IDS = 200
RECENT_MAX = 50
HEALTH_SHOWN = 10
OFF = float("inf")  # a connection's threshold when slow-query timing is off

# Literals and placeholders, scanned left to right: quoted names are kept; strings
# (E'…' included), dollar-quoted bodies, numbers (not inside a name: idx_2), :name,
# ?, %s and %(name)s become "?".
_LITERALS = re.compile(
    r"""(?P<name>"(?:[^"]|"")*")"""
    r"""|(?P<literal>[eE]?'(?:[^']|'')*'"""
    r"""|\$(?P<tag>[A-Za-z_]*)\$.*?\$(?P=tag)\$"""
    r"""|(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)"""
    r"""|(?<![:\w]):[A-Za-z_]\w*|\?|%s|%\(\w+\)s)""",
    re.DOTALL,
)
_SPACE = re.compile(r"\s+")

_normalized = {}
_NORMALIZED_MAX = 4096  # statements are constants; the bound only guards against a leak
_recent = deque(maxlen=RECENT_MAX)
_recent_lock = threading.Lock()
_counters = None
_children = {}


def threshold_seconds(config):
    """A connection's threshold from SLOW_QUERY_MS: seconds, or OFF for 0."""
    ms = config.get("SLOW_QUERY_MS", 0)
    return ms / 1000 if ms else OFF


def normalize(sql):
    """(query_id, normalized text) of ``sql``: no literal or parameter survives (cached)."""
    found = _normalized.get(sql)
    if found is None:
        text = _LITERALS.sub(lambda m: m.group(0) if m.lastgroup == "name" else "?", sql)
        text = _SPACE.sub(" ", text).strip()[:MAX_QUERY_CHARS]
        found = (hashlib.sha1(text.encode()).hexdigest()[:12], text)
        if len(_normalized) < _NORMALIZED_MAX:
            _normalized[sql] = found
    return found


def record(sql, seconds, backend):
    """A statement took ``seconds``, at least its connection's threshold: log it,
    count it, remember it. Never raises: watching must not fail the statement."""
    try:
        query_id, text = normalize(sql)
        duration_ms = round(seconds * 1000, 1)
        log.warning(json.dumps({"slow_query": query_id, "query": text,
                                "duration_ms": duration_ms, "backend": backend}))
        with _recent_lock:
            _recent.append({"query_id": query_id, "query": text, "duration_ms": duration_ms,
                            "backend": backend, "at": to_iso(utcnow())})
        _count(query_id, text, backend, seconds)
    except Exception:  # noqa: BLE001 - see the docstring
        log.exception("slow query not recorded")


def _count(query_id, text, backend, seconds):
    # Only where the service's metrics live (a worker, the test suite): an operator
    # script with no metrics directory has nowhere to count.
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return
    key = (query_id, backend)
    children = _children.get(key)
    if children is None:
        if len(_children) >= MAX_QUERY_IDS:
            key, text = ("other", backend), "other"
            children = _children.get(key)
        if children is None:
            count, total = _instruments()
            children = (count.labels(key[0], text, backend), total.labels(key[0], text, backend))
            _children[key] = children
    children[0].inc()
    children[1].inc(seconds)


def _instruments():
    global _counters
    if _counters is None:
        from app.ops.metrics import multiprocess_counter

        labels = ("query_id", "query", "backend")
        _counters = (
            multiprocess_counter("rapidcare_slow_queries", "Statements slower than SLOW_QUERY_MS",
                                 labels),
            multiprocess_counter("rapidcare_slow_query_seconds",
                                 "Time spent in statements slower than SLOW_QUERY_MS", labels),
        )
    return _counters


def slowest_recent():
    """The slowest of this process's last RECENT_MAX slow statements, slowest first."""
    with _recent_lock:
        recent = list(_recent)
    return sorted(recent, key=lambda row: row["duration_ms"], reverse=True)[:HEALTH_SHOWN]


def clear_recent():
    """Tests: forget this process's recent slow statements."""
    with _recent_lock:
        _recent.clear()

