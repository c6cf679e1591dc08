"""Owner-only files (issue #18 item 4): the database, its WAL and shared memory, backups,
the instance folder (keys), mail files. Files 0600, directories 0700.

Two layers, because either alone leaves a gap:

- ``owner_only_umask()``: every process that creates such files (the service, the
  `flask` CLI, the scheduler, backup-database, restore-database) sets umask 077 when
  it starts, so whatever it creates (SQLite's -wal/-shm and -journal, temporary
  files, lock files) is owner-only from its first byte;
- explicit modes where a file or directory is made on purpose (``private_directory``,
  ``restrict``), so the mode holds even when the process was started by something
  that set another umask; and ``restrict_service_files`` on start, for files made
  by earlier versions (which were 0644).

SQLite creates a database's -wal and -shm with the mode of the database file, so an
owner-only database file keeps them owner-only too.
"""
import os
import stat
from pathlib import Path

OWNER_ONLY_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700
DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def owner_only_umask():
    """Process-wide: everything this process creates from now on is owner-only."""
    os.umask(OWNER_ONLY_UMASK)


def restrict(path):
    """Make an existing file 0600 (a directory 0700); True if its mode changed.
    Symlinks, sockets and missing paths are left alone."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(info.st_mode):
        mode = DIR_MODE
    elif stat.S_ISREG(info.st_mode):
        mode = FILE_MODE
    else:
        return False
    if stat.S_IMODE(info.st_mode) == mode:
        return False
    os.chmod(path, mode)
    return True


def private_directory(path):
    """Create ``path`` (and its parents) if needed; the directory itself ends up 0700."""
    os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    restrict(path)


def open_private(path, mode="wb"):
    """Open ``path`` for writing, created 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(fd, mode)


def restrict_tree(directory):
    """``restrict`` a directory and everything below it; returns the paths changed."""
    changed = []
    if not os.path.isdir(directory):
        return changed
    if restrict(directory):
        changed.append(str(directory))
    for root, dirs, names in os.walk(directory):
        for name in dirs + names:
            path = os.path.join(root, name)
            if restrict(path):
                changed.append(path)
    return changed


def restrict_database(path):
    """The database file and whichever of its -wal, -shm, -journal exist; returns the paths changed."""
    if not path or path == ":memory:":
        return []
    return [path + suffix for suffix in DATABASE_SUFFIXES if restrict(path + suffix)]


def restrict_service_files(config, instance_path=None):
    """On start: fix the modes of what earlier versions left readable by others (the
    SQLite database and its side files, BACKUP_DIR, MAIL_DIR, the instance folder with
    its key files). Returns the paths whose mode changed."""
    changed = []
    if not config.get("DATABASE_URL"):
        changed += restrict_database(config.get("DATABASE"))
    for directory in (instance_path, config.get("BACKUP_DIR"), config.get("MAIL_DIR")):
        if directory:
            changed += restrict_tree(Path(directory))
    return changed
