"""gunicorn hooks (gunicorn loads this file when started in the project directory).

Settings such as bind and workers come from the command line (scripts/serve).
"""
import os

from app.ops import server

# The service's workers are the processes that write at the same time: their writers
# wait in the flock queue (app/db/writer_queue.py). Set here, before any app is built
# (also with --preload), and only if the operator did not choose.
os.environ.setdefault("RAPIDCARE_SQLITE_WRITER_QUEUE", "true")

# One control socket per database, never gunicorn's per-user default (app/ops/server.py).
control_socket = server.control_socket_path()


def on_starting(arbiter):
    server.on_starting(arbiter)


def post_fork(arbiter, worker):
    server.post_fork(arbiter, worker)
