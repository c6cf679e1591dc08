"""Restore the database from a backup, never leaving things worse than they were.

Order of work (``restore``):

1. Take the service lock exclusively (see app/ops/locks.py): refused while the
   service or the scheduler runs, unless ``force``.
2. Unpack the backup to a temporary file beside the database and check it there:
   a gzip archive that is complete and uncorrupted, an SQLite file that passes
   integrity_check and foreign_key_check, a schema this code knows (its
   schema_migrations lists only migrations we have, and its tables, indexes,
   triggers and views are exactly those these migrations create, definition for
   definition: ``schema_problems``), audit chains that verify (no audit row
   edited around the triggers: app/audit/chain.py) and, for a backup at this
   code's schema, data that holds the invariants (app/ops/invariants.py, as the
   PostgreSQL restore checks; they are written against the newest schema, so a
   backup that lacks migrations is checked by the integrity job once upgraded).
   Any failure refuses the restore before the live database was so much as opened.
3. Keep a pre-restore copy of the current database (online backup API).
4. Swap: remove the old -wal/-shm (their content belongs to the old file and is
   in the pre-restore copy), then os.replace the checked file into place.
5. Check the restored database again; if that fails, put the pre-restore copy
   back. On success the pre-restore copy is archived as
   ``pre_restore_YYYYmmdd_HHMMSS.sqlite.gz`` in the backup directory, so the
   restore itself can be undone with ``restore-database <that file>``.

Command line: ``scripts/restore-database`` (``python -m app.ops.restore``).
"""
import argparse
import gzip
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from app import files, migrator
from app.audit import chain
from app.db.sqlite import Connection, dict_row
from app.ops import checks, invariants, locks
from app.ops.backup import (
    BACKUP_KIND,
    PRE_RESTORE_KIND,
    SQLITE_SUFFIX,
    BackupError,
    ProgressPrinter,
    backup_name,
    compress_atomically,
    copy_database,
    fsync_directory,
    human_age,
    human_size,
    latest_backup,
    list_backups,
)

GZIP_MAGIC = b"\x1f\x8b"
SIDE_FILES = ("-wal", "-shm", "-journal")
CHUNK_BYTES = 1024 * 1024


class RestoreRefused(RuntimeError):
    """Nothing was changed: the backup is unusable or the database is in use."""


class RestoreFailed(RuntimeError):
    """The restored database failed its final check; the previous one was put back."""


@dataclass(frozen=True)
class RestoreResult:
    source: Path
    versions: list
    pending: list  # migrations this code has that the backup lacks
    pre_restore_copy: Path | None


def resolve_backup(spec, backup_dir):
    """``latest`` (the newest database_backup_* in backup_dir), a path to a file, or a
    bare file name (as ``--list`` prints it) looked up in backup_dir.

    A path that exists as given wins: a name given with a directory means that file.
    """
    if spec == "latest":
        backup = latest_backup(backup_dir, SQLITE_SUFFIX)
        if backup is None:
            raise RestoreRefused(f"there is no backup in {backup_dir}")
        return backup.path
    path = Path(spec)
    if path.is_file():
        return path
    if path.name == spec:  # no directory part: a name from --list
        in_backup_dir = Path(backup_dir) / spec
        if in_backup_dir.is_file():
            return in_backup_dir
        raise RestoreRefused(f"no backup file {spec} here or in {backup_dir} "
                             f"(restore-database --list shows the backups)")
    raise RestoreRefused(f"no backup file at {path}")


