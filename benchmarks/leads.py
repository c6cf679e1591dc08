"""Check three design leads by measurement (same client, same machine, same run):

1. one SQLite connection reused per worker (app/db/) vs one opened per request;
2. synchronous=NORMAL vs FULL (WAL) for write throughput;
3. sync vs gthread gunicorn workers for write latency (p99) under a mixed load.

    .venv/bin/python -m benchmarks.leads --duration 5

Reads are GET /api/health (one query), writes are PUT /api/auth/profile (one
BEGIN IMMEDIATE transaction); every figure is also shown against the bare Flask
baseline measured in the same run.
"""
import argparse
import sys
import tempfile
from pathlib import Path

from app import migrator
from app.config import DEFAULTS
from app.db import connect
from app.timeutil import utcnow
from benchmarks.loader import Loader
from benchmarks.loadgen import Request, run_load
from benchmarks.scenarios import bearer, mint_tokens
from tests.live_server import LiveServer


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.leads", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="rapidcare-leads-"))
    database = str(workdir / "leads.sqlite3")
    conn = connect(database)
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    loader = Loader(conn, now=utcnow())
    loader.load_base(hospitals=10, users=1000)
    tokens = mint_tokens(conn, loader.user_ids, utcnow())
    conn.close()
    users = loader.user_ids

    def read(i, n):
        return Request("GET", "/api/health", kind="read")

    def write(i, n):
        user_id = users[(i * 61 + n) % len(users)]
        return Request("PUT", "/api/auth/profile", headers=bearer(tokens[user_id]),
                       body={"name": f"Leads {n}"}, kind="write")

    def mixed(i, n):
        return write(i, n) if n % 2 else read(i, n)

    def serve(app="wsgi:app", ready="/api/health", env=None, worker_args=()):
        return LiveServer(workdir, workers=args.workers, database=database, app=app,
                          ready_path=ready, gunicorn_args=list(worker_args),
                          env={"RAPIDCARE_LOG_LEVEL": "WARNING", **(env or {})})

    def measure(server, name, factory):
        run_load("warm-up", server.port, read, connections=args.connections, duration=1.0)
        result = run_load(name, server.port, factory, connections=args.connections,
                          duration=args.duration)
        rows.append(result)
        bad = {s: n for s, n in result.statuses.items() if s != 200}
        print(f"  {name:<44} {result.rps:8.1f} req/s  p50 {result.percentile(50):7.2f} ms  "
              f"p99 {result.percentile(99):7.2f} ms" + (f"  non-200 {bad}" if bad else ""), flush=True)
        return result

    rows = []
    with serve(app="benchmarks.baseline_app:app", ready="/") as server:
        base = measure(server, "baseline (bare Flask)", lambda i, n: Request("GET", "/"))

    print("1. connection per worker (reused) vs per request")
    with serve() as server:
        reused_read = measure(server, "health, reused connection", read)
        reused_write = measure(server, "profile update, reused connection", write)
    with serve(app="benchmarks.per_request_connection_app:app") as server:
        fresh_read = measure(server, "health, connection per request", read)
        fresh_write = measure(server, "profile update, connection per request", write)

    print("2. synchronous=NORMAL vs FULL (WAL), writes")
    with serve(env={"RAPIDCARE_SQLITE_SYNCHRONOUS": "FULL"}) as server:
        full_write = measure(server, "profile update, synchronous=FULL", write)

    print("3. sync vs gthread workers, half writes half reads")
    with serve() as server:
        sync_mix = measure(server, "mixed, sync workers", mixed)
    with serve(worker_args=["--worker-class", "gthread", "--threads", "4"]) as server:
        gthread_mix = measure(server, "mixed, gthread workers x 4 threads", mixed)

    print("\nsummary (ratios of throughput or latency, same run)")
    print(f"  baseline: {base.rps:.1f} req/s")
    print(f"  reused / per-request connection, health req/s:       "
          f"{reused_read.rps / fresh_read.rps:.2f}x")
    print(f"  reused / per-request connection, write req/s:        "
          f"{reused_write.rps / fresh_write.rps:.2f}x")
    print(f"  synchronous FULL / NORMAL, write req/s:              "
          f"{full_write.rps / reused_write.rps:.2f}x")
    print(f"  gthread / sync, write p99 in the mix:                "
          f"{gthread_mix.percentile(99, 'write') / sync_mix.percentile(99, 'write'):.2f}x "
          f"({gthread_mix.percentile(99, 'write'):.1f} vs {sync_mix.percentile(99, 'write'):.1f} ms)")
    print(f"  gthread / sync, write max in the mix:                "
          f"{gthread_mix.max('write') / sync_mix.max('write'):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
