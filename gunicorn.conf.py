"""gunicorn hooks (gunicorn loads this file when started in the project directory).

Settings such as bind and workers come from the command line (scripts/serve).
"""
from app.ops import server


def on_starting(arbiter):
    server.on_starting(arbiter)
