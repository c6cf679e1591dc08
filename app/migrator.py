"""Numbered Python migrations: ``migrations/NNNN_name.py``, one sequence for both backends.

A migration module has a docstring and, side by side, its two forms: ``SQLITE``
and ``POSTGRES``, lists of statements run in order on that backend. (A migration
that must compute something may define ``up(conn)`` instead and look at
``conn.dialect``.) Each pending migration runs in its own transaction together
with the row that records it, so a failing migration leaves nothing behind and
stays pending; two processes upgrading at once cannot apply one twice (SQLite:
BEGIN IMMEDIATE; PostgreSQL: an advisory lock held by the transaction).
A migration's SQL is never edited once landed.

Migrations go both ways. A migration's undo is ``SQLITE_DOWN`` and
``POSTGRES_DOWN`` beside its forward lists (or ``down(conn)`` mirroring
``up(conn)``). ``downgrade(conn, dir, version)`` undoes every applied migration
newer than ``version``, newest first, each in its own transaction together with
deleting its schema_migrations row; it refuses, before changing anything, when
one of them has no undo. 0001 (the seed schema) has none: the floor of a
downgrade is 0001. A migration whose effect cannot be undone from the database
alone says so with ``IRREVERSIBLE = "why"`` instead of an undo (0120: personal
fields sealed with keys the database does not hold); a downgrade below it is
refused with that reason. ``new_migration`` writes the next module from a template.
"""
import importlib.util
import re
import time
from dataclasses import dataclass
from pathlib import Path

from app.db import transaction, writes_outside_transaction
from app.timeutil import to_iso, utcnow

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.py$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(migrations_dir):
    found = []
    for path in sorted(Path(migrations_dir).glob("*.py")):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers in {migrations_dir}")
    return found


