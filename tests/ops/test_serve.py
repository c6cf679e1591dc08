"""scripts/serve as an operator runs it: restarts after a crash of the master, one
service per database, and logs without patient data."""
import os
import re
import signal
import stat

import pytest
import requests

from app.ops import metrics
from tests.live_server import free_port
from tests.ops import helpers
from tests.ops.serving import Serve, wait_until_gone

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path):
    """Serve(...) runs that are stopped (whole process group) whatever the test did."""
    runs = []

    def make(name, *, database, port, env=None):
        run = Serve(tmp_path, database=database, port=port, name=name, env=env)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.stop()


def test_serve_restarts_at_once_after_only_the_master_was_killed(tmp_path, served):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    port = free_port()
    first = served("first", database=database, port=port).start().wait_until_healthy()
    workers = first.worker_pids()
    assert workers

    os.kill(first.process.pid, signal.SIGKILL)  # the master alone: its workers are orphaned
    first.process.wait()
    second = served("second", database=database, port=port).start()

    # The workers die with their master instead of at their next parent check.
    assert wait_until_gone(workers, 2) == []
    second.wait_until_healthy()
    assert "Connection in use" not in second.output()


def _metrics_files(directory):
    return {name: os.path.getsize(os.path.join(directory, name))
            for name in os.listdir(directory) if name.endswith(".db")}


def _health_requests_counted(url):
    text = requests.get(url + "/metrics", timeout=10).text
    return sum(float(value) for value in re.findall(
        r'^rapidcare_http_requests_total\{[^}]*endpoint="/api/health"[^}]*status="200"[^}]*\} (\S+)$',
        text, re.MULTILINE))


@pytest.mark.parametrize("same_port", [True, False], ids=["same port", "another port"])
def test_a_second_serve_on_the_same_database_refuses_and_leaves_the_first_alone(
        tmp_path, served, same_port):
    database = helpers.migrated_database(tmp_path / "live.sqlite3")
    first = served("first", database=database, port=free_port()).start().wait_until_healthy()
    for _ in range(5):
        assert requests.get(first.url + "/api/health", timeout=10).status_code == 200
    counted = _health_requests_counted(first.url)
    assert counted >= 5
    directory = metrics.metrics_dir({"DATABASE": database})
    files = _metrics_files(directory)
    [control_socket] = re.findall(r"Control socket listening at (\S+)", first.output())

    second = served("second", database=database,
                    port=first.port if same_port else free_port()).start()
    assert second.wait_for_exit() != 0
    assert "already being served" in second.output()

    assert first.process.poll() is None
    assert set(files) <= set(_metrics_files(directory))  # not one metrics file removed
    assert _health_requests_counted(first.url) >= counted
    assert stat.S_ISSOCK(os.stat(control_socket).st_mode)
