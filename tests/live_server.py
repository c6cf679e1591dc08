"""Run the real service under gunicorn (several sync workers) on a temporary database.

Used by the concurrency, crash and fuzz tests:

    with LiveServer(tmp_path, workers=4) as server:
        requests.get(server.url + "/api/health")
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from app import migrator
from app.config import DEFAULTS, TEST_OVERRIDES
from app.db import connect

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, tmp_path, *, workers=4, env=None, database=None):
        self.database = str(database or Path(tmp_path) / "live.sqlite3")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_path = Path(tmp_path) / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "RAPIDCARE_ENV": "development",
            "RAPIDCARE_SECRET_KEY": TEST_OVERRIDES["SECRET_KEY"],
            "RAPIDCARE_DATABASE": self.database,
            "RAPIDCARE_BCRYPT_ROUNDS": "4",
            "RAPIDCARE_BOOKING_RATE_LIMIT": "0",
            "RAPIDCARE_LOG_LEVEL": "WARNING",
            "RAPIDCARE_BACKUP_DIR": str(Path(tmp_path) / "backups"),
            **(env or {}),
        }
        self.process = None

    def migrate(self):
        conn = connect(self.database)
        migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
        conn.close()

    def start(self):
        self.migrate()
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--worker-class", "sync",
             "--graceful-timeout", "2", "wsgi:app"],
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
                if requests.get(self.url + "/api/health", timeout=2).status_code == 200:
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

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
