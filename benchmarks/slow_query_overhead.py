"""Cost of timing every statement (app/db/slow_queries.py) on the fast path, per statement.

    .venv/bin/python -m benchmarks.slow_query_overhead [--statements 100000] [--rounds 5]
    [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

SQLite: the same cached one-row SELECT through a plain ``sqlite3.Connection`` (no
timing) and through the project's ``Connection`` with SLOW_QUERY_MS=100 (timed, never
slow). PostgreSQL (with ``--postgres``): what ``Connection.execute`` did before
(translate, cached, and psycopg's execute) and what it does now (the same, timed),
both on one connection. Process CPU time (``time.process_time``, steadier than wall time on a
shared machine), the best of the rounds, in microseconds per statement.
"""
import argparse
import sqlite3
import time

from app.config import DEFAULTS
from app.db import postgres, slow_queries
from app.db.sqlite import Connection

SQL = "SELECT id, name FROM t WHERE id = ?"


def per_statement(execute, n, rounds):
    best = None
    for _ in range(rounds):
        started = time.process_time()
        for i in range(n):
            execute(SQL, (i % 100,))
        took = (time.process_time() - started) / n * 1e6
        best = took if best is None else min(best, took)
    return best


def sqlite_pair(n, rounds):
    plain = sqlite3.connect(":memory:", isolation_level=None)
    timed = sqlite3.connect(":memory:", isolation_level=None, factory=Connection)
    timed.slow_query_s = slow_queries.threshold_seconds({"SLOW_QUERY_MS": 100})
    for conn in (plain, timed):
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(100)])
    return per_statement(plain.execute, n, rounds), per_statement(timed.execute, n, rounds)


def postgres_pair(url, n, rounds):
    config = {**DEFAULTS, "SLOW_QUERY_MS": 100}
    conn = postgres.connect(url, config)
    conn.execute("CREATE TEMP TABLE t (id integer PRIMARY KEY, name text)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"n{i}") for i in range(100)])
    raw = conn.raw
    # what Connection.execute did before the timing: translate (cached) and execute
    plain = per_statement(lambda sql, params: raw.execute(postgres.translate(sql), params), n, rounds)
    timed = per_statement(conn.execute, n, rounds)
    conn.close()
    return plain, timed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--statements", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    plain, timed = sqlite_pair(args.statements, args.rounds)
    print(f"sqlite:   plain {plain:.2f} µs, timed {timed:.2f} µs, "
          f"overhead {timed - plain:.2f} µs per statement")
    if args.postgres:
        n = max(args.statements // 10, 1000)  # a round trip each: fewer
        plain, timed = postgres_pair(args.postgres, n, args.rounds)
        print(f"postgres: plain {plain:.2f} µs, timed {timed:.2f} µs "
              f"overhead {timed - plain:.2f} µs per statement")


if __name__ == "__main__":
    main()
