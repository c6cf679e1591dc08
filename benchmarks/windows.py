"""Scheduled capacity at scale (issue #15 item 6): approve and windowed availability
over ~1M bookings, against the bare ping of the same run.

    python -m benchmarks.windows                          # 1,000,000 bookings, SQLite
    python -m benchmarks.windows --bookings 100000 --duration 5
    python -m benchmarks.windows --keep DIR               # build the database in DIR, keep it
    python -m benchmarks.windows --reuse DIR              # measure DIR's database again, no load
    python -m benchmarks.windows --database-url postgresql://postgres@127.0.0.1:5432/postgres

The data is the benchmark's (benchmarks/loader.py, the fast bulk path, not the HTTP
API): most bookings are completed, cancelled or declined history; 4 % are approved,
holding one unit each. The loader schedules every approved booking in the coming 40
days; a quarter of them are moved 40 days back here, so approved holds lie across
past windows (overstays nobody completed), windows that contain now, and future
windows, as in a hospital that does not always click "complete".

Then, on one gunicorn service (sync workers, request logging on, as deployed):
the bare Flask ping, availability now and over a 48-hour window, hospital search
(plain, with ``minAvailable`` now, with ``minAvailable`` over a window), approve
(one-time work: the Python client), and the ping again. wrk drives everything whose
requests may repeat (benchmarks/wrk.py), as benchmarks/run does. Every figure is
also printed as a ratio to the mean of the two pings. Before measuring, the plans of
the busiest-instant queries are printed (EXPLAIN QUERY PLAN / EXPLAIN): they must
read idx_bookings_holds, not scan the bookings.

With ``--database-url`` the SQLite database is copied into a scratch PostgreSQL
database (app.ops.copy_to_postgres, as benchmarks/run does) and the same scenarios
run against the service on it, after the SQLite ones.
"""
import argparse
import contextlib
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from app import migrator
from app.config import DEFAULTS
from app.db import connect, postgres, transaction
from app.timeutil import to_iso, utcnow
from benchmarks import wrk
from benchmarks.loader import Loader
from benchmarks.loadgen import Request, run_load
from benchmarks.postgres_side import ScratchDatabases
from benchmarks.scenarios import Bench
from tests.live_server import LiveServer

TARGETS = {"approve": 0.3, "availability window": 0.6}
SHIFT_DAYS = 40  # the loader's open bookings lie 1-40 days ahead: shifted, they meet none


def log(message):
    print(message, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.windows",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--hospitals", type=int, default=100)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--python-connections", type=int, default=16,
                        help="connections of the Python client (approve)")
    parser.add_argument("--scenarios", help="comma-separated names to run (default: all)")
    parser.add_argument("--database-url", metavar="URL",
                        help="also run on PostgreSQL (a server to create a scratch database on)")
    parser.add_argument("--postgres-only", action="store_true",
                        help="with --database-url and --reuse: measure only PostgreSQL")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--keep", metavar="DIR", help="build the database in DIR and keep it")
    where.add_argument("--reuse", metavar="DIR", help="measure the database --keep left in DIR")
    return parser.parse_args(argv)


def shift_some_holds_back(conn):
    """Every fourth approved booking SHIFT_DAYS earlier (its window, its day): approved
    holds in past windows, and in windows that contain now. Returns how many."""
    with transaction(conn):
        cursor = conn.execute(
            """
            UPDATE bookings SET
                scheduled_date = strftime('%Y-%m-%dT%H:%M:%S', scheduled_date, :shift)
                                 || substr(scheduled_date, 20),
                scheduled_end = strftime('%Y-%m-%dT%H:%M:%S', scheduled_end, :shift)
                                || substr(scheduled_end, 20),
                scheduled_day = date(scheduled_day, :shift)
            WHERE status = 'approved' AND id % 4 = 0
            """,
            {"shift": f"-{SHIFT_DAYS} days"},
        )
    return cursor.rowcount


def load(database, args, now):
    conn = connect(database)
    conn.execute("PRAGMA cache_size = -1000000")
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    loader = Loader(conn, now=now)
    loader.load_base(hospitals=args.hospitals, users=args.users)
    log(f"bulk load: {args.bookings:,} bookings ...")
    started = time.perf_counter()
    loader.load_bookings(args.bookings)
    shifted = shift_some_holds_back(conn)
    loader.finish()
    loader.seal()  # patient fields sealed, as the service stores them
    log(f"  {time.perf_counter() - started:.1f} s (patient fields sealed); {shifted:,} approved "
        f"holds moved {SHIFT_DAYS} days back")
    return conn, loader