def unpack(backup_path, target_path, *, progress=None):
    """Write the database inside ``backup_path`` (gzip, or a plain SQLite file) to target_path.

    ``progress(done, total)`` in bytes of the archive read, after every chunk.
    """
    with open(backup_path, "rb") as source:
        magic = source.read(len(checks.SQLITE_HEADER))
    try:
        if magic.startswith(GZIP_MAGIC):
            total = os.path.getsize(backup_path)
            with open(backup_path, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as archive, \
                    open(target_path, "wb") as target:
                while chunk := archive.read(CHUNK_BYTES):
                    target.write(chunk)
                    if progress is not None:
                        progress(raw.tell(), total)
        elif magic == checks.SQLITE_HEADER:
            shutil.copyfile(backup_path, target_path)
        else:
            raise RestoreRefused(f"{backup_path} is neither a gzip archive nor an SQLite database")
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise RestoreRefused(f"{backup_path} is truncated or corrupted: {error}") from error
    if not checks.looks_like_sqlite(target_path):
        raise RestoreRefused(f"{backup_path} does not contain an SQLite database")


# Quoted parts of SQL text: string literals keep their case, identifiers in quotes too.
_QUOTED = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])""")
EXCERPT_CHARS = 60


def normalized_sql(sql):
    """``sql`` with its layout and the case of unquoted text normalized.

    Keywords and bare identifiers are case-insensitive in SQLite, and indentation
    means nothing, so neither can hide or fake a difference. A run of whitespace
    becomes one space, or one newline if it holds one: a line break ends a
    ``--`` comment, so moving one changes what is SQL. Quoted text (string
    literals in CHECKs, WHEN clauses and RAISE messages) is compared exactly.
    """
    parts = _QUOTED.split(sql)
    for i in range(0, len(parts), 2):  # the even parts are outside quotes
        parts[i] = re.sub(r"\s+", _one_blank, parts[i]).lower()
    return "".join(parts).strip()


def _one_blank(match):
    return "\n" if "\n" in match.group() else " "


def schema_definitions(conn):
    """{(type, name): normalized sql} of every table, index, trigger and view.

    SQLite's own objects (sqlite_sequence, sqlite_stat1, automatic indexes) are
    left out: SQLite makes and changes them itself.
    """
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples, whichever row factory the connection has
    cursor.execute("SELECT type, name, sql FROM sqlite_schema "
                   "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    return {(kind, name): normalized_sql(sql or "") for kind, name, sql in cursor}


def reference_definitions(migrations, versions):
    """The schema definitions that running exactly ``versions`` creates, as the migrator
    runs them (app/migrator.py: its table, then one transaction per migration), on an
    empty in-memory database."""
    from app.db import connect, transaction

    reference = connect(":memory:")
    try:
        migrator.ensure_table(reference)
        for version in versions:
            with transaction(reference):
                migrator.apply(migrator.load_module(migrations[version]), reference)
        return schema_definitions(reference)
    finally:
        reference.close()


def _first_difference(expected, actual):
    """Where two definitions part, as a short excerpt of each."""
    at = next((i for i, (a, b) in enumerate(zip(expected, actual)) if a != b),
              min(len(expected), len(actual)))
    start = max(0, at - 20)
    return (f"expected ...{expected[start:at + EXCERPT_CHARS]!r}, "
            f"found ...{actual[start:at + EXCERPT_CHARS]!r}")


def schema_problems(conn, migrations_dir):
    """Why the database behind ``conn`` does not fit this code's migrations (empty: it fits).

    The expected schema is built by running exactly the migrations the database
    says it has on an empty in-memory database; then the full definition of every
    table, index, trigger and view is compared: a missing, extra or altered object
    (a trigger that no longer refuses, an index no longer UNIQUE, a CHECK dropped)
    is a problem. Returns (problems, versions).
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    if "schema_migrations" not in tables:
        return ["it has no schema_migrations table (not a RapidCare database)"], []
    versions = sorted(row[0] for row in conn.execute("SELECT version FROM schema_migrations"))
    known = {migration.version: migration for migration in migrator.discover(migrations_dir)}
    unknown = [version for version in versions if version not in known]
    if unknown:
        return [f"it was made by newer code: migrations {unknown} are unknown here"], versions
    if not versions:
        return ["its schema_migrations table is empty"], versions

    expected = reference_definitions(known, versions)
    actual = schema_definitions(conn)
    problems = [f"{kind} {name} is missing" for kind, name in sorted(expected.keys() - actual.keys())]
    problems += [f"{kind} {name} is not made by its migrations (unexpected)"
                 for kind, name in sorted(actual.keys() - expected.keys())]
    problems += [f"{kind} {name} differs from its migrations' definition: "
                 f"{_first_difference(expected[kind, name], actual[kind, name])}"
                 for kind, name in sorted(expected.keys() & actual.keys())
                 if expected[kind, name] != actual[kind, name]]
    return problems, versions


