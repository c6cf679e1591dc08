"""Online backups of the live database: consistent, verified, compressed, atomic, pruned.

Consistency: the copy is made with SQLite's online backup API while the source
connection holds one read transaction. In WAL mode that transaction is a
snapshot: writers keep committing (to the WAL) and are never blocked, and the
copy is the database exactly as of the moment the snapshot began, however many
steps the copy takes. (Without that open transaction every commit by another
connection would restart a stepped backup from the first page.) Never a file
copy: a copied main file misses what still sits in the WAL, and a copy taken
mid-checkpoint is torn.

Safety: the plain copy is checked (integrity_check, foreign_key_check) before it
is compressed; the archive is written to a temporary file in the backup
directory, fsynced, and renamed into place with os.replace, so a backup file
under its final name is always complete. A failed run removes its temporary
files and exits non-zero.

Command line: ``scripts/backup-database`` (``python -m app.ops.backup``).
"""
import argparse
import gzip
import os
import re
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app import files
from app.ops import checks

BACKUP_KIND = "database_backup"
PRE_RESTORE_KIND = "pre_restore"  # the copy restore-database keeps of what it replaced
STAMP_FORMAT = "%Y%m%d_%H%M%S"
# Two formats share the directory, the naming and the retention: SQLite backups
# (``.sqlite.gz``) and PostgreSQL custom-format dumps (``.pgdump``, app/ops/pg_backup.py).
NAME_PATTERN = re.compile(r"^(database_backup|pre_restore)_(\d{8}_\d{6})\.(sqlite\.gz|pgdump)$")
SQLITE_SUFFIX = ".sqlite.gz"
PGDUMP_SUFFIX = ".pgdump"
TEMP_PREFIX = ".tmp-"
# 1024 pages (4 MiB with the default page size) per step: a progress report per step.
PAGES_PER_STEP = 1024
CHUNK_BYTES = 1024 * 1024
STALE_TEMP_SECONDS = 24 * 3600


class BackupError(RuntimeError):
    """The backup could not be made or did not pass its checks; nothing was kept."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    kind: str  # BACKUP_KIND or PRE_RESTORE_KIND
    created_at: datetime  # from the name, UTC
    size: int
    suffix: str = SQLITE_SUFFIX  # SQLITE_SUFFIX or PGDUMP_SUFFIX


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    database_size: int
    pages: int
    seconds: float


def backup_name(now, kind=BACKUP_KIND, suffix=SQLITE_SUFFIX):
    """``database_backup_YYYYmmdd_HHMMSS.sqlite.gz`` (or ``.pgdump``), the time in UTC."""
    return f"{kind}_{now.astimezone(timezone.utc).strftime(STAMP_FORMAT)}{suffix}"


def list_backups(backup_dir, kind=None, suffix=None):
    """Backup files in ``backup_dir``, oldest first (by the time in their name);
    ``suffix`` keeps one format only."""
    found = []
    directory = Path(backup_dir)
    if not directory.is_dir():
        return found
    for path in directory.iterdir():
        match = NAME_PATTERN.match(path.name)
        if not match or (kind and match.group(1) != kind) or not path.is_file():
            continue
        found_suffix = "." + match.group(3)
        if suffix and found_suffix != suffix:
            continue
        created_at = datetime.strptime(match.group(2), STAMP_FORMAT).replace(tzinfo=timezone.utc)
        found.append(BackupFile(path, match.group(1), created_at, path.stat().st_size,
                                found_suffix))
    return sorted(found, key=lambda backup: (backup.created_at, backup.path.name))


def latest_backup(backup_dir, suffix=None):
    backups = list_backups(backup_dir, BACKUP_KIND, suffix)
    return backups[-1] if backups else None


def copy_database(source, target_path, *, pages_per_step=PAGES_PER_STEP, progress=None):
    """Copy the database behind connection ``source`` to a new file, online.

    ``source`` must not be inside a transaction. ``progress(done_pages, total_pages)``
    is called after every step. Returns the number of pages copied.
    """
    target = sqlite3.connect(target_path, isolation_level=None)
    pages = {"total": 0}

    def report(_status, remaining, total):
        pages["total"] = total
        if progress is not None:
            progress(total - remaining, total)

    try:
        source.execute("BEGIN")
        try:
            # The first read starts the snapshot that every backup step then reads.
            source.execute("SELECT count(*) FROM sqlite_schema").fetchone()
            source.backup(target, pages=pages_per_step, progress=report)
        finally:
            source.execute("ROLLBACK")
        # The copy inherits WAL mode from the source; a backup is one self-contained file.
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()
    return pages["total"]


def verify_copy(path):
    """Raise BackupError unless the database file at ``path`` passes every check."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        problems = checks.all_problems(conn)
    finally:
        conn.close()
    if problems:
        raise BackupError("the copy failed its checks: " + "; ".join(problems))


