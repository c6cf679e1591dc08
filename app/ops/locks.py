"""OS file locks next to the database: who may use it while whom runs.

``<database>.lock``: the service lock. The gunicorn master (gunicorn.conf.py) and
the scheduler hold it *shared* for as long as they run; gunicorn's workers are
forked from the master and inherit its lock, so the lock is held until the last
of them is gone. ``scripts/restore-database`` takes it *exclusively*: it gets it
only when nothing that writes the database is running, and while it holds it
neither the service nor the scheduler can start.

``<database>.serve.lock``: held exclusively by the gunicorn master (and so by its
workers), with the master's pid in it, so a second service on the same database
refuses to start before it touches anything of the first (app/ops/server.py).

``<database>.scheduler.lock``: held exclusively by the one scheduler process, so
a second scheduler refuses to start (gunicorn workers never run jobs at all).

flock(2) locks belong to the open file and vanish when the process holding it
dies (even by SIGKILL): a crashed service never leaves a stale lock behind. The
lock files themselves are never deleted (deleting a lock file while someone holds
it would let a second holder lock a new file of the same name).
"""
import fcntl
import os
import time


class LockHeld(RuntimeError):
    """Someone else holds the lock."""


def service_lock_path(database):
    return f"{os.path.abspath(database)}.lock"


def instance_lock_path(database):
    return f"{os.path.abspath(database)}.serve.lock"


def scheduler_lock_path(database):
    return f"{os.path.abspath(database)}.scheduler.lock"


def acquire(path, *, exclusive, wait_seconds=0.0):
    """Lock ``path`` (created if missing); returns the open file that holds the lock.

    Keep the returned file open for as long as the lock must be held; closing it
    (or exiting) releases it. Raises LockHeld if the lock is still taken after
    ``wait_seconds``.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(handle.fileno(), mode)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                raise LockHeld(path) from None
            time.sleep(0.2)


def write_owner(handle):
    """Record our pid in a lock we hold exclusively (for the next one's error message)."""
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()


def read_owner(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None
