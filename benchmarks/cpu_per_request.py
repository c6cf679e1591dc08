"""Worker CPU per request as deployed: this tree against another, beside the bare baseline.

    .venv/bin/python -m benchmarks.cpu_per_request --before /tmp/old-tree --rounds 3

``--before`` is another checkout of the project (``git archive <commit> | tar -x -C
DIR``); it runs on this tree's .venv. One database (10,000 bookings), then, round after
round so the machine's load falls on all of them alike: the bare Flask baseline, the
service of ``--before`` and the service of this tree, each under gunicorn as
scripts/serve starts it (request logging on), driven by wrk (-t2 -c10) for
``--duration`` seconds per read scenario. Printed: req/s and the workers' CPU time
per request (utime + stime from /proc: benchmarks/logging_ab.py), whose ratio to the
baseline's stays far steadier than the req/s ratio when other work shares the cores
(benchmarks/RESULTS.md §0d).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import wrk
from benchmarks.loader import loaded_database
from benchmarks.loadgen import Request
from benchmarks.logging_ab import cpu_seconds
from benchmarks.scenarios import Bench
from tests.live_server import ROOT, LiveServer

SCENARIOS = ("health", "hospital search", "hospital detail", "availability", "my bookings")


class TreeServer(LiveServer):
    """LiveServer, with gunicorn started in ``tree`` (so it imports that tree's app)."""

    def __init__(self, *args, tree, **kwargs):
        super().__init__(*args, **kwargs)
        self.tree = tree

    def start(self):
        self.migrate()
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--worker-class", "sync",
             "--graceful-timeout", "2", *self.gunicorn_args, self.app],
            cwd=self.tree, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self


def measure(server, name, factory, duration):
    wrk.run_wrk("warm-up", server.port, factory, duration=1.0)
    pids = server.worker_pids()
    before = cpu_seconds(pids)
    result = wrk.run_wrk(name, server.port, factory, duration=duration)
    if result.server_errors:
        raise SystemExit(f"{name}: {result.server_errors} 5xx")
    return result.rps, (cpu_seconds(pids) - before) / max(1, result.requests) * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="another checkout of the project")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    args = parser.parse_args(argv)
    if not wrk.available():
        raise SystemExit("wrk is not on PATH")
    trees = {"before": str(Path(args.before).resolve()), "after": str(ROOT)}
    workdir = Path(tempfile.mkdtemp(prefix="rapidcare-cpu-"))
    database = str(workdir / "bench.sqlite3")
    conn, loader, now = loaded_database(database, 10_000)
    bench = Bench(conn, loader, now=now, connections=16)
    runs = {}
    for round_ in range(1, args.rounds + 1):
        with TreeServer(workdir, database=database, app="benchmarks.baseline_app:app",
                        ready_path="/", log_level=None, tree=str(ROOT)) as server:
            runs.setdefault(("baseline", ""), []).append(
                measure(server, "baseline", lambda i, n: Request("GET", "/"), args.duration))
        for variant, tree in trees.items():
            with TreeServer(workdir, database=database, log_level=None, tree=tree) as server:
                bench.use_server(server.url)
                for scenario in bench.read_scenarios():
                    if scenario.name in SCENARIOS:
                        runs.setdefault((scenario.name, variant), []).append(
                            measure(server, scenario.name, scenario.factory, args.duration))
        print(f"round {round_} done, load average {os.getloadavg()[0]:.1f}", flush=True)
    conn.close()
    shutil.rmtree(workdir, ignore_errors=True)

    def medians(key):
        return (statistics.median(rps for rps, _ in runs[key]),
                statistics.median(cpu for _, cpu in runs[key]))

    base_rps, base_cpu = medians(("baseline", ""))
    print(f"\nbaseline: {base_rps:.0f} req/s, {base_cpu:.0f} µs CPU/request (medians of "
          f"{args.rounds}); per scenario: µs CPU/request (baseline's ÷ this), req/s (÷ baseline's)")
    for name in SCENARIOS:
        cells = []
        for variant in trees:
            rps, cpu = medians((name, variant))
            cells.append(f"{variant} {cpu:5.0f} µs ({base_cpu / cpu:.2f}) {rps:6.0f} req/s "
                         f"({rps / base_rps:.2f})")
        print(f"  {name:<16} " + "  |  ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
