"""gunicorn hooks (gunicorn loads this file when started in the project directory).

Settings such as bind and workers come from the command line (scripts/serve).
"""
from app.ops import server

# One control socket per database, never gunicorn's per-user default (app/ops/server.py).
control_socket = server.control_socket_path()


def on_starting(arbiter):
    server.on_starting(arbiter)


def post_fork(arbiter, worker):
    server.post_fork(arbiter, worker)
