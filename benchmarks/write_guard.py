"""The write guard's cost on reads (app/db/sqlite.py WriteGuard), in one process.

    .venv/bin/python -m benchmarks.write_guard [--rounds 5] [--n 50000]

A migrated database with a few hundred hospitals; per round, for a connection
without and one with the guard (alternating, so drift hits both alike):
- cached: the same typical SELECT (a hospital by id) n times; SQLite consults
  the authorizer only when it prepares a statement, so this should cost nothing;
- prepared: n/10 SELECTs each with new SQL text (a comment with a counter), so every
  one is prepared and runs the authorizer once per column it reads.
Prints microseconds per statement, median of the rounds.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from app import migrator
from app.config import DEFAULTS
from app.db import connect, transaction

TYPICAL = """
    SELECT id, name, address, city, phone, email, status, timezone
    FROM hospitals WHERE id = ?
"""


def build(path, hospitals=300):
    conn = connect(path)
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO hospitals (name, address, city, phone, email, status, created_at, updated_at)"
            " VALUES (?, 'Road 1', 'Dhaka', '+8801711111111', ?, 'approved', 't', 't')",
            [(f"Hospital {i}", f"h{i}@x.test") for i in range(hospitals)])
    conn.close()


def cached(conn, n):
    started = time.perf_counter()
    for i in range(n):
        conn.execute(TYPICAL, (i % 300 + 1,)).fetchone()
    return (time.perf_counter() - started) / n * 1e6


def prepared(conn, n, offset):
    started = time.perf_counter()
    for i in range(n):
        conn.execute(f"{TYPICAL} -- {offset + i}", (i % 300 + 1,)).fetchone()
    return (time.perf_counter() - started) / n * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "guard.sqlite3")
        build(path)
        results = {(kind, guard): [] for kind in ("cached", "prepared") for guard in (False, True)}
        offset = 0
        for _ in range(args.rounds):
            for guard in (False, True):
                conn = connect(path, write_guard=guard)
                results["cached", guard].append(cached(conn, args.n))
                results["prepared", guard].append(prepared(conn, args.n // 10, offset))
                offset += args.n
                conn.close()
        for kind in ("cached", "prepared"):
            off, on = (statistics.median(results[kind, g]) for g in (False, True))
            print(f"{kind:9s} without guard {off:6.2f} us  with guard {on:6.2f} us  "
                  f"({(on / off - 1) * 100:+.1f} %)   rounds off={[round(x, 2) for x in results[kind, False]]}"
                  f" on={[round(x, 2) for x in results[kind, True]]}")


if __name__ == "__main__":
    main()
