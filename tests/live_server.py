"""Run the real service under gunicorn (several sync workers) on a temporary database.

Used by the concurrency, crash and fuzz tests and by the benchmarks:

    with LiveServer(tmp_path, workers=4) as server:
        requests.get(server.url + "/api/health")

``kill()`` SIGKILLs the master and every worker at once (a crash, not a
shutdown); ``start()`` again brings the service back on the same database and port.

On the suite's PostgreSQL half (TEST_DATABASE_URL) the server gets a database of
its own on that server (``database_url``), dropped by ``drop()``; ``connect()``
opens a connection to whichever database the server runs on.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from app import migrator
from app.config import DEFAULTS, TEST_OVERRIDES
from app.db import connect, postgres
from tests import pg

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _running(pid):
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class LiveServer:
    def __init__(self, tmp_path, *, workers=4, env=None, database=None, app="wsgi:app",
                 ready_path="/api/health", gunicorn_args=(), log_level="WARNING", database_url=None):
        """``log_level=None`` leaves RAPIDCARE_LOG_LEVEL unset: the service's own default
        (INFO, one request log line per request), exactly as scripts/serve runs it."""
        self.app = app
        self.ready_path = ready_path
        self.gunicorn_args = list(gunicorn_args)
        self.database = str(database or Path(tmp_path) / "live.sqlite3")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.own_database = None  # the PostgreSQL database this server created, dropped by drop()
        if database_url is None and pg.ADMIN_URL and database is None:
            self.own_database = f"rapidcare_live_{os.getpid()}_{self.port}"
            database_url = pg.create_database(self.own_database, template=pg.migrated_template)
        self.database_url = database_url
        self.workers = workers
        self.log_path = Path(tmp_path) / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "RAPIDCARE_ENV": "development",
            "RAPIDCARE_SECRET_KEY": TEST_OVERRIDES["SECRET_KEY"],
            "RAPIDCARE_ENCRYPTION_KEYS": TEST_OVERRIDES["ENCRYPTION_KEYS"],
            "RAPIDCARE_DATABASE": self.database,
            "RAPIDCARE_BCRYPT_ROUNDS": "4",
            "RAPIDCARE_BOOKING_RATE_LIMIT": "0",
            "RAPIDCARE_LOG_LEVEL": log_level or "",
            "RAPIDCARE_BACKUP_DIR": str(Path(tmp_path) / "backups"),
            "RAPIDCARE_DATABASE_URL": self.database_url or "",
            **(env or {}),
        }
        if log_level is None and "RAPIDCARE_LOG_LEVEL" not in (env or {}):
            self.env.pop("RAPIDCARE_LOG_LEVEL")
        self.process = None

    @property
    def config(self):
        """The settings a connection of the test's own needs to reach this server's database."""
        return {**DEFAULTS, "DATABASE": self.database, "DATABASE_URL": self.database_url or ""}

    def connect(self, **sqlite_options):
        """A connection to the server's database (SQLite file or PostgreSQL)."""
        if self.database_url:
            return postgres.connect(self.database_url, DEFAULTS)
        return connect(self.database, **sqlite_options)

    def migrate(self):
        conn = self.connect()
        migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
        conn.close()

    def drop(self):
        """Drop the PostgreSQL database this server made (nothing on SQLite)."""
        if self.own_database:
            pg.drop_database(self.own_database)
            self.own_database = None

    def start(self):
        self.migrate()
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--worker-class", "sync",
             "--graceful-timeout", "2", *self.gunicorn_args, self.app],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()  # never leak a gunicorn whose start failed
            raise
        return self

    def _wait_until_healthy(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_path.read_text()}")
            try:
                if requests.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet, or a worker still booting on a busy machine
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not come up:\n{self.log_path.read_text()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def worker_pids(self):
        """The master's live children (its workers), read from /proc."""
        master = self.process.pid
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited meanwhile
            # the command name may hold spaces: the ppid is the 2nd field after ')'
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry.name))
        return pids

    def kill(self):
        """SIGKILL the master and all workers together: nothing gets to clean up."""
        pids = self.worker_pids() + [self.process.pid]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in pids[:-1]) and time.monotonic() < deadline:
            time.sleep(0.01)  # orphaned workers die a moment later than the signal
        if getattr(self, "_log", None):
            self._log.close()
        return pids

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.drop()