def check_candidate(path, migrations_dir):
    """Refuse unless the unpacked backup at ``path`` is sound and fits this code.

    Returns (its migration versions, this code's migrations it lacks). Leaves the
    file in rollback-journal mode, so it is a single self-contained file for the swap.
    """
    conn = sqlite3.connect(path, isolation_level=None, factory=Connection)
    try:
        problems = checks.all_problems(conn)
        if problems:
            raise RestoreRefused("the backup failed its checks: " + "; ".join(problems))
        problems, versions = schema_problems(conn, migrations_dir)
        if problems:
            raise RestoreRefused("the backup's schema does not fit this code: " + "; ".join(problems))
        conn.row_factory = dict_row  # the audit chain's queries read rows by column name
        problems = chain.problems_before_restore(conn, versions)
        if problems:
            raise RestoreRefused("the backup's audit trail was edited: " + "; ".join(problems))
        known = [migration.version for migration in migrator.discover(migrations_dir)]
        pending = [version for version in known if version not in versions]
        if not pending:
            violations = invariants.check_all(conn, integrity=False)  # integrity: just above
            if violations:
                raise RestoreRefused("the backup's data breaks invariants: " + "; ".join(violations))
        conn.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.DatabaseError as error:
        raise RestoreRefused(f"the backup is not a readable database: {error}") from error
    finally:
        conn.close()
    return versions, pending


def keep_pre_restore_copy(database, copy_path, *, progress=None):
    """Copy the current database to ``copy_path`` (online backup API).

    A current file that SQLite cannot read at all (often the very reason for the
    restore) is kept byte for byte instead. ``progress(done, total)`` in pages.
    """
    try:
        conn = sqlite3.connect(database, isolation_level=None)
        try:
            copy_database(conn, copy_path, progress=progress)
        finally:
            conn.close()
    except sqlite3.OperationalError:
        raise  # locked, disk full, I/O: not a reason to copy raw bytes instead
    except sqlite3.DatabaseError:  # "file is not a database", "malformed"
        shutil.copyfile(database, copy_path)
    files.restrict(copy_path)  # the patients' data, like the database: owner-only


def _remove_side_files(database):
    for suffix in SIDE_FILES:
        try:
            os.unlink(database + suffix)
        except FileNotFoundError:
            pass


def _copy_ownership(model, path):
    """The restored file must stay usable by the service's user: the owner of the file it
    replaces. Its mode is owner-only (0600, app/files.py) whatever the old file's was."""
    os.chmod(path, files.FILE_MODE)
    if not os.path.exists(model):
        return
    stat = os.stat(model)
    if os.geteuid() == 0:
        os.chown(path, stat.st_uid, stat.st_gid)


def swap_in(new_file, database):
    """Put ``new_file`` in place of ``database``; the old -wal/-shm must not outlive their file."""
    _copy_ownership(database, new_file)
    _remove_side_files(database)
    os.replace(new_file, database)
    fsync_directory(os.path.dirname(database))


def check_restored(database, versions):
    from app.db import connect

    conn = connect(database)  # as the service will open it (WAL, foreign keys)
    try:
        problems = checks.all_problems(conn)
        have = sorted(row["version"] for row in conn.execute("SELECT version FROM schema_migrations"))
        if have != versions:
            problems.append(f"schema_migrations reads {have}, expected {versions}")
    finally:
        conn.close()
    if problems:
        raise RestoreFailed("; ".join(problems))


