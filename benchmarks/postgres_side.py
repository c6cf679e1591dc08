"""The PostgreSQL side of the benchmark (``benchmarks/run --database-url …``).

``ScratchDatabases`` creates databases on the server the URL names (the URL's own
database is only used to administer them), migrates them, fills each by copying the
benchmark's SQLite database with ``app.ops.copy_to_postgres.copy`` (the path a
deployment takes to move over), and drops them at the end.

``Counters`` reads what the database did during one measurement: commits and
rollbacks (pg_stat_database) and the CPU time of the server processes serving that
database (its backends, from /proc; PostgreSQL runs on this machine in the
benchmark). With the requests of the same measurement this gives writes per
second per database core, the figure that says how far one primary goes.
"""
import os
import re
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg

from app import migrator
from app.config import DEFAULTS
from app.db import postgres
from app.ops import copy_to_postgres

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def url_with_database(url, name):
    """``url`` with its database name replaced by ``name``."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def process_cpu_seconds(pid):
    """utime + stime of ``pid`` in seconds; None when it is gone (or not readable)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after the command name: state is field 3, utime and stime fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ScratchDatabases:
    def __init__(self, admin_url, log=print):
        self.admin_url = admin_url
        self.log = log
        self.created = []
        self.prefix = f"rapidcare_bench_{os.getpid()}"

    def admin(self):
        return psycopg.connect(self.admin_url, autocommit=True)

    def server_facts(self):
        with self.admin() as conn:
            names = ("server_version", "max_connections", "shared_buffers", "synchronous_commit",
                     "fsync", "wal_level")
            return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}

    def create(self, label):
        """A new, migrated, empty database; returns its URL."""
        name = f"{self.prefix}_{label}"
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        url = url_with_database(self.admin_url, name)
        conn = postgres.connect(url, DEFAULTS)
        try:
            migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
        finally:
            conn.close()
        return url

    def copy_from_sqlite(self, sqlite_path, label):
        """A new database holding a copy of the SQLite database at ``sqlite_path``, vacuumed
        and analysed (as a deployment would be after moving over: autovacuum would
        otherwise do it in the middle of a measurement). Returns its URL."""
        url = self.create(label)
        started = time.perf_counter()
        report = copy_to_postgres.copy(sqlite_path, url, DEFAULTS, log=lambda line: None)
        copied = time.perf_counter() - started
        rows = sum(report.rows.values())
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
        vacuumed = time.perf_counter() - started
        self.log(f"copied to PostgreSQL database {urlsplit(url).path[1:]}: {rows:,} rows in "
                 f"{copied:.1f} s = {rows / copied:,.0f} rows/s (counts, money sums and "
                 f"invariants verified by the copy), VACUUM (ANALYZE) {vacuumed:.1f} s")
        return url

    def size(self, url):
        name = urlsplit(url).path[1:]
        with self.admin() as conn:
            return conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0]

    def drop(self, url):
        name = urlsplit(url).path[1:]
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self):
        for name in list(self.created):
            self.drop(url_with_database(self.admin_url, name))


class Counters:
    """What one database did during one measurement.

    ``start()`` once the servers are up and warm; ``measured()`` right after the load
    stops (the CPU of the database's backends and of the app's workers, read from
    /proc while they still run); ``finish()`` after the servers have stopped: a
    backend publishes its commit and rollback counts when it exits (while it runs,
    at most once a second and up to 10 s late when idle), so pg_stat_database is
    complete only then."""

    def __init__(self, scratch, url, app_pids=lambda: [], ignore_pids=()):
        self.scratch = scratch
        self.name = urlsplit(url).path[1:]
        self.app_pids = app_pids  # the gunicorn workers serving the measurement
        self.ignore_pids = list(ignore_pids)  # backends of the benchmark's own connections
        self.result = {}

    def _stats(self, conn):
        conn.execute("SELECT pg_stat_clear_snapshot()")  # a fresh read, not this session's cache
        return conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, deadlocks "
            "FROM pg_stat_database WHERE datname = %s", (self.name,)).fetchone()

    def _backends(self, conn):
        return [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> ALL (%s)",
            (self.name, self.ignore_pids))]

    def _cpu(self, conn):
        backends = {pid: process_cpu_seconds(pid) for pid in self._backends(conn)}
        app = {pid: process_cpu_seconds(pid) for pid in self.app_pids()}
        return backends, app

    def start(self):
        with self.scratch.admin() as conn:
            self.stats_before = self._stats(conn)
            self.cpu_before = self._cpu(conn)
        self.started = time.perf_counter()

    def measured(self):
        seconds = time.perf_counter() - self.started
        with self.scratch.admin() as conn:
            backends1, app1 = self._cpu(conn)
        backends0, app0 = self.cpu_before

        def cpu(before, now):
            # a process that appeared meanwhile counts from zero; one that ended is lost
            return sum(v - (before.get(pid) or 0.0) for pid, v in now.items() if v is not None)

        self.result.update(db_cpu=cpu(backends0, backends1), app_cpu=cpu(app0, app1),
                           backends=len(backends1), seconds=seconds)

    def finish(self, wait_seconds=10):
        with self.scratch.admin() as conn:
            deadline = time.monotonic() + wait_seconds
            while self._backends(conn) and time.monotonic() < deadline:
                time.sleep(0.1)  # the stopped servers' backends are still exiting
            complete = not self._backends(conn)
            c1, r1, i1, u1, d1 = self._stats(conn)
        c0, r0, i0, u0, d0 = self.stats_before
        self.result.update(commits=c1 - c0, rollbacks=r1 - r0, inserted=i1 - i0,
                           updated=u1 - u0, deadlocks=d1 - d0, stats_complete=complete)
        return self.result


def shape(statement):
    """A statement with its literals taken out (string -> ?, number -> N), so the ones that
    differ only in their values count as one."""
    statement = re.sub(r"'(?:[^']|'')*'", "?", " ".join(statement.split()))
    return re.sub(r"\b\d+\b", "N", statement)[:150]


def conflicts_in_log(path, database, since):
    """The serialization failures and deadlocks the server logged for ``database`` from
    ``since`` (a 'YYYY-MM-DD HH:MM:SS' prefix) on, counted by (error, statement): where the
    write paths collide. Needs the server's log file (log_min_error_statement = error, the
    default, logs the statement). Returns [(count, error, statement)], most first."""
    from collections import Counter
    stamp = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\.\d+ \w+ \[\d+\] (\S+?)@(\S+) (\w+):  ?(.*)")
    new_entry = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
    counts, entries, current = Counter(), [], None
    with open(path, errors="replace") as log:
        for line in log:
            if new_entry.match(line):  # any entry ends the one before (background ones too)
                current = None
                match = stamp.match(line)
                if match:
                    when, _user, db, kind, text = match.groups()
                    if db == database and when >= since:
                        current = [kind, text]
                        entries.append(current)
            elif current is not None:
                current[1] += " " + line.strip()
    error = None
    for kind, text in entries:
        if kind == "ERROR":
            error = text if ("serialize" in text or "deadlock" in text) else None
        elif kind == "STATEMENT" and error:
            counts[error.split(" due to ")[-1], shape(text)] += 1
            error = None
    return [(n, error, statement) for (error, statement), n in counts.most_common()]
