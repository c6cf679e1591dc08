"""The benchmark: one command, one temporary database, one table of figures.

    benchmarks/run                                  # full size: 1,000,000 bookings
    benchmarks/run --bookings 100000 --duration 5   # a quicker pass while iterating

Steps: migrate a temporary database; bulk-load hospitals, users and the first
``--small-bookings`` bookings; measure the bare Flask baseline and the read
endpoints; load the rest up to ``--bookings`` (printing rows/s); measure the
baseline and the reads again (cost growth, each phase also against the baseline
measured right before it), then the writes, then the write-contention mix;
measure the baseline a last time; check every invariant on the final data.

Every measurement uses the same gunicorn settings (sync workers, ``--workers``),
started as scripts/serve starts the service: request logging on (the service's
default, INFO: one JSON line per request). Each read phase runs twice, logging on
(as deployed) and logging off (RAPIDCARE_LOG_LEVEL=WARNING), and the table shows
both. The baseline and the reads are driven by wrk (benchmarks/wrk.py) when
``wrk`` is on PATH: 2 threads, 10 connections, wrk's defaults; otherwise, and
always for the writes and the mix (their work must not repeat), by the Python
client (``--connections`` connections from ``--processes`` client processes).
127.0.0.1 only, ``--duration`` seconds per scenario. Every figure is also printed
as a ratio to the baseline of the same run, because the absolute numbers depend
on whatever else the machine is doing. Any 5xx fails the run (exit status 1).

With ``--database-url postgresql://user@host:port/dbname`` (the server to create
scratch databases on; its own database is only used to administer them) every
scenario also runs on PostgreSQL, in the same run, against the same baseline: after
each load the SQLite database is copied into a fresh PostgreSQL database with
``app.ops.copy_to_postgres.copy`` (what ``flask db copy-to-postgres`` runs), the
service is started on it (RAPIDCARE_DATABASE_URL) and the same reads are measured;
the writes and the mix get their work pools (pending bookings, payable bookings)
from the PostgreSQL data and run with one app instance and with two (two gunicorn
masters, two ports, one database, the Python client's connections split between
them). Around each PostgreSQL write the run reads the database's commits and
rollbacks (pg_stat_database) and the CPU time of its backends (/proc), for writes
per second per database core. The scratch databases are dropped at the end.
"""
import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from app import migrator
from app.config import DEFAULTS
from app.db import connect, postgres
from app.ops import invariants
from app.timeutil import utcnow
from benchmarks import wrk
from benchmarks.loader import Loader
from benchmarks.loadgen import Request, run_load
from benchmarks.postgres_side import Counters, ScratchDatabases, conflicts_in_log
from benchmarks.scenarios import Bench
from tests.live_server import LiveServer