def restore(spec, *, database, backup_dir, migrations_dir, now, force=False, log=print,
            progress=None):
    """Replace ``database`` with the backup named by ``spec`` (see ``resolve_backup``).

    ``progress(phase, done, total)`` on the long steps: "unpack" (bytes of the
    archive), "keep" (pages of the pre-restore copy), "archive" (bytes compressed).
    """
    def report(phase):
        return (lambda done, total: progress(phase, done, total)) if progress else None

    database = os.path.abspath(database)
    directory = os.path.dirname(database)
    try:
        lock = locks.acquire(locks.service_lock_path(database), exclusive=True)
    except locks.LockHeld:
        if not force:
            raise RestoreRefused(
                f"the database is in use: the service or the scheduler holds "
                f"{locks.service_lock_path(database)}. Stop them first (or pass --force)."
            ) from None
        log("restore: WARNING the database is in use; going ahead because of --force. "
            "Restart the service and the scheduler afterwards.")
        lock = None
    try:
        source = resolve_backup(spec, backup_dir)
        log(f"restore: checking {source}")
        os.makedirs(directory, mode=files.DIR_MODE, exist_ok=True)
        fd, candidate = tempfile.mkstemp(prefix=".restore-", suffix=".sqlite3", dir=directory)
        os.close(fd)
        pre_copy = None
        try:
            unpack(source, candidate, progress=report("unpack"))
            log(f"restore: checking the unpacked database ({human_size(os.path.getsize(candidate))}: "
                f"integrity_check, foreign_key_check, schema, audit chains, invariants)")
            versions, pending = check_candidate(candidate, migrations_dir)
            log(f"restore: backup ok (integrity_check, foreign_key_check, schema with "
                f"{len(versions)} migration(s), audit chains"
                f"{', invariants' if not pending else ''})")

            if os.path.exists(database):
                copy_path = f"{database}.pre-restore-{now.strftime('%Y%m%d_%H%M%S')}"
                try:
                    keep_pre_restore_copy(database, copy_path, progress=report("keep"))
                except (OSError, sqlite3.Error) as error:
                    if os.path.exists(copy_path):
                        os.unlink(copy_path)
                    raise RestoreRefused(f"could not keep a copy of the current database: "
                                         f"{error}") from error
                pre_copy = copy_path
                log(f"restore: kept a copy of the current database as {pre_copy}")
            try:
                swap_in(candidate, database)
                check_restored(database, versions)
            except BaseException as error:
                _roll_back(pre_copy, database, log)
                pre_copy = None
                if isinstance(error, RestoreFailed):
                    raise RestoreFailed(f"the restored database failed its check ({error}); "
                                        f"the previous database was put back") from error
                raise
            log(f"restore: {database} now holds the data of {source.name}")
            archived = _archive_pre_restore_copy(pre_copy, backup_dir, now, log, report("archive"))
            if archived is not None:
                pre_copy = None
        finally:
            if os.path.exists(candidate):
                os.unlink(candidate)
            if pre_copy is not None and os.path.exists(pre_copy):
                log(f"restore: the pre-restore copy stays at {pre_copy}")
    finally:
        if lock is not None:
            lock.close()
    if pending:
        log(f"restore: the backup lacks migrations {pending}; "
            f"`flask db upgrade` (run by scripts/serve) applies them")
    return RestoreResult(source, versions, pending, archived)


def _roll_back(pre_copy, database, log):
    _remove_side_files(database)
    if pre_copy is not None:
        if os.path.exists(database):
            _copy_ownership(database, pre_copy)
        os.replace(pre_copy, database)
    elif os.path.exists(database):
        os.unlink(database)  # there was no database before the restore
    fsync_directory(os.path.dirname(database))
    log("restore: ROLLED BACK to the database as it was before")


