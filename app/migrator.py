"""Numbered Python migrations: ``migrations/NNNN_name.py``, one sequence for both backends.

A migration module has a docstring and, side by side, its two forms: ``SQLITE``
and ``POSTGRES``, lists of statements run in order on that backend. (A migration
that must compute something may define ``up(conn)`` instead and look at
``conn.dialect``.) Each pending migration runs in its own transaction together
with the row that records it, so a failing migration leaves nothing behind and
stays pending; two processes upgrading at once cannot apply one twice (SQLite:
BEGIN IMMEDIATE; PostgreSQL: an advisory lock held by the transaction).
Migrations are forward-only, and their SQL is never edited once landed.
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


def apply(module, conn):
    """Run one migration's statements on ``conn`` (inside the caller's transaction)."""
    if hasattr(module, "up"):
        module.up(conn)
        return
    for statement in statements(module, conn.dialect):
        conn.execute(statement)


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


def upgrade(conn, migrations_dir, *, log=print):
    """Apply every pending migration in order; return the versions applied."""
    if conn.dialect != "postgres":
        return _upgrade(conn, migrations_dir, log)
    # One upgrader at a time on PostgreSQL: a session lock taken before any
    # transaction, so the next upgrader's transactions see what this one committed.
    conn.execute("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
    try:
        return _upgrade(conn, migrations_dir, log)
    finally:
        conn.execute("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))


def _upgrade(conn, migrations_dir, log):
    ensure_table(conn)
    newly_applied = []
    for migration in discover(migrations_dir):
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