class Reloaded:
    """What Bench needs of a Loader, read back from a database --keep left."""

    def __init__(self, conn):
        self.hospitals = conn.execute(
            """
            SELECT h.id, h.city, h.specialties, min(u.id) AS authority_id
            FROM hospitals AS h JOIN users AS u ON u.hospital_id = h.id
            GROUP BY h.id ORDER BY h.id
            """).fetchall()
        for hospital in self.hospitals:
            hospital["specialties"] = json.loads(hospital["specialties"])
        self.user_ids = [row["id"] for row in conn.execute(
            "SELECT id FROM users WHERE role = 'user' ORDER BY id").fetchall()]


def describe_data(conn, now):
    row = conn.execute(
        """
        SELECT count(*) AS bookings,
               sum(status IN ('completed', 'cancelled', 'declined')) AS history,
               sum(status = 'approved') AS approved,
               sum(status = 'approved' AND scheduled_end <= :now) AS approved_past,
               sum(status = 'approved' AND scheduled_date <= :now AND scheduled_end > :now)
                   AS approved_now,
               sum(status = 'approved' AND scheduled_date > :now) AS approved_future
        FROM bookings
        """, {"now": to_iso(now)}).fetchone()
    log(f"data: {row['bookings']:,} bookings, {row['history']:,} completed/cancelled/declined, "
        f"{row['approved']:,} approved ({row['approved_past']:,} windows past, "
        f"{row['approved_now']:,} containing now, {row['approved_future']:,} future)")


# The busiest-instant reads, as the service sends them (app.resources.queries).
def plans(conn, now):
    from app.resources import queries
    statements = getattr(queries, "busiest_instant_statements", None)
    if statements is None:  # a build from before this benchmark
        return {}
    start, end = to_iso(now + timedelta(days=3)), to_iso(now + timedelta(days=5))
    explain = "EXPLAIN QUERY PLAN" if conn.dialect == "sqlite" else "EXPLAIN"
    out = {}
    for name, sql, params in statements(conn, 1, "beds", start, end):
        rows = conn.execute(f"{explain} {sql}", params).fetchall()
        out[name] = [row.get("detail") or row.get("QUERY PLAN") for row in rows]
    return out


