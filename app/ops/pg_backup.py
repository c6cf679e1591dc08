"""Backups of a PostgreSQL database: pg_dump -Fc, verified by a restore, pruned like SQLite's.

The SQLite twin is app/ops/backup.py; ``backup.run_backup`` and ``backup.main``
hand over to this module when the database is PostgreSQL (RAPIDCARE_DATABASE_URL).

Consistency: pg_dump reads every table in one REPEATABLE READ snapshot, so the dump
is the database as of one moment; it takes only ACCESS SHARE locks, which block
no INSERT, UPDATE or DELETE (only DDL such as a migration waits for it).

Verification: a dump counts as a backup only once it has been restored into a
scratch database (``pg_restore --exit-on-error --single-transaction``: every row
loaded, every constraint, unique index and foreign key re-created over the data)
and the invariants (app/ops/invariants.py) hold there. The scratch database is
dropped whatever happens. The dump is written to a temporary file in the backup
directory, fsynced, and renamed into place, so a file under its final name is
always a complete, verified dump. A failed run leaves nothing behind.

Retention is the SQLite one: the same directory, the same names (``.pgdump``
instead of ``.sqlite.gz``) and ``backup.prune_backups``.

The client programs come from PATH (or RAPIDCARE_PG_BIN_DIR); they must be of the
server's major version or newer. The password, when the URL has one, is handed to
them in PGPASSWORD, never on the command line (which every local user can read).
Creating the scratch database needs the CREATEDB privilege.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from app import files
from app.db import postgres
from app.ops import invariants
from app.ops.backup import (
    BACKUP_KIND,
    PGDUMP_SUFFIX,
    TEMP_PREFIX,
    BackupError,
    backup_name,
    fsync_directory,
    human_size,
    list_backups,
    prune_backups,
)

# The first bytes of every pg_dump custom-format archive.
PGDUMP_MAGIC = b"PGDMP"
# PostgreSQL truncates identifiers to 63 bytes; our scratch names keep well inside it.
NAME_PREFIX_CHARS = 30
TOOL_TIMEOUT_SECONDS = 6 * 3600


class ToolFailed(RuntimeError):
    """pg_dump, pg_restore or another client program exited non-zero."""


@dataclass(frozen=True)
class PgBackupResult:
    path: Path
    size: int
    database_size: int
    seconds: float


# --- connection details -----------------------------------------------------

def database_name(url):
    return conninfo_to_dict(url).get("dbname") or ""


def url_for_database(url, name):
    """``url``'s server, user and options, another database."""
    return make_conninfo(url, dbname=name)


def scratch_name(live, purpose):
    """A database name of our own beside ``live``: its name, the purpose and our pid
    (two runs in one process never overlap; two processes never share a name)."""
    return f"{live[:NAME_PREFIX_CHARS]}_{purpose}_{os.getpid()}"


def ops_config(config):
    """The service's settings, without its statement timeout: a dump check or an
    invariant pass over a large database may rightly take minutes."""
    return {**config, "POSTGRES_STATEMENT_TIMEOUT_MS": 0}


def connect(url, config):
    return postgres.connect(url, ops_config(config))


def create_database(admin, name, *, owner=None):
    """CREATE DATABASE ``name`` from template0 (nothing a DBA added to template1)."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
    if owner:
        statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    admin.raw.execute(statement)


def drop_database(admin, name):
    admin.raw.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_exists(admin, name):
    return admin.execute("SELECT 1 FROM pg_database WHERE datname = ?", (name,)).fetchone() is not None


# --- the client programs ----------------------------------------------------

def tool_path(name, config):
    directory = config.get("PG_BIN_DIR") or ""
    found = os.path.join(directory, name) if directory else shutil.which(name)
    if not found or not os.access(found, os.X_OK):
        raise ToolFailed(f"{name} not found (install the PostgreSQL client programs of the "
                         f"server's version, or set RAPIDCARE_PG_BIN_DIR)")
    return found


def run_tool(name, args, *, url, config):
    """Run a PostgreSQL client program against ``url``; raise ToolFailed with its message."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    command = [tool_path(name, config), *args, "--dbname", make_conninfo(**params)]
    result = subprocess.run(command, env=env, capture_output=True, text=True,
                            timeout=TOOL_TIMEOUT_SECONDS)
    if result.returncode != 0:
        message = " ".join(result.stderr.split())[-600:] or f"exit status {result.returncode}"
        raise ToolFailed(f"{name} failed: {message}")
    return result.stdout


