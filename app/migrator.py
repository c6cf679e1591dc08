"""Numbered Python migrations: ``migrations/NNNN_name.py`` with a docstring and ``up(conn)``.

Each pending migration runs in its own BEGIN IMMEDIATE transaction together with
the row that records it, so a failing migration leaves nothing behind and stays
pending, and two processes upgrading at once cannot apply one twice. Migrations
are forward-only and never edited once landed. Use one ``conn.execute`` per
statement: ``executescript`` commits behind the transaction's back.
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


def ensure_table(conn):
    # Before any migration's transaction, and also when only the status is read
    # (on a request connection too): app/db's one named exception to the rule.
    with writes_outside_transaction(conn):
        conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version      INTEGER PRIMARY KEY,
                name         TEXT NOT NULL,
                applied_at   TEXT NOT NULL,
                execution_ms INTEGER NOT NULL
            ) STRICT
            """
        )


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
            module.up(conn)
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