def load_module(migration):
    spec = importlib.util.spec_from_file_location(
        f"rapidcare_migration_{migration.version:04d}", migration.path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def statements(module, dialect):
    """The statements of a migration for ``dialect`` ("sqlite" or "postgres")."""
    return getattr(module, dialect.upper())


def has_down(module):
    return hasattr(module, "down") or (
        hasattr(module, "SQLITE_DOWN") and hasattr(module, "POSTGRES_DOWN"))


def apply(module, conn):
    """Run one migration's statements on ``conn`` (inside the caller's transaction)."""
    if hasattr(module, "up"):
        module.up(conn)
        return
    for statement in statements(module, conn.dialect):
        conn.execute(statement)


def undo(module, conn):
    """Run one migration's undo on ``conn`` (inside the caller's transaction)."""
    if hasattr(module, "down"):
        module.down(conn)
        return
    for statement in getattr(module, f"{conn.dialect.upper()}_DOWN"):
        conn.execute(statement)


class MigrationError(RuntimeError):
    """A downgrade or a new migration refused; nothing was changed."""


SCHEMA_MIGRATIONS = {
    "sqlite": """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version      INTEGER PRIMARY KEY,
            name         TEXT NOT NULL,
            applied_at   TEXT NOT NULL,
            execution_ms INTEGER NOT NULL
        ) STRICT
    """,
    "postgres": """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version      integer PRIMARY KEY,
            name         text NOT NULL,
            applied_at   timestamptz NOT NULL,
            execution_ms integer NOT NULL
        )
    """,
}

# pg_advisory_xact_lock key: any fixed number, the same in every process ("RCmigr").
_MIGRATION_LOCK = 0x52434D69677200


def ensure_table(conn):
    # Before any migration's transaction, and also when only the status is read
    # (on a request connection too): app/db's one named exception to the rule.
    if conn.dialect == "postgres" and conn.execute(
            "SELECT to_regclass('schema_migrations') IS NOT NULL AS found").fetchone()["found"]:
        return  # CREATE ... IF NOT EXISTS still takes a lock and notices; skip it when there
    with writes_outside_transaction(conn):
        conn.execute(SCHEMA_MIGRATIONS[conn.dialect])


def applied(conn):
    ensure_table(conn)
    rows = conn.execute(
        "SELECT version, name, applied_at, execution_ms FROM schema_migrations ORDER BY version"
    ).fetchall()
    return {row["version"]: row for row in rows}


def status(conn, migrations_dir):
    """Every known migration with whether (and when, how fast) it was applied."""
    done = applied(conn)
    result = []
    for migration in discover(migrations_dir):
        row = done.get(migration.version)
        result.append(
            {
                "version": migration.version,
                "name": migration.name,
                "applied": row is not None,
                "appliedAt": row["applied_at"] if row else None,
                "executionMs": row["execution_ms"] if row else None,
            }
        )
    return result


def upgrade(conn, migrations_dir, *, log=print, target=None):
    """Apply every pending migration in order (up to ``target`` if given); return
    the versions applied."""
    return _locked(conn, lambda: _upgrade(conn, migrations_dir, log, target))


def _locked(conn, run):
    if conn.dialect != "postgres":
        return run()
    # One migrator at a time on PostgreSQL: a session lock taken before any
    # transaction, so the next one's transactions see what this one committed.
    conn.execute("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
    try:
        return run()
    finally:
        conn.execute("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))


def _upgrade(conn, migrations_dir, log, target):
    ensure_table(conn)
    newly_applied = []
    for migration in discover(migrations_dir):
        if target is not None and migration.version > target:
            break
        module = load_module(migration)
        with transaction(conn):
            already = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if already:
                continue
            started = time.perf_counter()
            apply(module, conn)
            elapsed_ms = round((time.perf_counter() - started) * 1000)
            conn.execute(
                """
                INSERT INTO schema_migrations (version, name, applied_at, execution_ms)
                VALUES (:version, :name, :applied_at, :execution_ms)
                """,
                {
                    "version": migration.version,
                    "name": migration.name,
                    "applied_at": to_iso(utcnow()),
                    "execution_ms": elapsed_ms,
                },
            )
        newly_applied.append(migration.version)
        log(f"applied {migration.version:04d}_{migration.name} ({elapsed_ms} ms)")
    return newly_applied


def downgrade(conn, migrations_dir, target, *, log=print):
    """Undo every applied migration newer than ``target``, newest first; return the
    versions undone. Refused (MigrationError, nothing changed) when ``target`` is not
    an applied version or one of them has no undo or no file."""
    return _locked(conn, lambda: _downgrade(conn, migrations_dir, target, log))


def _downgrade(conn, migrations_dir, target, log):
    done = applied(conn)
    if target not in done:
        raise MigrationError(f"{target:04d} is not an applied migration; applied: "
                             + (", ".join(f"{v:04d}" for v in done) or "none"))
    files = {m.version: m for m in discover(migrations_dir)}
    newer = sorted((v for v in done if v > target), reverse=True)
    missing = [f"{v:04d}" for v in newer if v not in files]
    if missing:
        raise MigrationError(f"no file in {migrations_dir} for applied migration(s) "
                             f"{', '.join(missing)}; nothing was changed")
    modules = {v: load_module(files[v]) for v in newer}
    irreversible = [f"{v:04d}_{files[v].name} ({modules[v].IRREVERSIBLE})"
                    for v in newer if getattr(modules[v], "IRREVERSIBLE", None)]
    if irreversible:
        raise MigrationError(f"cannot downgrade to {target:04d}: cannot be undone: "
                             f"{', '.join(irreversible)}; nothing was changed")
    without = [f"{v:04d}_{files[v].name}" for v in newer if not has_down(modules[v])]
    if without:
        raise MigrationError(f"cannot downgrade to {target:04d}: no SQLITE_DOWN/POSTGRES_DOWN "
                             f"(or down()) in {', '.join(without)}; nothing was changed")
    undone = []
    for version in newer:
        started = time.perf_counter()
        with transaction(conn):
            undo(modules[version], conn)
            conn.execute("DELETE FROM schema_migrations WHERE version = ?", (version,))
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        undone.append(version)
        log(f"undone {version:04d}_{files[version].name} ({elapsed_ms} ms)")
    return undone


# Names of new migrations: what discover() accepts, starting with a letter, kept short.
_NEW_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")

TEMPLATE = '''"""TODO: what this migration changes and why (the issue it serves).

Both backends: SQLITE and POSTGRES run in order in one transaction; SQLITE_DOWN and
POSTGRES_DOWN undo them (`flask db downgrade`), in order, in one transaction.
"""

SQLITE = [
]

POSTGRES = [
]

SQLITE_DOWN = [
]

POSTGRES_DOWN = [
]
'''


def new_migration(migrations_dir, name):
    """Write ``migrations_dir/NNNN_<name>.py`` from TEMPLATE; return its path. NNNN is the
    next multiple of ten after the highest number there (a new piece of work starts a
    new ten; 0061-0065 show the numbers between are for follow-ups, taken by hand)."""
    if not _NEW_NAME.match(name or ""):
        raise MigrationError(f"bad migration name {name!r}: lower-case letters, digits and "
                             "underscores, starting with a letter, at most 60 characters")
    versions = [m.version for m in discover(migrations_dir)]
    version = (max(versions, default=0) // 10 + 1) * 10
    if version > 9999:
        raise MigrationError("no migration numbers left after 9999")
    path = Path(migrations_dir) / f"{version:04d}_{name}.py"
    with open(path, "x") as file:  # "x": never overwrite
        file.write(TEMPLATE)
    return path