def _archive_pre_restore_copy(pre_copy, backup_dir, now, log, progress=None):
    """Compress the pre-restore copy into the backup directory; keep it plain if that fails."""
    if pre_copy is None:
        return None
    target = Path(backup_dir) / backup_name(now, PRE_RESTORE_KIND)
    try:
        files.private_directory(backup_dir)
        compress_atomically(pre_copy, target, mtime=int(now.timestamp()), progress=progress)
    except (BackupError, OSError) as error:
        log(f"restore: could not archive the pre-restore copy: {error}")
        return None
    os.unlink(pre_copy)
    log(f"restore: the previous database is archived as {target} "
        f"(restore-database {target} undoes this restore)")
    return target


def print_list(backup_dir, now):
    backups = list_backups(backup_dir)
    if not backups:
        print(f"no backups in {backup_dir}")
        return
    latest = latest_backup(backup_dir)
    print(f"backups in {backup_dir} (oldest first, times in UTC):")
    for backup in backups:
        age = human_age((now - backup.created_at).total_seconds())
        marker = "  <- latest" if backup == latest else ""
        kind = "" if backup.kind == BACKUP_KIND else "  (taken before a restore)"
        print(f"  {backup.path.name}  {human_size(backup.size):>10}  "
              f"{age:>10} old{kind}{marker}")


def main(argv=None):
    from app.config import ConfigError, standalone_config
    from app.timeutil import utcnow

    parser = argparse.ArgumentParser(
        prog="restore-database",
        description="Restore the database from a backup (checked first; the current "
                    "database is kept and put back if anything fails).",
    )
    parser.add_argument("backup", nargs="?",
                        help="'latest', a backup file, or a file name in the backup directory")
    parser.add_argument("--list", action="store_true", help="list the backups and exit")
    parser.add_argument("--force", action="store_true",
                        help="restore even though the service or scheduler holds the database")
    parser.add_argument("--database", help="database file (default RAPIDCARE_DATABASE)")
    parser.add_argument("--backup-dir", help="backup directory (default RAPIDCARE_BACKUP_DIR)")
    parser.add_argument("--maintenance-db", default="postgres",
                        help="PostgreSQL only: the database to connect to while the live one "
                             "is swapped (default postgres)")
    args = parser.parse_args(argv)
    files.owner_only_umask()  # what this process writes is owner-only (app/files.py)
    if not args.list and not args.backup:
        parser.error("name a backup (a file, a name from --list, or 'latest'), or use --list")
    try:
        config = standalone_config()
    except ConfigError as error:
        parser.exit(1, f"restore FAILED: {error}\n")
    backup_dir = os.path.abspath(args.backup_dir or config["BACKUP_DIR"])
    now = utcnow()
    if args.list:
        print_list(backup_dir, now)
        return 0
    if config.get("DATABASE_URL"):
        if args.database:
            parser.error("--database names an SQLite file, but RAPIDCARE_DATABASE_URL "
                         "selects PostgreSQL")
        from app.ops import pg_restore

        return pg_restore.command(args.backup, url=config["DATABASE_URL"], backup_dir=backup_dir,
                                  config=config, now=now, force=args.force,
                                  maintenance_db=args.maintenance_db)
    database = os.path.abspath(args.database or config["DATABASE"])
    try:
        restore(args.backup, database=database, backup_dir=backup_dir,
                migrations_dir=config["MIGRATIONS_DIR"], now=now, force=args.force,
                progress=ProgressPrinter(sys.stdout, "restore"))
    except RestoreRefused as error:
        print(f"restore REFUSED: {error}\nrestore: the database was not changed", file=sys.stderr)
        return 1
    except (RestoreFailed, sqlite3.Error, OSError) as error:
        print(f"restore FAILED: {error}", file=sys.stderr)
        return 1
    print("restore: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
