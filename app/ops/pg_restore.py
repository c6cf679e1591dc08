"""Restore a PostgreSQL database from a pg_dump backup, never leaving things worse.

The SQLite twin is app/ops/restore.py; ``restore.main`` hands over to this module
when the database is PostgreSQL. Order of work (``restore``):

1. The service must be stopped: refused while any session of the service or the
   scheduler (application_name 'rapidcare', app/db/postgres.py) is connected to
   the live database, the PostgreSQL form of the SQLite service lock. ``force``
   terminates those sessions instead. Any other session (psql, a report) refuses
   the restore too: a database cannot be renamed while someone is connected.
2. Restore the dump into a NEW database beside the live one (``pg_restore
   --exit-on-error --single-transaction``: a damaged archive, or rows that break a
   constraint, load nothing). Check it there: schema_migrations lists only
   migrations this code has; the schema, definition for definition, is the one
   those migrations create (``pg_dump --schema-only`` of the candidate against
   that of a scratch database migrated from migrations/, both normalized); the
   invariants hold. Any failure drops the candidate: the live database was never
   touched.
3. Swap, in one transaction on the maintenance database: the live database is
   renamed to ``<name>_prerestore_YYYYmmddHHMMSS`` (kept: the undo), the candidate
   takes the live name.
4. Check the restored database under its live name again; if that fails, swap back.

Connections for the renames go to the maintenance database (``--maintenance-db``,
default ``postgres``): one cannot rename the database one is connected to. Run it
as the owner of the live database (or a superuser) with CREATEDB.
"""
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from app import migrator
from app.audit import chain
from app.db import transaction
from app.ops import invariants
from app.ops.backup import PGDUMP_SUFFIX, latest_backup
from app.ops.pg_backup import (
    ToolFailed,
    connect,
    create_database,
    database_exists,
    database_name,
    drop_database,
    looks_like_pgdump,
    restore_dump,
    run_tool,
    scratch_name,
    url_for_database,
)
from app.ops.restore import RestoreFailed, RestoreRefused

APPLICATION_NAME = "rapidcare"  # what every service and scheduler connection calls itself
PRE_RESTORE_STAMP = "%Y%m%d%H%M%S"
DIFF_LINES = 12


@dataclass(frozen=True)
class PgRestoreResult:
    source: Path
    versions: list
    pending: list  # migrations this code has that the backup lacks
    pre_restore_database: str | None


def resolve_backup(spec, backup_dir):
    """``latest`` (the newest database_backup_*.pgdump in backup_dir) or a path to a file."""
    if spec == "latest":
        backup = latest_backup(backup_dir, PGDUMP_SUFFIX)
        if backup is None:
            raise RestoreRefused(f"there is no PostgreSQL backup (*{PGDUMP_SUFFIX}) in {backup_dir}")
        return backup.path
    path = Path(spec)
    if not path.is_file():
        raise RestoreRefused(f"no backup file at {path}")
    return path


# --- who is connected -------------------------------------------------------

def sessions(admin, database):
    """Other sessions connected to ``database``: [(pid, application_name, user)]."""
    return [(row["pid"], row["application_name"], row["usename"]) for row in admin.execute(
        """
        SELECT pid, application_name, usename FROM pg_stat_activity
        WHERE datname = ? AND pid <> pg_backend_pid()
        ORDER BY pid
        """, (database,))]


def make_way(admin, database, *, force, log):
    """Refuse while the service (or anyone) is connected to ``database``; with ``force``
    terminate the service's own sessions first."""
    connected = sessions(admin, database)
    service = [pid for pid, application, _user in connected if application == APPLICATION_NAME]
    if service and not force:
        raise RestoreRefused(
            f"the database is in use: {len(service)} session(s) of the service or the "
            f"scheduler (application_name '{APPLICATION_NAME}') are connected to {database}. "
            f"Stop them first (or pass --force).")
    if service:
        log(f"restore: WARNING the database is in use; terminating {len(service)} service "
            f"session(s) because of --force. Restart the service and the scheduler afterwards.")
        for pid in service:
            # waits (up to 5 s) until the session is gone, so it no longer blocks the rename
            admin.execute("SELECT pg_terminate_backend(?, 5000)", (pid,))
    others = [(pid, application, user) for pid, application, user in sessions(admin, database)
              if application != APPLICATION_NAME or not force]
    if others:
        shown = ", ".join(f"pid {pid} ({application or 'no application_name'}, user {user})"
                          for pid, application, user in others[:5])
        raise RestoreRefused(f"other sessions are connected to {database}: {shown}. "
                             f"A database cannot be swapped while anyone is connected.")


