"""A/B of the request log: what logging on costs, per request, under gunicorn.

    .venv/bin/python -m benchmarks.logging_ab --rounds 3 --duration 5

One small database (``--bookings``), the service as scripts/serve starts it, and
three variants, interleaved round after round so the machine's load falls on all of
them alike:

- ``off``: RAPIDCARE_LOG_LEVEL=WARNING, no request line;
- ``on``: the default (INFO) with the current app/logging_setup.py;
- ``on-before``: INFO with the request logging of before issue #13 item 9 (a
  ``json.dumps`` of a dict per request, written by a plain StreamHandler that
  writes and flushes stderr in the worker) — ``benchmarks/logging_ab.py:before_app``.

Each variant serves each scenario for ``--duration`` seconds (wrk when on PATH,
else the Python client). Printed per run: req/s and the workers' CPU time per
request (utime + stime of every worker process, writer thread included, from
/proc), which is much steadier than req/s on a shared machine.
"""
import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import wrk
from benchmarks.loader import loaded_database
from benchmarks.loadgen import run_load
from benchmarks.scenarios import Bench
from tests.live_server import LiveServer

TICK = os.sysconf("SC_CLK_TCK")


def before_app():
    """The service with the request logging as it was before item 9 of issue #13."""
    from flask import g, request

    from wsgi import app

    rapidcare = logging.getLogger("rapidcare")
    for handler in list(rapidcare.handlers):
        rapidcare.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    rapidcare.addHandler(handler)
    log = logging.getLogger("rapidcare.request")

    def log_request(response):
        if not log.isEnabledFor(logging.INFO):
            return response
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        user = g.get("_login_user")
        user_id = user.id if user is not None and user.is_authenticated else None
        log.info(json.dumps({
            "method": request.method,
            "route": request.url_rule.rule if request.url_rule else None,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": user_id,
        }))
        return response

    funcs = app.after_request_funcs[None]
    index = next(i for i, f in enumerate(funcs) if f.__name__ == "log_request")
    funcs[index] = log_request
    return app


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICK


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--scenarios", default="availability,hospital detail,my bookings")
    parser.add_argument("--variants", default="off,on,on-before")
    args = parser.parse_args(argv)
    wanted = args.scenarios.split(",")
    variants = args.variants.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="rapidcare-logab-"))
    database = str(workdir / "bench.sqlite3")
    conn, loader, now = loaded_database(database, args.bookings)
    bench = Bench(conn, loader, now=now, connections=16)
    client = "wrk -t2 -c10" if wrk.available() else "Python client, 16 connections"
    print(f"{args.bookings:,} bookings, {args.workers} sync workers, {client}, "
          f"{args.duration:g} s each, load average {os.getloadavg()[0]:.2f}", flush=True)
    totals = {}
    for round_ in range(1, args.rounds + 1):
        for variant in variants:
            server = LiveServer(workdir, workers=args.workers, database=database,
                                app="benchmarks.logging_ab:before_app()" if variant == "on-before"
                                else "wsgi:app",
                                log_level="WARNING" if variant == "off" else None)
            with server:
                bench.use_server(server.url)
                for scenario in bench.read_scenarios():
                    if scenario.name not in wanted:
                        continue
                    drive = (wrk.run_wrk if wrk.available() else run_load)
                    drive("warm-up", server.port, scenario.factory, duration=1.0)
                    pids = server.worker_pids()
                    before = cpu_seconds(pids)
                    result = drive(scenario.name, server.port, scenario.factory,
                                   duration=args.duration)
                    cpu_us = (cpu_seconds(pids) - before) / max(1, result.requests) * 1e6
                    totals.setdefault((scenario.name, variant), []).append((result.rps, cpu_us))
                    print(f"round {round_}  {variant:<10} {scenario.name:<16} {result.rps:8.1f} req/s"
                          f"  {cpu_us:7.0f} µs CPU/request  5xx {result.server_errors}"
                          f"  load {os.getloadavg()[0]:.2f}", flush=True)
            lines = sum(1 for line in server.log_text().splitlines() if '"route": ' in line)
            print(f"          {variant}: {lines:,} request log lines written", flush=True)
    conn.close()
    shutil.rmtree(workdir, ignore_errors=True)
    print("\nmeans over the rounds")
    for (name, variant), runs in sorted(totals.items()):
        rps = sum(r for r, _ in runs) / len(runs)
        cpu = sum(c for _, c in runs) / len(runs)
        print(f"  {name:<16} {variant:<10} {rps:8.1f} req/s  {cpu:7.0f} µs CPU/request  "
              f"(runs: {', '.join(f'{c:.0f}' for _, c in runs)} µs)")


if __name__ == "__main__":
    sys.exit(main())