def compress_atomically(plain_path, final_path, *, mtime, progress=None):
    """gzip ``plain_path`` to ``final_path``: temp file, fsync, os.replace, fsync the directory."""
    final_path = Path(final_path)
    total = os.path.getsize(plain_path)
    fd, temp_name = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{final_path.name}.", dir=final_path.parent
    )
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(
                filename=final_path.name[: -len(".gz")], mode="wb", fileobj=raw, mtime=mtime
            ) as archive, open(plain_path, "rb") as plain:
                done = 0
                while chunk := plain.read(CHUNK_BYTES):
                    archive.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            raw.flush()
            os.fsync(raw.fileno())
        if final_path.exists():
            raise BackupError(f"{final_path} already exists; not replacing a backup")
        os.replace(temp_name, final_path)
    except BaseException:
        _unlink_quietly(temp_name)
        raise
    fsync_directory(final_path.parent)


def backup_database(source, backup_dir, *, now, pages_per_step=PAGES_PER_STEP, progress=None):
    """Make one verified, compressed backup of the database behind ``source``.

    ``progress(phase, done, total)`` with phase "copy" (pages), "check" (pages: its start
    and its end) or "compress" (bytes).
    Raises BackupError (or sqlite3/OS errors) and leaves no file behind on failure.
    """
    started = time.monotonic()
    directory = Path(backup_dir)
    files.private_directory(directory)  # backups are owner-only; mkstemp makes the files 0600
    final_path = directory / backup_name(now)
    if final_path.exists():
        raise BackupError(f"{final_path} already exists; not replacing a backup")
    fd, plain_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{BACKUP_KIND}.", dir=directory)
    os.close(fd)
    try:
        pages = copy_database(
            source, plain_name, pages_per_step=pages_per_step,
            progress=(lambda done, total: progress("copy", done, total)) if progress else None,
        )
        if progress:  # the checks read every page and report nothing until done
            progress("check", 0, pages)
        verify_copy(plain_name)
        if progress:
            progress("check", pages, pages)
        database_size = os.path.getsize(plain_name)
        compress_atomically(
            plain_name, final_path, mtime=int(now.timestamp()),
            progress=(lambda done, total: progress("compress", done, total)) if progress else None,
        )
    finally:
        _unlink_quietly(plain_name)
        _unlink_quietly(plain_name + "-journal")
    return BackupResult(final_path, final_path.stat().st_size, database_size, pages,
                        time.monotonic() - started)


def prune_backups(backup_dir, *, now, retention_days):
    """Delete backups whose name is older than the retention; never the newest one.

    Also removes temporary files that a killed run left behind. Returns the
    deleted backups.
    """
    cutoff = now - timedelta(days=retention_days)
    backups = list_backups(backup_dir)
    newest = latest_backup(backup_dir)
    removed = []
    for backup in backups:
        if backup.created_at < cutoff and backup != newest:
            backup.path.unlink()
            removed.append(backup)
    for path in Path(backup_dir).glob(f"{TEMP_PREFIX}*"):
        if time.time() - path.stat().st_mtime > STALE_TEMP_SECONDS:
            _unlink_quietly(path)
    return removed


def run_backup(conn, *, now, config):
    """Scheduled job: a verified backup, then pruning by BACKUP_RETENTION_DAYS.
    PostgreSQL: app/ops/pg_backup.py does the same with pg_dump."""
    if getattr(conn, "dialect", "sqlite") == "postgres":
        from app.ops import pg_backup

        return pg_backup.run_backup(config["DATABASE_URL"], now=now, config=config)
    result = backup_database(conn, config["BACKUP_DIR"], now=now)
    retention_days = int(config["BACKUP_RETENTION_DAYS"])
    removed = prune_backups(config["BACKUP_DIR"], now=now, retention_days=retention_days)
    return (f"{result.path.name}: {human_size(result.size)} ({result.pages} pages) verified; "
            f"pruned {len(removed)} older than {retention_days} days")


