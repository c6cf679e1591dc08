"""How close the reads can come to the bare ping with this stack: the service against its
own domain code served without the framework layers.

    .venv/bin/python -m benchmarks.ceiling --bookings 100000 --rounds 3

One SQLite database (benchmarks/loader.py), then, round after round so the machine's
load falls on all three alike, each under gunicorn as scripts/serve starts it (4 sync
workers, request logging on) and driven by wrk (-t2 -c10) with the benchmark's own
request factories (benchmarks/scenarios.py):

- the bare Flask ping (benchmarks/baseline_app.py), the yardstick of every ratio;
- the domain-only app (benchmarks/domain_only_app.py): the same service functions, SQL
  and rows, in bare Flask views, encoded by orjson;
- the service itself.

Printed per read: req/s and the workers' CPU time per request (medians of the rounds),
each as a ratio to the ping's. The domain-only ratio is what the read could reach if
everything the service adds around its domain code (flask-smorest, marshmallow,
flask-login and the session, the request hooks) cost nothing; the gap between the two
is that framework cost (benchmarks/RESULTS.md §0l).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import wrk
from benchmarks.cpu_per_request import measure
from benchmarks.loader import loaded_database
from benchmarks.loadgen import Request
from benchmarks.scenarios import Bench
from tests.live_server import LiveServer

READS = ("hospital search", "hospital detail", "availability", "my bookings")
TARGETS = {"hospital search": 0.4, "hospital detail": 0.6, "availability": 0.6,
           "my bookings": 0.4}  # issue #13 item 9
APPS = {"domain only": ("benchmarks.domain_only_app:app", "/ping"),  # (app, ready path)
        "service": ("wsgi:app", "/api/health")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per scenario")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)
    if not wrk.available():
        raise SystemExit("wrk is not on PATH")
    workdir = Path(tempfile.mkdtemp(prefix="rapidcare-ceiling-"))
    database = str(workdir / "bench.sqlite3")
    conn, loader, now = loaded_database(database, args.bookings)
    bench = Bench(conn, loader, now=now, connections=16)
    print(f"{args.bookings:,} bookings loaded; {args.rounds} rounds of {args.duration:g} s "
          f"a scenario, {args.workers} sync workers, request logging on", flush=True)
    runs = {}
    try:
        for round_ in range(1, args.rounds + 1):
            with LiveServer(workdir, database=database, app="benchmarks.baseline_app:app",
                            ready_path="/", log_level=None, workers=args.workers) as server:
                runs.setdefault("ping", []).append(
                    measure(server, "ping", lambda i, n: Request("GET", "/"), args.duration))
            for variant, (app, ready) in APPS.items():
                with LiveServer(workdir, database=database, app=app, ready_path=ready,
                                log_level=None, workers=args.workers) as server:
                    for scenario in bench.read_scenarios():
                        if scenario.name in READS:
                            runs.setdefault((scenario.name, variant), []).append(
                                measure(server, scenario.name, scenario.factory, args.duration))
            print(f"round {round_} done, load average {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        conn.close()
        shutil.rmtree(workdir, ignore_errors=True)

    def medians(key):
        return (statistics.median(rps for rps, _ in runs[key]),
                statistics.median(cpu for _, cpu in runs[key]))

    ping_rps, ping_cpu = medians("ping")
    print(f"\nping: {ping_rps:,.0f} req/s, {ping_cpu:.0f} µs CPU/request (medians of "
          f"{args.rounds} rounds). Per read: req/s ÷ ping's, and µs of worker CPU per "
          "request (ping's ÷ this)")
    print(f"  {'read':<16} {'target':>6}  {'domain only':>28}  {'service':>28}  framework µs")
    for name in READS:
        cells = []
        for variant in APPS:
            rps, cpu = medians((name, variant))
            cells.append(f"{rps / ping_rps:4.2f} ({rps:6,.0f}) {cpu:6.0f} µs ({ping_cpu / cpu:.2f})")
        framework = medians((name, "service"))[1] - medians((name, "domain only"))[1]
        print(f"  {name:<16} {TARGETS[name]:>6}  {cells[0]:>28}  {cells[1]:>28}  {framework:6.0f}")


if __name__ == "__main__":
    sys.exit(main())