def dump(url, path, config):
    """pg_dump -Fc of the database at ``url`` into ``path`` (one snapshot)."""
    run_tool("pg_dump", ["--format=custom", "--file", str(path)], url=url, config=config)


def restore_dump(path, url, config):
    """Load the archive at ``path`` into the (empty) database at ``url``, all or nothing."""
    run_tool("pg_restore", ["--exit-on-error", "--single-transaction", str(path)],
             url=url, config=config)


def looks_like_pgdump(path):
    with open(path, "rb") as handle:
        return handle.read(len(PGDUMP_MAGIC)) == PGDUMP_MAGIC


# --- backups ----------------------------------------------------------------

def verify_dump(path, url, config):
    """Restore the dump at ``path`` into a scratch database beside ``url``'s and run
    the invariants there; raise BackupError if either fails. The scratch database
    is dropped in any case."""
    admin = connect(url, config)
    scratch = scratch_name(database_name(url), "check")
    try:
        drop_database(admin, scratch)  # left by a run of this pid that was killed
        create_database(admin, scratch)
        try:
            restore_dump(path, url_for_database(url, scratch), config)
            copy = connect(url_for_database(url, scratch), config)
            try:
                violations = invariants.check_all(copy)
            finally:
                copy.close()
        finally:
            drop_database(admin, scratch)
    except ToolFailed as error:
        raise BackupError(f"the dump could not be restored: {error}") from error
    finally:
        admin.close()
    if violations:
        raise BackupError("the restored dump breaks invariants: " + "; ".join(violations))


def backup_database(url, backup_dir, *, now, config):
    """One verified pg_dump of the database at ``url`` in ``backup_dir``.

    Raises BackupError, ToolFailed or OSError and leaves no file behind on failure.
    """
    started = time.monotonic()
    directory = Path(backup_dir)
    files.private_directory(directory)  # backups are owner-only; mkstemp makes the files 0600
    final_path = directory / backup_name(now, suffix=PGDUMP_SUFFIX)
    if final_path.exists():
        raise BackupError(f"{final_path} already exists; not replacing a backup")
    fd, temp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{final_path.name}.", dir=directory)
    os.close(fd)
    try:
        conn = connect(url, config)
        try:
            database_size = conn.execute(
                "SELECT pg_database_size(current_database()) AS size").fetchone()["size"]
        finally:
            conn.close()
        dump(url, temp_name, config)
        verify_dump(temp_name, url, config)
        with open(temp_name, "rb") as written:
            os.fsync(written.fileno())
        if final_path.exists():
            raise BackupError(f"{final_path} already exists; not replacing a backup")
        os.replace(temp_name, final_path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_directory(directory)
    return PgBackupResult(final_path, final_path.stat().st_size, database_size,
                          time.monotonic() - started)


def run_backup(url, *, now, config):
    """The scheduled job on PostgreSQL (called by backup.run_backup)."""
    result = backup_database(url, config["BACKUP_DIR"], now=now, config=config)
    retention_days = int(config["BACKUP_RETENTION_DAYS"])
    removed = prune_backups(config["BACKUP_DIR"], now=now, retention_days=retention_days)
    return (f"{result.path.name}: {human_size(result.size)} pg_dump, restored and "
            f"invariants checked; pruned {len(removed)} older than {retention_days} days")


def command(url, backup_dir, retention_days, config, now):
    """``scripts/backup-database`` on PostgreSQL; returns the exit status."""
    print(f"backup: PostgreSQL database {database_name(url)} (pg_dump, custom format)")
    try:
        result = backup_database(url, backup_dir, now=now, config=config)
        print("backup: restored into a scratch database; invariants ok")
        print(f"backup: wrote {result.path} ({human_size(result.size)} from a "
              f"{human_size(result.database_size)} database) in {result.seconds:.1f} s")
        removed = prune_backups(backup_dir, now=now, retention_days=retention_days)
    except (BackupError, ToolFailed, OSError, psycopg.Error) as error:
        print(f"backup FAILED: {error}", file=sys.stderr)
        return 1
    for backup in removed:
        print(f"backup: pruned {backup.path.name} (older than {retention_days} days)")
    kept = list_backups(backup_dir, BACKUP_KIND)
    print(f"backup: done; {len(kept)} backup(s) kept in {backup_dir}")
    return 0