class Measure:
    def __init__(self, args, bench, now):
        self.args, self.bench, self.now = args, bench, now
        self.results = []  # (label, name, result)

    def wanted(self, name):
        return not self.args.scenarios or name in self.args.scenarios.split(",")

    def run(self, label, server, name, factory, *, repeatable=True, expected=(200,)):
        if not self.wanted(name) and not name.startswith("ping"):
            return
        args = self.args
        if repeatable and wrk.available():
            wrk.run_wrk("warm-up", server.port, factory, duration=1.0, expected=expected)
            result = wrk.run_wrk(name, server.port, factory, duration=args.duration,
                                 expected=expected)
            result.client = "wrk"
        else:
            result = run_load(name, server.port, factory, connections=args.python_connections,
                              duration=args.duration, processes=4, expected=expected)
            result.client = "python"
        self.results.append((label, name, result))
        log(f"  {name:<42} {result.rps:8.1f} req/s  p50 {result.percentile(50):7.2f} ms  "
            f"p99 {result.percentile(99):7.2f} ms  statuses {dict(result.statuses)}  "
            f"[{result.client}]")
        for sample in result.samples[:2]:
            log(f"      e.g. {sample}")

    def scenarios(self):
        bench, now = self.bench, self.now
        ids = bench.hospital_ids
        terms = [quote(term) for term in bench.search_terms]

        def window(k):  # 48 hours starting 1-30 days ahead, on the hour
            start = (now + timedelta(days=1 + k % 30)).replace(minute=0, second=0, microsecond=0)
            return quote(to_iso(start)), quote(to_iso(start + timedelta(hours=48)))

        def availability_window(i, n):
            k = i * 17 + n
            start, end = window(k)
            return Request("GET", f"/api/hospital-resources/{ids[k % len(ids)]}/beds/"
                                  f"availability?from={start}&to={end}", kind="read")

        def search_min_now(i, n):
            k = i * 7 + n
            return Request("GET", f"/api/hospitals?q={terms[k % len(terms)]}"
                                  f"&resourceType=beds&minAvailable={50 + k % 200}", kind="read")

        def search_min_window(i, n):
            k = i * 7 + n
            start, end = window(k)
            return Request("GET", f"/api/hospitals?q={terms[k % len(terms)]}&resourceType=beds"
                                  f"&minAvailable={50 + k % 200}&from={start}&to={end}",
                           kind="read")

        return [
            ("availability now", bench.availability()),
            ("availability window", availability_window),
            ("search", bench.search()),
            ("search minAvailable now", search_min_now),
            ("search minAvailable window", search_min_window),
        ]

    def all(self, label, database, database_url=None):
        args = self.args
        workdir = Path(database).parent
        env = {"RAPIDCARE_BOOKING_RATE_LIMIT": "0"}
        with LiveServer(workdir, workers=args.workers, app="benchmarks.baseline_app:app",
                        ready_path="/", database=database, log_level=None, env=env) as ping:
            self.run(label, ping, "ping (before)", lambda i, n: Request("GET", "/"))
        instance = workdir / "postgres-instance.sqlite3"
        with LiveServer(workdir, workers=args.workers, log_level=None, env=env,
                        database=str(instance) if database_url else database,
                        database_url=database_url) as server:
            self.bench.use_server(server.url)
            for name, factory in self.scenarios():
                self.run(label, server, name, factory)
            if self.wanted("approve"):
                pool = self.bench.pending_pool(int(args.duration * 2000))
                self.run(label, server, "approve", self.bench.approve(pool),
                         repeatable=False)
        with LiveServer(workdir, workers=args.workers, app="benchmarks.baseline_app:app",
                        ready_path="/", database=database, log_level=None, env=env) as ping:
            self.run(label, ping, "ping (after)", lambda i, n: Request("GET", "/"))

    def report(self):
        log("\n| backend | scenario | req/s | p50 ms | p99 ms | ÷ ping | target | client |")
        log("|---|---|---|---|---|---|---|---|")
        for label in dict.fromkeys(label for label, _, _ in self.results):
            mine = [(name, r) for lab, name, r in self.results if lab == label]
            pings = [r.rps for name, r in mine if name.startswith("ping")]
            ping = sum(pings) / len(pings)
            for name, r in mine:
                target = TARGETS.get(name)
                verdict = "" if target is None else (
                    f"{target} ({'met' if r.rps / ping >= target else 'not met'})")
                log(f"| {label} | {name} | {r.rps:,.0f} | {r.percentile(50):.1f} | "
                    f"{r.percentile(99):.1f} | {r.rps / ping:.2f} | {verdict} | {r.client} |")


def main(argv=None):
    args = parse_args(argv)
    now = utcnow()
    with contextlib.ExitStack() as stack:
        if args.reuse:
            workdir = Path(args.reuse)
        elif args.keep:
            workdir = Path(args.keep)
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rc-windows-")))
        database = str(workdir / "bench.sqlite3")
        if args.reuse:
            conn = connect(database)
            # migrations newer than the database first, so the plans printed below are
            # those the service (which would apply them as it starts) is measured with
            migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=log)
            loader = Reloaded(conn)
        else:
            conn, loader = load(database, args, now)
        describe_data(conn, now)
        for name, plan in plans(conn, now).items():
            log(f"plan of {name} (SQLite):")
            for line in plan:
                log(f"    {line}")
        bench = Bench(conn, loader, now=now, connections=args.python_connections)
        measure = Measure(args, bench, now)
        if not args.postgres_only:
            log(f"\nSQLite, {args.workers} gunicorn sync workers, {args.duration:g} s per "
                f"scenario")
            measure.all("SQLite", database)
        if args.database_url:
            scratch = ScratchDatabases(args.database_url, log=log)
            stack.callback(scratch.drop_all)
            url = scratch.copy_from_sqlite(database, "windows")
            pg_conn = postgres.connect(url, DEFAULTS)
            for name, plan in plans(pg_conn, now).items():
                log(f"plan of {name} (PostgreSQL):")
                for line in plan:
                    log(f"    {line}")
            pg_bench = Bench(pg_conn, loader, now=now, connections=args.python_connections)
            pg_measure = Measure(args, pg_bench, now)
            pg_measure.results = measure.results
            log(f"\nPostgreSQL, {args.workers} gunicorn sync workers")
            pg_measure.all("PostgreSQL", database, database_url=url)
            pg_conn.close()
        conn.close()
        measure.report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
