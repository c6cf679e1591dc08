"""What the gunicorn master and its workers do for operations.

gunicorn reads gunicorn.conf.py from the directory it starts in (scripts/serve
and tests/live_server.py start it in the project directory), which calls the
hooks here and takes ``control_socket_path()`` as its control socket.

``on_starting`` (the master, before it binds or forks), in this order:

- it sets umask 077, which the workers inherit, so the database, its WAL and
  everything else the service writes is owner-only (app/files.py);

- it takes the instance lock (``<database>.serve.lock``) exclusively and writes
  its pid into it: a second service started on the same database stops here,
  before it has touched anything of the running one (its metrics directory,
  its control socket); then it makes the database, its side files, BACKUP_DIR,
  MAIL_DIR and instance/ owner-only where an earlier version left them readable;
- it takes the service lock shared (app/ops/locks.py) for as long as the master
  runs; the workers inherit it, so restore-database refuses to run while any of
  them is alive, and the service waits for a restore that is in progress;
- it empties the metrics directory and passes it to the workers (app/ops/metrics.py).

``post_fork`` (each worker, right after the fork): the worker asks the kernel to
SIGKILL it when the master dies (Linux). A sync worker otherwise notices a dead
master only at its next parent check, up to half the worker timeout later, and
until then keeps the listening socket (and the locks) open, so a service
restarted at once after a crash of the master could not bind.
"""
import ctypes
import ctypes.util
import hashlib
import os
import signal
import sys

from app import files
from app.config import PROJECT_ROOT, standalone_config
from app.ops import locks, metrics

RESTORE_WAIT_SECONDS = 120
# The workers of a master that was just killed die by their death signal a moment
# later; they hold the instance lock until then.
INSTANCE_WAIT_SECONDS = 3
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# sun_path holds 108 bytes on Linux, 104 on macOS, the terminating NUL included.
MAX_SOCKET_PATH_BYTES = 100

_held = []  # the open lock files: closing one would release its lock


def on_starting(server):
    files.owner_only_umask()  # the workers inherit it (app/files.py)
    config = standalone_config()
    database = config["DATABASE"]
    _held.append(_take_instance_lock(database))
    for path in files.restrict_service_files(config, instance_path=PROJECT_ROOT / "instance"):
        server.log.warning("rapidcare: %s was readable by others; now owner-only", path)
    path = locks.service_lock_path(database)
    try:
        _held.append(locks.acquire(path, exclusive=False, wait_seconds=RESTORE_WAIT_SECONDS))
    except locks.LockHeld:
        raise RuntimeError(f"a database restore holds {path}; not starting") from None
    directory = metrics.reset_directory(config)
    server.log.info("rapidcare: holding %s; metrics in %s", path, directory)


def _take_instance_lock(database):
    path = locks.instance_lock_path(database)
    try:
        handle = locks.acquire(path, exclusive=True, wait_seconds=INSTANCE_WAIT_SECONDS)
    except locks.LockHeld:
        raise RuntimeError(
            f"RapidCare is already being served from {os.path.abspath(database)} "
            f"(pid {locks.read_owner(path) or 'unknown'} holds {path}); not starting a second "
            f"service on the same database. Its metrics and control socket were left alone."
        ) from None
    locks.write_owner(handle)
    return handle


def post_fork(server, worker):
    """In the new worker: die with the master (see the module docstring)."""
    if not sys.platform.startswith("linux"):
        return  # no parent-death signal: workers notice at their parent check
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        server.log.warning("rapidcare: prctl(PR_SET_PDEATHSIG) failed: %s",
                           os.strerror(ctypes.get_errno()))
    if os.getppid() != server.pid:
        os._exit(1)  # the master died before the signal was armed


def control_socket_path():
    """gunicorn's control socket for this database: ``<database>.ctl``.

    gunicorn's default is one path per user, which a second service would take
    over; the database is what an instance owns (the instance lock makes it
    one service per database). A path too long for a Unix socket goes, under a
    name derived from the database path, into the directory gunicorn would use.
    """
    from gunicorn.config import ControlSocket

    database = os.path.abspath(standalone_config()["DATABASE"])
    path = f"{database}.ctl"
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH_BYTES:
        return path
    digest = hashlib.sha256(os.fsencode(database)).hexdigest()[:16]
    return os.path.join(os.path.dirname(ControlSocket.default), f"rapidcare-{digest}.ctl")


def main():
    """``python -m app.ops.server``: scripts/serve's check before it migrates the database.

    The same refusal as ``on_starting``, given before ``flask db upgrade`` runs
    against a database another service is serving. on_starting still decides
    (two services starting at the same moment).
    """
    try:
        _take_instance_lock(standalone_config()["DATABASE"]).close()
    except RuntimeError as error:
        print(f"serve: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