# issue #14 item 8: PostgreSQL, req/s as a ratio to the bare Flask ping of the same run
TARGETS = {"availability": 0.6, "hospital detail": 0.6, "hospital search": 0.4,
           "my bookings": 0.4, "create booking": 0.3, "approve booking": 0.3,
           "wallet payment": 0.3}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=1_000_000, help="final data size")
    parser.add_argument("--small-bookings", type=int, default=10_000,
                        help="size of the first read measurement (cost growth)")
    parser.add_argument("--hospitals", type=int, default=100)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--mix-duration", type=float, default=20.0,
                        help="seconds of the write-contention mix")
    parser.add_argument("--client", default="auto", choices=("auto", "wrk", "python"),
                        help="load client of the baseline and the reads (auto: wrk when on PATH)")
    parser.add_argument("--connections", type=int, default=None,
                        help=f"connections (default: {wrk.DEFAULT_CONNECTIONS} for wrk, "
                             "as wrk's own default, 16 for the Python client)")
    parser.add_argument("--wrk-threads", type=int, default=wrk.DEFAULT_THREADS)
    parser.add_argument("--python-connections", type=int, default=16,
                        help="connections of the Python client (writes, mix, or --client python)")
    parser.add_argument("--processes", type=int, default=4, help="load client processes")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"),
                        help="gunicorn worker class for every server of the run")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--batch-size", type=int, default=20_000,
                        help="bookings per bulk-load transaction")
    parser.add_argument("--synchronous", default="NORMAL", choices=("NORMAL", "FULL"),
                        help="RAPIDCARE_SQLITE_SYNCHRONOUS of the service")
    parser.add_argument("--database-url", metavar="URL",
                        help="also run every scenario on PostgreSQL: the server to create scratch "
                             "databases on, e.g. postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--postgres-log", metavar="PATH",
                        help="with --database-url: the server's log file, to count its "
                             "serialization failures by statement (where writes collide)")
    parser.add_argument("--keep", metavar="DIR",
                        help="build the database in DIR and keep it (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    args.small_bookings = min(args.small_bookings, args.bookings)
    if args.client == "auto":
        args.client = "wrk" if wrk.available() else "python"
    elif args.client == "wrk" and not wrk.available():
        parser.error("--client wrk: wrk is not on PATH (apt-get install wrk)")
    if args.client == "python":  # one client for everything: --connections is its count
        args.python_connections = args.connections or args.python_connections
    if args.connections is None:
        args.connections = (wrk.DEFAULT_CONNECTIONS if args.client == "wrk"
                            else args.python_connections)
    return args


def log(message):
    print(message, flush=True)


class Run:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = Path(workdir)
        self.database = str(self.workdir / "bench.sqlite3")
        self.results = []  # (phase, bookings, Result)
        self.baselines = {}  # phase -> Result: measured again around each read phase
        self.notes = []
        self.failed_5xx = []
        self.logging_off = {}  # (phase, scenario name) -> Result of the logging-off server
        # the same on PostgreSQL (--database-url); its writes and mixes also under the phases
        # "2 instances", "mix" and "mix, 2 instances"
        self.pg = ScratchDatabases(args.database_url, log=log) if args.database_url else None
        self.pg_results = []
        self.pg_logging_off = {}
        self.pg_counters = {}  # (phase, scenario name) -> Counters.result
        self.pg_mix = {}  # instances -> Result
        self.pg_read_cpu = {}  # (phase, scenario name) -> Counters.result (CPU only)
        self.pg_database_name = None  # the database of the writes (for --postgres-log)
        self.pg_database_size = 0  # bytes, read at the end
        self.started_at = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())  # the log's clock: UTC

    # --- servers --------------------------------------------------------------------------

    def server(self, app="wsgi:app", ready_path="/api/health", *, logging_on=True,
               database_url=None, instance=1):
        """The service as scripts/serve starts it (log level left at the default, INFO),
        or with request logging off (WARNING) for the side-by-side column. With
        ``database_url``: on that PostgreSQL database."""
        database = self.database
        if database_url:
            # on PostgreSQL the SQLite path only names the instance lock and the metrics
            # directory (app/ops/server.py): one per instance, so two can serve side by side
            database = str(self.workdir / f"postgres-instance-{instance}.sqlite3")
        return LiveServer(self.workdir, workers=self.args.workers, database=database,
                          database_url=database_url,
                          app=app, ready_path=ready_path, gunicorn_args=self.gunicorn_args(),
                          log_level=None if logging_on else "WARNING",
                          env={
                              "RAPIDCARE_BOOKING_RATE_LIMIT": "0",
                              "RAPIDCARE_SQLITE_SYNCHRONOUS": self.args.synchronous,
                          })

    def gunicorn_args(self):
        if self.args.worker_class == "gthread":
            return ["--worker-class", "gthread", "--threads", str(self.args.threads)]
        return []  # LiveServer's default: sync workers

    def drive(self, name, server, factory, *, duration, expected, repeatable):
        """wrk for requests that may repeat (baseline, reads) when --client wrk; else Python."""
        args = self.args
        if repeatable and args.client == "wrk":
            return wrk.run_wrk(name, server.port, factory, connections=args.connections,
                               threads=args.wrk_threads, duration=duration, expected=expected)
        result = run_load(name, server.port, factory, connections=args.python_connections,
                          duration=duration, processes=args.processes, expected=expected)
        result.client = "python"
        return result

    def measure(self, phase, bookings, server, name, factory, *, duration=None, expected=(200,),
                warmup=True, repeatable=True, logging_on=True, postgres=False, counters=None):
        """``counters``: a postgres_side.Counters to read the CPU of the measurement with."""
        args = self.args
        if warmup:  # fill caches and open connections; not counted
            self.drive("warm-up", server, factory, duration=1.0, expected=expected,
                       repeatable=repeatable)
        if counters:
            counters.start()
        result = self.drive(name, server, factory, duration=duration or args.duration,
                            expected=expected, repeatable=repeatable)
        if counters:
            counters.measured()
        results, logging_off = ((self.pg_results, self.pg_logging_off) if postgres
                                else (self.results, self.logging_off))
        if logging_on:
            results.append((phase, bookings, result))
        else:
            logging_off[(phase, name)] = result
            name = f"{name} (logging off)"
        if postgres:
            name = f"{name} [PostgreSQL]"
        if result.server_errors:
            self.failed_5xx.append(f"{phase}: {name}: {result.server_errors} 5xx")
        unexpected = {s: n for s, n in result.statuses.items() if s not in expected}
        log(f"  {name:<40} {result.rps:8.1f} req/s  p50 {result.percentile(50):7.2f} ms  "
            f"p99 {result.percentile(99):7.2f} ms  max {result.max():8.2f} ms"
            + (f"  unexpected {unexpected}" if unexpected else "")
            + (f"  connection errors {result.connection_errors}" if result.connection_errors else "")
            + ("  (work pool ran out early)" if result.exhausted else "")
            + f"  [{result.client}]")
        for sample in result.samples[:2]:
            log(f"      e.g. {sample}")
        return result

    def baseline(self, phase):
        with self.server(app="benchmarks.baseline_app:app", ready_path="/") as server:
            result = self.measure(phase, None, server, f"baseline ({phase})",
                                  lambda i, n: Request("GET", "/"))
        self.baselines[phase] = result
        return result

    # --- the run ----------------------------------------------------------------------------

    def main(self):
        args = self.args
        now = utcnow()
        conn = connect(self.database)
        conn.execute("PRAGMA cache_size = -1000000")  # the loader's own connection: 1 GB of cache
        migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
        loader = Loader(conn, now=now, batch_size=args.batch_size)
        log(f"database: {self.database}")
        log(f"loading {args.hospitals} hospitals, {args.users} users (funded wallets) ...")
        loader.load_base(hospitals=args.hospitals, users=args.users)
        self.load(loader, args.small_bookings)

        client = (f"wrk ({wrk.version()}), {args.wrk_threads} threads, {args.connections} "
                  f"connections" if args.client == "wrk"
                  else f"Python client, {args.connections} connections")
        log(f"\nload client of the baseline and the reads: {client}; writes and the mix: Python "
            f"client, {args.python_connections} connections")
        log(f"baseline: bare Flask app, gunicorn {args.workers} {args.worker_class} workers, "
            f"{args.duration:g} s")
        self.baseline("start")

        # the writes' work is split between the Python client's connections
        bench = Bench(conn, loader, now=now, connections=args.python_connections)
        # copied after the Bench minted its tokens: the PostgreSQL copy holds them too, so the
        # reads there send the very same requests
        pg_url = self.copy_to_postgres("small") if self.pg else None
        log(f"\nreads at {args.small_bookings:,} bookings")
        self.reads(bench, "small", args.small_bookings)
        if pg_url:
            log(f"\nreads at {args.small_bookings:,} bookings, PostgreSQL")
            self.reads(bench, "small", args.small_bookings, database_url=pg_url)

        if args.bookings > args.small_bookings:
            self.load(loader, args.bookings - args.small_bookings)
            if pg_url:  # the copy goes into an empty database only: a fresh one for the full size
                self.pg.drop(pg_url)
                pg_url = self.copy_to_postgres("full")
            log("\nbaseline again, right before the second read phase")
            self.baseline("after load")
            log(f"\nreads at {args.bookings:,} bookings")
            self.reads(bench, "full", args.bookings)
            if pg_url:
                log(f"\nreads at {args.bookings:,} bookings, PostgreSQL")
                self.reads(bench, "full", args.bookings, database_url=pg_url)
        log(f"\nwrites at {args.bookings:,} bookings")
        self.writes(bench, args.bookings)
        if pg_url:
            log(f"\nwrites at {args.bookings:,} bookings, PostgreSQL, one and two app instances")
            self.postgres_writes(pg_url, loader, now, args.bookings)

        log("\nbaseline again (drift check)")
        self.baseline("end")

        log("\ninvariants on the final data ...")
        started = time.perf_counter()
        violations = invariants.check_all(conn)
        conn.close()
        log(f"  {'all hold' if not violations else 'VIOLATED'} "
            f"({time.perf_counter() - started:.1f} s)")
        for violation in violations:
            log(f"  - {violation}")
        if pg_url:
            started = time.perf_counter()
            pg_conn = postgres.connect(pg_url, DEFAULTS)
            pg_violations = invariants.check_all(pg_conn)
            pg_conn.close()
            self.pg_database_size = self.pg.size(pg_url)
            log(f"  PostgreSQL: {'all hold' if not pg_violations else 'VIOLATED'} "
                f"({time.perf_counter() - started:.1f} s)")
            for violation in pg_violations:
                log(f"  - PostgreSQL: {violation}")
            violations = violations + pg_violations
        self.report(loader)
        if self.pg:
            self.report_postgres()
        for failure in self.failed_5xx:
            log(f"FAILED: {failure}")
        return 1 if violations or self.mix_failed or self.failed_5xx else 0

    def load(self, loader, count):
        before = loader.table_rows()
        log(f"bulk load: {count:,} bookings in batches of {loader.batch_size:,} "
            f"(one transaction each; booking triggers and secondary indexes off, rebuilt after) ...")
        insert_before, rebuild_before = loader.insert_seconds, loader.rebuild_seconds

        def progress(done, total, seconds):
            if done == total or done % (loader.batch_size * 10) == 0:
                log(f"  {done:>9,} / {total:,}  {done / seconds:8.0f} bookings/s")

        seconds = loader.load_bookings(count, progress=progress)
        finish_started = time.perf_counter()
        loader.finish()
        finishing = time.perf_counter() - finish_started
        sealing = loader.seal()  # patient fields sealed, as the service stores them
        seconds += finishing + sealing
        after = loader.table_rows()
        rows = sum(after.values()) - sum(before.values())
        line = (f"bulk load: {count:,} bookings, {rows:,} rows in all tables (history, "
                f"notifications, payments, ledger included) in {seconds:.1f} s = "
                f"{count / seconds:,.0f} bookings/s, {rows / seconds:,.0f} rows/s end to end")
        inserting = loader.insert_seconds - insert_before
        # this call's phases only (the loader's counters add up over every call); kept in the
        # notes right under their own load's line, so the report cannot pair them with another
        phases = (f"  of which (this {count:,}-booking load): insert phase {inserting:.1f} s = "
                  f"{rows / inserting:,.0f} rows/s, index/trigger rebuild "
                  f"{loader.rebuild_seconds - rebuild_before:.1f} s, finish (counters, ANALYZE) "
                  f"{finishing:.1f} s, sealing the patient fields {sealing:.1f} s")
        self.notes += [line, phases]
        log(line)
        log(phases)
        log("  " + ", ".join(f"{table} {n:,}" for table, n in after.items()))

    def reads(self, bench, phase, bookings, database_url=None):
        for logging_on in (True, False):  # as deployed, then request logging off
            with self.server(logging_on=logging_on, database_url=database_url) as server:
                bench.use_server(server.url)
                for scenario in bench.read_scenarios():
                    if not bench.available(scenario):
                        self.skip(phase, scenario.name, bench.missing(scenario))
                        continue
                    counters = None
                    if database_url and logging_on:  # where the CPU of a read goes
                        counters = Counters(self.pg, database_url, app_pids=server.worker_pids)
                        self.pg_read_cpu[(phase, scenario.name)] = counters.result
                    self.measure(phase, bookings, server, scenario.name, scenario.factory,
                                 logging_on=logging_on, postgres=database_url is not None,
                                 counters=counters)

    def writes(self, bench, bookings):
        args = self.args
        # enough one-time work for the fastest plausible rate over the whole duration (at 600/s
        # the approval pool of the 2026-11-22 reference run ran out before its 5 s were up)
        pool = int(args.duration * 2000)
        with self.server() as server:
            bench.use_server(server.url)
            for scenario in bench.write_scenarios(pool):
                if not bench.available(scenario):
                    self.skip("full", scenario.name, bench.missing(scenario))
                    continue
                self.measure("full", bookings, server, scenario.name, scenario.factory,
                             expected=scenario.expected, warmup=False, repeatable=False)
            write_names, read_names, factory, expected = bench.mix(int(args.mix_duration * 400))
            log(f"\nwrite-contention mix, {args.mix_duration:g} s: writes {', '.join(write_names)}; "
                f"reads {', '.join(read_names)}")
            self.mix_result = self.measure("mix", bookings, server, "mixed load", factory,
                                           duration=args.mix_duration, expected=expected,
                                           warmup=False, repeatable=False)

    # --- PostgreSQL (--database-url) --------------------------------------------------------

    def copy_to_postgres(self, label):
        log(f"\ncopying the SQLite database into a fresh PostgreSQL database ({label}) ...")
        return self.pg.copy_from_sqlite(self.database, label)

    def instances(self, stack, url, count):
        """``count`` services on the PostgreSQL database at ``url``, each its own gunicorn
        master on its own port; returns the object ``measure`` drives (all their ports)."""
        servers = [stack.enter_context(self.server(database_url=url, instance=n + 1))
                   for n in range(count)]
        return Instances(servers)

    def postgres_writes(self, url, loader, now, bookings):
        """The writes, then the mix, on one app instance and on two, each scenario on servers
        of its own: the database's commit counters are complete only once its backends have
        exited (postgres_side.Counters)."""
        args = self.args
        conn = postgres.connect(url, DEFAULTS)
        own = [conn.raw.info.backend_pid]  # not the service's: left out of the database's CPU
        self.pg_database_name = url.rsplit("/", 1)[1]
        # its pools come from the PostgreSQL data, which no SQLite write has touched
        bench = Bench(conn, loader, now=now, connections=args.python_connections)
        counts = conn.execute(
            """
            SELECT (SELECT count(*) FROM bookings WHERE status = 'pending'
                    AND resource_type = 'beds') AS pending,
                   (SELECT count(*) FROM bookings AS b JOIN transactions AS t
                    ON t.booking_id = b.id AND t.status = 'pending'
                    WHERE b.status = 'approved') AS payable
            """).fetchone()
        # four runs draw on the one-time work (the writes on one and on two instances, the mix
        # on one and on two): a share each, so the later runs do not find the pools empty
        share = min(int(args.duration * 2000), min(counts["pending"], counts["payable"]) // 4)
        log(f"  work pools: {counts['pending']:,} pending bed bookings, {counts['payable']:,} "
            f"payable; {share:,} of each per run")
        for count in (1, 2):
            phase = "full" if count == 1 else "2 instances"
            for scenario in bench.write_scenarios(share):
                with contextlib.ExitStack() as stack:
                    servers = self.instances(stack, url, count)
                    bench.use_server(servers.url)
                    if not bench.available(scenario):
                        self.skip(phase, scenario.name, bench.missing(scenario))
                        continue
                    counters = Counters(self.pg, url, app_pids=servers.worker_pids, ignore_pids=own)
                    counters.start()
                    self.measure(phase, bookings, servers, f"{scenario.name}{servers.label}",
                                 scenario.factory, expected=scenario.expected, warmup=False,
                                 repeatable=False, postgres=True)
                    counters.measured()
                self.pg_counters[(phase, scenario.name)] = counters.finish()
        for count in (1, 2):
            with contextlib.ExitStack() as stack:
                servers = self.instances(stack, url, count)
                bench.use_server(servers.url)
                write_names, read_names, factory, expected = bench.mix(
                    min(int(args.mix_duration * 400), share))
                log(f"\nwrite-contention mix on PostgreSQL{servers.label}, {args.mix_duration:g} s: "
                    f"writes {', '.join(write_names)}; reads {', '.join(read_names)}")
                counters = Counters(self.pg, url, app_pids=servers.worker_pids, ignore_pids=own)
                counters.start()
                phase = "mix" if count == 1 else "mix, 2 instances"
                self.pg_mix[count] = self.measure(
                    phase, bookings, servers, f"mixed load{servers.label}", factory,
                    duration=args.mix_duration, expected=expected, warmup=False,
                    repeatable=False, postgres=True)
                counters.measured()
            self.pg_counters[(phase, "mixed load")] = counters.finish()
        conn.close()

    def skip(self, phase, name, missing):
        note = f"{name}: not measurable in this build, endpoint missing: {', '.join(missing)}"
        if note not in self.notes:
            self.notes.append(note)
        log(f"  {name:<28} SKIPPED (endpoint not merged yet: {', '.join(missing)})")

    @property
    def mix_failed(self):
        mixes = [getattr(self, "mix_result", None), *self.pg_mix.values()]
        return any(result is not None and (result.server_errors or result.locked)
                   for result in mixes)

    # --- the table ------------------------------------------------------------------------

    def report(self, loader):
        args = self.args
        baselines = [r for phase, _, r in self.results if r.name.startswith("baseline")]
        base_rps = sum(r.rps for r in baselines) / len(baselines)
        base_p50 = sum(r.percentile(50) for r in baselines) / len(baselines)
        base_p99 = sum(r.percentile(99) for r in baselines) / len(baselines)
        log("\n" + "=" * 118)
        workers = (f"{args.workers} gthread workers x {args.threads} threads"
                   if args.worker_class == "gthread" else f"{args.workers} sync workers")
        client = (f"wrk -t{args.wrk_threads} -c{args.connections}" if args.client == "wrk"
                  else f"Python client {args.connections} connections")
        log(f"RESULTS  {time.strftime('%Y-%m-%d')}  {os.cpu_count()} cores  gunicorn {workers}  "
            f"reads: {client}  writes/mix: Python client {args.python_connections} connections  "
            f"{args.duration:g} s per scenario  synchronous={args.synchronous}  "
            f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        log("request logging on (as scripts/serve runs it) in every row; 'off÷base': the same "
            "read with RAPIDCARE_LOG_LEVEL=WARNING, in the same run")
        log(f"baseline (bare Flask, mean of {len(baselines)} runs): {base_rps:.1f} req/s, "
            f"p50 {base_p50:.2f} ms, p99 {base_p99:.2f} ms   "
            f"(runs: {', '.join(f'{r.rps:.0f}' for r in baselines)} req/s)")
        header = (f"{'scenario':<28}{'bookings':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
                  f"{'max ms':>9}{'req/s÷base':>12}{'p50÷base':>10}{'p99÷base':>10}"
                  f"{'off÷base':>10}  non-2xx")
        log(header)
        log("-" * len(header))
        for phase, bookings, r in self.results:
            if r.name.startswith("baseline") or phase not in ("small", "full"):
                continue
            self._row(r, bookings, base_rps, base_p50, base_p99, self.logging_off.get((phase, r.name)))
        growth = self._growth()
        if growth:
            # each phase against the baseline measured right before it: the machine's load
            # changes between phases, the ratio to the baseline much less
            before_small = self.baselines["start"].percentile(50)
            before_full = self.baselines["after load"].percentile(50)
            log(f"\ncost growth of reads, {args.small_bookings:,} -> {args.bookings:,} bookings "
                f"(baseline p50 before each phase: {before_small:.2f} / {before_full:.2f} ms)")
            log(f"{'scenario':<28}{'p50 small':>11}{'p50 full':>10}{'ratio':>8}"
                f"{'ratio÷base':>12}{'req/s small':>13}{'req/s full':>12}")
            for name, small, full in growth:
                raw = full.percentile(50) / small.percentile(50)
                log(f"{name:<28}{small.percentile(50):>11.2f}{full.percentile(50):>10.2f}"
                    f"{raw:>8.2f}{raw / (before_full / before_small):>11.2f}x"
                    f"{small.rps:>13.1f}{full.rps:>12.1f}")
        mix = getattr(self, "mix_result", None)
        if mix is not None:
            log(f"\nwrite-contention mix ({args.mix_duration:g} s, {args.python_connections} connections, "
                f"{args.workers} workers): {mix.requests:,} requests, {mix.rps:.1f} req/s")
            for kind in sorted(mix.latencies_ms):
                log(f"  {kind:<10} n={len(mix.latencies_ms[kind]):>6}  p50 {mix.percentile(50, kind):7.2f} ms"
                    f"  p99 {mix.percentile(99, kind):7.2f} ms  max {mix.max(kind):8.2f} ms")
            log(f"  5xx: {mix.server_errors}   'database is locked'/busy: {mix.locked}   "
                f"connection errors: {mix.connection_errors}   statuses: {dict(sorted(mix.statuses.items()))}")
        log("")
        for note in self.notes:
            log(note)

    def report_postgres(self):
        """The PostgreSQL column: its table, side by side with SQLite against the targets of
        issue #14 item 8, the writes on one and two instances with the database's own
        figures, and the mixes."""
        args = self.args
        baselines = [r for phase, _, r in self.results if r.name.startswith("baseline")]
        base_rps = sum(r.rps for r in baselines) / len(baselines)
        base_p50 = sum(r.percentile(50) for r in baselines) / len(baselines)
        base_p99 = sum(r.percentile(99) for r in baselines) / len(baselines)
        facts = self.pg.server_facts()
        pool = int(DEFAULTS["POSTGRES_POOL_SIZE"])
        log("\n" + "=" * 118)
        log(f"PostgreSQL {facts['server_version']} on the same machine (max_connections "
            f"{facts['max_connections']}, shared_buffers {facts['shared_buffers']}, "
            f"synchronous_commit {facts['synchronous_commit']}, fsync {facts['fsync']}); "
            f"pool {pool} per worker x {args.workers} workers = {pool * args.workers} connections "
            f"per instance at most; final database size "
            f"{self.pg_database_size / 2**20:,.0f} MB; same baseline as above")
        header = (f"{'scenario':<28}{'bookings':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
                  f"{'max ms':>9}{'req/s÷base':>12}{'p50÷base':>10}{'p99÷base':>10}"
                  f"{'off÷base':>10}  non-2xx")
        log(header)
        log("-" * len(header))
        for phase, bookings, r in self.pg_results:
            if phase not in ("small", "full"):
                continue
            self._row(r, bookings, base_rps, base_p50, base_p99,
                      self.pg_logging_off.get((phase, r.name)))

        sqlite = {(phase, r.name): r for phase, _, r in self.results}
        pg = {(phase, r.name): r for phase, _, r in self.pg_results}
        log("\nside by side, req/s ÷ baseline (request logging on); targets of issue #14 item 8 "
            "are for PostgreSQL")
        log(f"{'scenario':<28}{'phase':>7}{'SQLite':>9}{'PostgreSQL':>12}{'PG 2 inst.':>12}"
            f"{'target':>8}  {'PostgreSQL':<12}{'DB ms/req':>10}{'app ms/req':>11}")
        for phase, name in pg:
            if phase not in ("small", "full"):
                continue
            target = TARGETS.get(name)
            two = pg.get(("2 instances", f"{name}, 2 instances"))
            lite = sqlite.get((phase, name))
            r = pg[phase, name]
            ratio = r.rps / base_rps
            verdict = ("" if target is None else "met" if max(ratio, two.rps / base_rps if two else 0)
                       >= target else "MISSED")
            cpu = self.pg_read_cpu.get((phase, name)) or self.pg_counters.get((phase, name)) or {}
            db_ms = f"{1000 * cpu['db_cpu'] / r.requests:.2f}" if cpu and r.requests else "-"
            app_ms = f"{1000 * cpu['app_cpu'] / r.requests:.2f}" if cpu and r.requests else "-"
            log(f"{name:<28}{phase:>7}"
                f"{(f'{lite.rps / base_rps:.2f}' if lite else '-'):>9}{ratio:>12.2f}"
                f"{(f'{two.rps / base_rps:.2f}' if two else '-'):>12}"
                f"{(f'{target:.1f}' if target else '-'):>8}  {verdict:<12}{db_ms:>10}{app_ms:>11}")

        log("\nPostgreSQL writes: one and two app instances on one database; the database's "
            "CPU is its backends' (from /proc), commits and rollbacks from pg_stat_database")
        log(f"{'scenario':<30}{'inst.':>6}{'req/s':>9}{'÷base':>7}{'2xx':>8}{'DB CPU s':>10}"
            f"{'DB ms/req':>10}{'req per DB core-s':>19}{'app ms/req':>11}{'commits/req':>12}"
            f"{'rollbacks':>10}")
        for (phase, name), counters in self.pg_counters.items():
            instances = 2 if "2 instances" in phase else 1
            r = pg.get((phase, name if instances == 1 else f"{name}, 2 instances"))
            if r is None:
                continue
            ok = sum(n for status, n in r.statuses.items() if 200 <= status < 300)
            db_cpu = counters["db_cpu"]
            per_request = 1000 * db_cpu / r.requests if r.requests else float("nan")
            per_core = r.requests / db_cpu if db_cpu else float("nan")
            log(f"{name:<30}{instances:>6}{r.rps:>9.1f}{r.rps / base_rps:>7.2f}{ok:>8}"
                f"{db_cpu:>10.2f}{per_request:>10.2f}{per_core:>19.0f}"
                f"{1000 * counters['app_cpu'] / max(r.requests, 1):>11.2f}"
                f"{counters['commits'] / max(r.requests, 1):>12.2f}{counters['rollbacks']:>10}"
                + ("" if counters["stats_complete"] else "  (backends still open: counts partial)"))
        for count, mix in self.pg_mix.items():
            log(f"\nwrite-contention mix on PostgreSQL, {count} instance(s) ({args.mix_duration:g} s, "
                f"{args.python_connections} connections, {args.workers} workers each): "
                f"{mix.requests:,} requests, {mix.rps:.1f} req/s")
            for kind in sorted(mix.latencies_ms):
                log(f"  {kind:<10} n={len(mix.latencies_ms[kind]):>6}  p50 {mix.percentile(50, kind):7.2f} ms"
                    f"  p99 {mix.percentile(99, kind):7.2f} ms  max {mix.max(kind):8.2f} ms")
            log(f"  5xx: {mix.server_errors}   503 busy: {mix.locked}   "
                f"connection errors: {mix.connection_errors}   statuses: {dict(sorted(mix.statuses.items()))}")
            for sample in mix.samples[:3]:
                log(f"  e.g. {sample}")
        if args.postgres_log and self.pg_database_name:
            conflicts = conflicts_in_log(args.postgres_log, self.pg_database_name, self.started_at)
            log(f"\nserialization failures and deadlocks in {args.postgres_log} for "
                f"{self.pg_database_name} (the writes and mixes; each one a retry or a 503): "
                f"{sum(n for n, _, _ in conflicts)}")
            for n, error, statement in conflicts[:12]:
                log(f"  {n:>6}  {error[:40]:<40}  {statement}")
        log(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def _row(self, r, bookings, base_rps, base_p50, base_p99, off=None):
        non_2xx = {s: n for s, n in sorted(r.statuses.items()) if not 200 <= s < 300}
        off_ratio = f"{off.rps / base_rps:>9.2f}x" if off is not None else f"{'-':>10}"
        log(f"{r.name:<28}{bookings:>10,}{r.rps:>9.1f}{r.percentile(50):>9.2f}"
            f"{r.percentile(99):>9.2f}{r.max():>9.1f}{r.rps / base_rps:>11.2f}x"
            f"{r.percentile(50) / base_p50:>9.2f}x{r.percentile(99) / base_p99:>9.2f}x"
            f"{off_ratio}  {non_2xx or '-'}")

    def _growth(self):
        small = {r.name: r for phase, _, r in self.results if phase == "small"}
        full = {r.name: r for phase, _, r in self.results if phase == "full"}
        if self.args.bookings <= self.args.small_bookings:
            return []
        return [(name, small[name], full[name]) for name in small if name in full]


class Instances:
    """Several services on one database, driven as one: the Python client splits its
    connections between their ports (loadgen.run_load)."""

    def __init__(self, servers):
        self.servers = servers
        self.port = [server.port for server in servers]
        self.url = servers[0].url  # for the routes the build publishes: the same on each
        self.label = "" if len(servers) == 1 else f", {len(servers)} instances"

    def worker_pids(self):
        return [pid for server in self.servers for pid in server.worker_pids()]


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = args.keep or tempfile.mkdtemp(prefix="rapidcare-bench-")
    os.makedirs(workdir, exist_ok=True)
    run = Run(args, workdir)
    try:
        return run.main()
    finally:
        if run.pg:
            run.pg.drop_all()  # the scratch databases, kept or not: they are the server's
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