# --- the schema ---------------------------------------------------------------

def schema_text(url, config):
    """The schema of the database at ``url`` as pg_dump prints it (no data, owners or
    grants), without what differs between two dumps of one schema: comments (they name
    the server and pg_dump versions), the per-dump \\restrict key and blank lines."""
    text = run_tool("pg_dump", ["--schema-only", "--no-owner", "--no-privileges"],
                    url=url, config=config)
    return [line.rstrip() for line in text.splitlines()
            if line.strip() and not line.startswith("--")
            and not re.match(r"\\(un)?restrict\b", line)]


def migrate_exactly(url, migrations_dir, versions, config):
    """Run exactly ``versions`` on the empty database at ``url``, as the migrator runs them."""
    known = {migration.version: migration for migration in migrator.discover(migrations_dir)}
    conn = connect(url, config)
    try:
        migrator.ensure_table(conn)
        for version in versions:
            with transaction(conn):
                migrator.apply(migrator.load_module(known[version]), conn)
    finally:
        conn.close()


def schema_problems(candidate_url, reference_url, migrations_dir, config):
    """Why the candidate database does not fit this code's migrations (empty: it fits).
    Returns (problems, versions). ``reference_url`` is an empty database to migrate."""
    conn = connect(candidate_url, config)
    try:
        if conn.execute("SELECT to_regclass('public.schema_migrations') IS NULL AS missing"
                        ).fetchone()["missing"]:
            return ["it has no schema_migrations table (not a RapidCare database)"], []
        versions = sorted(row["version"] for row in
                          conn.execute("SELECT version FROM schema_migrations"))
    finally:
        conn.close()
    known = {migration.version for migration in migrator.discover(migrations_dir)}
    unknown = [version for version in versions if version not in known]
    if unknown:
        return [f"it was made by newer code: migrations {unknown} are unknown here"], versions
    if not versions:
        return ["its schema_migrations table is empty"], versions
    migrate_exactly(reference_url, migrations_dir, versions, config)
    expected = schema_text(reference_url, config)
    actual = schema_text(candidate_url, config)
    if expected == actual:
        return [], versions
    diff = [line for line in difflib.unified_diff(expected, actual, "migrations", "backup",
                                                  n=0, lineterm="")
            if not line.startswith(("---", "+++", "@@"))]
    shown = " | ".join(line[0] + " ".join(line[1:].split()) for line in diff[:DIFF_LINES])
    more = f" (+{len(diff) - DIFF_LINES} more lines)" if len(diff) > DIFF_LINES else ""
    return [f"its schema differs from its migrations' definition (- expected, + found): "
            f"{shown}{more}"], versions


def check_candidate(candidate_url, reference_url, migrations_dir, config):
    """Refuse unless the restored candidate fits this code, its data holds the
    invariants and its audit chains verify. Returns its migration versions."""
    problems, versions = schema_problems(candidate_url, reference_url, migrations_dir, config)
    if problems:
        raise RestoreRefused("the backup's schema does not fit this code: " + "; ".join(problems))
    conn = connect(candidate_url, config)
    try:
        violations = invariants.check_all(conn)
        edited = chain.problems_before_restore(conn, versions)
    finally:
        conn.close()
    if violations:
        raise RestoreRefused("the backup's data breaks invariants: " + "; ".join(violations))
    if edited:
        raise RestoreRefused("the backup's audit trail was edited: " + "; ".join(edited))
    return versions


def check_restored(url, versions, config):
    conn = connect(url, config)
    try:
        have = sorted(row["version"] for row in conn.execute("SELECT version FROM schema_migrations"))
        problems = [] if have == versions else [f"schema_migrations reads {have}, expected {versions}"]
        problems += invariants.check_all(conn)
    finally:
        conn.close()
    if problems:
        raise RestoreFailed("; ".join(problems))


# --- the swap -----------------------------------------------------------------

def rename(admin, old, new):
    admin.raw.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
        sql.Identifier(old), sql.Identifier(new)))


def swap(admin, *, live, candidate, pre_restore):
    """live -> pre_restore (when there is a live database), candidate -> live, atomically."""
    with transaction(admin):
        if pre_restore is not None:
            rename(admin, live, pre_restore)
        rename(admin, candidate, live)


