"""scripts/serve run exactly as an operator runs it, for the tests of serving itself.

Each run is its own session (process group), so ``stop()`` also ends workers that
outlived their master; stdout and stderr go to separate files.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from app.config import TEST_OVERRIDES
from tests.live_server import ROOT, _running


class Serve:
    def __init__(self, tmp_path, *, database, port, name, env=None):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.stdout_path = Path(tmp_path) / f"{name}.stdout"
        self.stderr_path = Path(tmp_path) / f"{name}.stderr"
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("RAPIDCARE_") and key != "PROMETHEUS_MULTIPROC_DIR"}
        self.env.update({
            "RAPIDCARE_SECRET_KEY": TEST_OVERRIDES["SECRET_KEY"],
            "RAPIDCARE_DATABASE": str(database),
            "RAPIDCARE_BIND": f"127.0.0.1:{port}",
            "RAPIDCARE_WORKERS": "2",
            "RAPIDCARE_BCRYPT_ROUNDS": "4",
            "RAPIDCARE_BACKUP_DIR": str(Path(tmp_path) / "backups"),
            # gunicorn's per-user default control socket lives here: never the real one
            "XDG_RUNTIME_DIR": str(tmp_path),
            **(env or {}),
        })
        self.process = None

    def start(self):
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            self.process = subprocess.Popen([str(ROOT / "scripts" / "serve")], cwd=ROOT,
                                            env=self.env, stdout=out, stderr=err,
                                            start_new_session=True)
        return self

    def wait_until_healthy(self, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"scripts/serve exited with {self.process.returncode}:\n"
                                   f"{self.output()}")
            try:
                if requests.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass  # not listening yet
            time.sleep(0.1)
        raise RuntimeError(f"scripts/serve did not come up:\n{self.output()}")

    def wait_for_exit(self, seconds=30):
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"scripts/serve still runs after {seconds} s:\n"
                                 f"{self.output()}") from None

    def worker_pids(self):
        master = str(self.process.pid)
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == master:
                    pids.append(int(entry.name))
            except OSError:
                continue  # exited meanwhile
        return pids

    def stop(self):
        """SIGTERM the whole process group (gunicorn's graceful stop), then SIGKILL it."""
        if self.process is None:
            return
        for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                continue
            if not _group_alive(self.process.pid):
                break

    def output(self):
        return (self.stdout_path.read_text(errors="replace")
                + self.stderr_path.read_text(errors="replace"))


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_gone(pids, seconds):
    deadline = time.monotonic() + seconds
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return [pid for pid in pids if _running(pid)]
