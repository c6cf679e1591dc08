"""What the gunicorn master does for operations before it forks the workers.

gunicorn reads gunicorn.conf.py from the directory it starts in (scripts/serve
and tests/live_server.py start it in the project directory), which calls
``on_starting`` here:

- it takes the service lock shared (app/ops/locks.py) for as long as the master
  runs; the workers inherit it, so restore-database refuses to run while any of
  them is alive, and the service waits for a restore that is in progress;
- it empties the metrics directory and passes it to the workers (app/ops/metrics.py).
"""
from app.config import standalone_config
from app.ops import locks, metrics

RESTORE_WAIT_SECONDS = 120

_held = []  # the open lock file: closing it would release the lock


def on_starting(server):
    config = standalone_config()
    path = locks.service_lock_path(config["DATABASE"])
    try:
        _held.append(locks.acquire(path, exclusive=False, wait_seconds=RESTORE_WAIT_SECONDS))
    except locks.LockHeld:
        raise RuntimeError(f"a database restore holds {path}; not starting") from None
    directory = metrics.reset_directory(config)
    server.log.info("rapidcare: holding %s; metrics in %s", path, directory)