def fsync_directory(path):
    """Make a rename in ``path`` durable (the directory entry itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def human_size(size):
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024:
            break
    return f"{size:.1f} {unit}"


def human_age(seconds):
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class ProgressPrinter:
    """Progress lines every 10 % of a phase larger than one copy step (4 MiB), for
    backup-database and restore-database: ``<prefix>: <phase> 40% (done/total unit)``."""

    # Phases counted in database pages (the online backup API's steps); others in bytes.
    PAGE_PHASES = ("copy", "check", "keep")

    def __init__(self, stream, prefix="backup"):
        self.stream = stream
        self.prefix = prefix
        self.shown = {}

    def __call__(self, phase, done, total):
        in_pages = phase in self.PAGE_PHASES
        threshold = PAGES_PER_STEP if in_pages else PAGES_PER_STEP * 4096
        if total <= threshold:
            return
        unit = "pages" if in_pages else "bytes"
        if done == 0 and phase not in self.shown:  # a step that reports only its start and end
            self.shown[phase] = 0
            print(f"{self.prefix}: {phase} started ({total} {unit})", file=self.stream, flush=True)
            return
        tenth = done * 10 // total
        if tenth > self.shown.get(phase, 0):
            self.shown[phase] = tenth
            print(f"{self.prefix}: {phase} {tenth * 10}% ({done}/{total} {unit})", file=self.stream,
                  flush=True)


def main(argv=None):
    from app.config import ConfigError, standalone_config
    from app.db import connect
    from app.timeutil import utcnow

    parser = argparse.ArgumentParser(
        prog="backup-database",
        description="Back up the live database (online, verified, compressed) and prune old backups.",
    )
    parser.add_argument("--retention-days", type=int, default=None,
                        help="delete backups older than this (default BACKUP_RETENTION_DAYS, 30)")
    parser.add_argument("--database", help="database file (default RAPIDCARE_DATABASE)")
    parser.add_argument("--backup-dir", help="where backups go (default RAPIDCARE_BACKUP_DIR)")
    args = parser.parse_args(argv)
    files.owner_only_umask()  # what this process writes is owner-only (app/files.py)
    try:
        config = standalone_config()
    except ConfigError as error:
        parser.exit(1, f"backup FAILED: {error}\n")
    backup_dir = os.path.abspath(args.backup_dir or config["BACKUP_DIR"])
    retention_days = (args.retention_days if args.retention_days is not None
                      else int(config["BACKUP_RETENTION_DAYS"]))
    if retention_days < 1:
        parser.error("--retention-days must be at least 1")
    if config.get("DATABASE_URL"):
        if args.database:
            parser.error("--database names an SQLite file, but RAPIDCARE_DATABASE_URL "
                         "selects PostgreSQL")
        from app.ops import pg_backup

        return pg_backup.command(config["DATABASE_URL"], backup_dir, retention_days, config,
                                 utcnow())
    database = os.path.abspath(args.database or config["DATABASE"])
    if not os.path.isfile(database):
        parser.exit(1, f"backup FAILED: no database at {database}\n")

    now = utcnow()
    print(f"backup: database {database} ({human_size(os.path.getsize(database))})")
    try:
        source = connect(database, busy_timeout_ms=int(config["SQLITE_BUSY_TIMEOUT_MS"]))
        try:
            result = backup_database(
                source, backup_dir, now=now,
                progress=ProgressPrinter(sys.stdout),
            )
        finally:
            source.close()
        print(f"backup: copied {result.pages} pages; integrity_check ok, foreign_key_check ok")
        print(f"backup: wrote {result.path} ({human_size(result.size)} compressed from "
              f"{human_size(result.database_size)}) in {result.seconds:.1f} s")
        removed = prune_backups(backup_dir, now=now, retention_days=retention_days)
    except (BackupError, sqlite3.Error, OSError) as error:
        print(f"backup FAILED: {error}", file=sys.stderr)
        return 1
    for backup in removed:
        print(f"backup: pruned {backup.path.name} (older than {retention_days} days)")
    kept = list_backups(backup_dir, BACKUP_KIND)
    print(f"backup: done; {len(kept)} backup(s) kept in {backup_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
