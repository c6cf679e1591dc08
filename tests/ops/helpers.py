"""Builders for the operations tests: databases on disk, script runs, file fingerprints."""
import gzip
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from app import migrator
from app.audit import chain
from app.config import DEFAULTS, TEST_OVERRIDES
from app.db import connect, transaction
from app.timeutil import to_iso
from tests.factories import Factory

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = DEFAULTS["MIGRATIONS_DIR"]


def migrated_database(path):
    """A migrated database at ``path`` with a little of everything; returns the path."""
    conn = connect(str(path))
    try:
        migrator.upgrade(conn, MIGRATIONS_DIR, log=lambda _line: None)
        make = Factory(conn)
        hospital = make.hospital(resources={"beds": 5, "icu": 2}, prices={"beds": 150000})
        patient = make.user()
        make.authority(hospital)
        make.booking(patient, hospital, status="approved")
        make.booking(patient, hospital, resource_type="icu")
    finally:
        conn.close()
    return str(path)


def fingerprint(database):
    """The bytes of the database and of whatever -wal/-shm/-journal lies beside it."""
    result = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(f"{database}{suffix}")
        result[suffix or "main"] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    return result


def dump(database):
    """Every row of the database as SQL text (to compare contents, not bytes)."""
    conn = sqlite3.connect(database)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def unpack(backup_path, target):
    with gzip.open(backup_path, "rb") as archive:
        Path(target).write_bytes(archive.read())
    return str(target)


def run_module(module, *args, database, backup_dir, env=None, timeout=120):
    """``python -m module args`` as a separate process, configured for a temp database."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=ROOT, env=script_env(database, backup_dir, env), capture_output=True, text=True,
        timeout=timeout,
    )


def run_script(name, *args, database, backup_dir, env=None, cwd=None, timeout=180):
    """One of scripts/* exactly as an operator runs it (bootstrap included)."""
    return subprocess.run(
        [str(ROOT / "scripts" / name), *map(str, args)],
        cwd=cwd or ROOT, env=script_env(database, backup_dir, env), capture_output=True,
        text=True, timeout=timeout,
    )


def script_env(database, backup_dir, extra=None):
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAPIDCARE_")}
    env.update({
        "RAPIDCARE_DATABASE": str(database),
        "RAPIDCARE_BACKUP_DIR": str(backup_dir),
        "RAPIDCARE_LOG_LEVEL": "WARNING",
        # the tests' fixed key: scripts and the scheduler read sealed fields too
        "RAPIDCARE_ENCRYPTION_KEYS": TEST_OVERRIDES["ENCRYPTION_KEYS"],
        **(extra or {}),
    })
    return env


# --- concurrent writers (run in their own processes) ----------------------------

WRITER_SCHEMA = [
    """
    CREATE TABLE test_parent (
        id INTEGER PRIMARY KEY, writer INTEGER NOT NULL, seq INTEGER NOT NULL, payload BLOB
    ) STRICT
    """,
    """
    CREATE TABLE test_child (
        id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES test_parent (id),
        n INTEGER NOT NULL
    ) STRICT
    """,
    "CREATE TABLE test_progress (writer INTEGER PRIMARY KEY, committed INTEGER NOT NULL) STRICT",
]
CHILDREN_PER_PARENT = 3


def add_writer_tables(database, *, writers, prefill_rows):
    conn = connect(database)
    try:
        with transaction(conn):
            for statement in WRITER_SCHEMA:
                conn.execute(statement)
            conn.executemany("INSERT INTO test_progress (writer, committed) VALUES (?, 0)",
                             [(w,) for w in range(writers)])
            # Bulk (writer -1), so the database spans many backup steps.
            conn.executemany(
                "INSERT INTO test_parent (writer, seq, payload) VALUES (-1, ?, randomblob(1024))",
                [(i,) for i in range(prefill_rows)],
            )
    finally:
        conn.close()


def writer_loop(database, writer, stop):
    """Commit transactions until told to stop: each is one parent, its children and the
    writer's progress counter, so a partial transaction would be visible in a copy."""
    conn = connect(database, busy_timeout_ms=30_000)
    seq = 0
    try:
        while not stop.is_set():
            seq += 1
            with transaction(conn):
                parent = conn.execute(
                    "INSERT INTO test_parent (writer, seq, payload) VALUES (?, ?, randomblob(256)) "
                    "RETURNING id", (writer, seq),
                ).fetchone()["id"]
                conn.executemany("INSERT INTO test_child (parent_id, n) VALUES (?, ?)",
                                 [(parent, n) for n in range(CHILDREN_PER_PARENT)])
                conn.execute("UPDATE test_progress SET committed = ? WHERE writer = ?",
                             (seq, writer))
    finally:
        conn.close()


def writer_progress(conn):
    return {row["writer"]: row["committed"]
            for row in conn.execute("SELECT writer, committed FROM test_progress")}


# --- PostgreSQL (the suite's PostgreSQL half) -------------------------------------

def add_a_little_of_everything(conn):
    """What migrated_database puts in, on any connection."""
    make = Factory(conn)
    hospital = make.hospital(resources={"beds": 5, "icu": 2}, prices={"beds": 150000})
    patient = make.user()
    make.authority(hospital)
    make.booking(patient, hospital, status="approved")
    make.booking(patient, hospital, resource_type="icu")


def pg_database(name, template):
    """A PostgreSQL database ``name`` copied from the suite's migrated template, with a
    little of everything in it; returns its URL. Drop it (and whatever the operations
    made beside it) with drop_pg_databases(name)."""
    from app.db import postgres
    from tests import pg

    url = pg.create_database(name, template=template)
    conn = postgres.connect(url, DEFAULTS)
    try:
        add_a_little_of_everything(conn)
    finally:
        conn.close()
    return url


def drop_pg_databases(prefix):
    """Drop every database whose name starts with ``prefix`` (scratch, candidate and
    pre-restore databases are named after the live one)."""
    import psycopg

    from tests import pg

    with psycopg.connect(pg.ADMIN_URL, autocommit=True) as admin:
        names = [row[0] for row in admin.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,))]
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_databases(prefix):
    import psycopg

    from tests import pg

    with psycopg.connect(pg.ADMIN_URL, autocommit=True) as admin:
        return sorted(row[0] for row in admin.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)))


def pg_dump_lines(url, *options):
    """pg_dump's text output without comments, blank lines and the per-run \\restrict key,
    sorted (to compare contents, not the order rows happen to be stored in)."""
    text = subprocess.run(["pg_dump", *options, "--dbname", url], capture_output=True,
                          text=True, check=True).stdout
    return sorted(line for line in text.splitlines()
                  if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict")))


def pg_data(url):
    """Every row (and sequence value) of the database at ``url``."""
    return pg_dump_lines(url, "--data-only")


def pg_fingerprint(url):
    """Which database holds the name (its oid), its schema and its data: a restore
    that swapped or changed anything shows here."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()"
                           ).fetchone()[0]
    return oid, pg_dump_lines(url, "--schema-only"), pg_data(url)


def seal_one_admin_audit_row(conn, make, now):
    """One admin audit row, sealed into its hash chain (app/audit/chain.py)."""
    admin = make.user(role="admin")
    with transaction(conn):
        conn.execute(
            "INSERT INTO admin_audit_log (actor_id, action, target_type, target_id, details, "
            "created_at) VALUES (?, 'hospital.approved', 'hospital', 7, '{}', ?)",
            (admin["id"], to_iso(now)))
    chain.seal_now(conn, now=now)