def owner_of(admin, database):
    row = admin.execute("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database "
                        "WHERE datname = ?", (database,)).fetchone()
    return row["owner"] if row else None


def restore(spec, *, url, backup_dir, migrations_dir, now, config, force=False,
            maintenance_db="postgres", log=print):
    """Replace the database at ``url`` with the pg_dump named by ``spec`` (a path or "latest")."""
    live = database_name(url)
    admin = connect(url_for_database(url, maintenance_db), config)
    candidate = scratch_name(live, "restore")
    reference = scratch_name(live, "reference")
    pre_restore = f"{live[:36]}_prerestore_{now.strftime(PRE_RESTORE_STAMP)}"
    try:
        if live == maintenance_db:
            raise RestoreRefused(f"the live database is the maintenance database {live}; "
                                 f"name another one with --maintenance-db")
        live_exists = database_exists(admin, live)
        if live_exists:
            make_way(admin, live, force=force, log=log)
            if database_exists(admin, pre_restore):
                raise RestoreRefused(f"a database {pre_restore} exists already; not replacing it")
        source = resolve_backup(spec, backup_dir)
        log(f"restore: checking {source}")
        if not looks_like_pgdump(source):
            raise RestoreRefused(f"{source} is not a pg_dump custom-format archive")
        owner = owner_of(admin, live) if live_exists else None
        for name in (candidate, reference):
            drop_database(admin, name)  # left by a killed run of this pid
        create_database(admin, candidate, owner=owner)
        try:
            create_database(admin, reference)
            try:
                restore_dump(source, url_for_database(url, candidate), config)
            except ToolFailed as error:
                raise RestoreRefused(f"{source} could not be restored (truncated, corrupted "
                                     f"or not a database dump): {error}") from error
            versions = check_candidate(url_for_database(url, candidate),
                                       url_for_database(url, reference), migrations_dir, config)
            drop_database(admin, reference)
            known = [migration.version for migration in migrator.discover(migrations_dir)]
            pending = [version for version in known if version not in versions]
            log(f"restore: backup ok (restored into {candidate}; schema with {len(versions)} "
                f"migration(s) as migrations/ makes it; invariants hold)")

            if live_exists:
                make_way(admin, live, force=force, log=log)  # nobody came back meanwhile
            try:
                swap(admin, live=live, candidate=candidate,
                     pre_restore=pre_restore if live_exists else None)
            except psycopg.errors.ObjectInUse as error:
                raise RestoreRefused(f"the database came into use during the restore: "
                                     f"{error}") from error
            try:
                check_restored(url, versions, config)
            except BaseException as error:
                with transaction(admin):
                    rename(admin, live, candidate)
                    if live_exists:
                        rename(admin, pre_restore, live)
                log("restore: ROLLED BACK to the database as it was before")
                if isinstance(error, RestoreFailed):
                    raise RestoreFailed(f"the restored database failed its check ({error}); "
                                        f"the previous database was put back") from error
                raise
        finally:
            drop_database(admin, candidate)  # gone already when the swap succeeded
            drop_database(admin, reference)
    finally:
        admin.close()
    log(f"restore: database {live} now holds the data of {source.name}")
    if live_exists:
        log(f"restore: the previous database is kept as {pre_restore}; to undo this restore "
            f"(service stopped): ALTER DATABASE {live} RENAME TO <another name>; "
            f"ALTER DATABASE {pre_restore} RENAME TO {live}; drop it once no longer needed")
    if pending:
        log(f"restore: the backup lacks migrations {pending}; "
            f"`flask db upgrade` (run by scripts/serve) applies them")
    return PgRestoreResult(source, versions, pending, pre_restore if live_exists else None)


def command(spec, *, url, backup_dir, config, now, force, maintenance_db):
    """``scripts/restore-database`` on PostgreSQL; returns the exit status."""
    try:
        restore(spec, url=url, backup_dir=backup_dir, migrations_dir=config["MIGRATIONS_DIR"],
                now=now, config=config, force=force, maintenance_db=maintenance_db)
    except RestoreRefused as error:
        print(f"restore REFUSED: {error}\nrestore: the database was not changed", file=sys.stderr)
        return 1
    except (RestoreFailed, ToolFailed, psycopg.Error, OSError) as error:
        print(f"restore FAILED: {error}", file=sys.stderr)
        return 1
    print("restore: done")
    return 0

