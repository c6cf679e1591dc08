"""Move a deployment over: copy an SQLite database into an empty, migrated PostgreSQL one.

``flask db copy-to-postgres --to postgresql://…`` (app/cli.py) runs ``copy``. Stop the
service first: the copy reads one snapshot of the SQLite file, and whatever the
service writes after it stays behind.

What it does, all in ONE PostgreSQL transaction, so a copy that fails anywhere
(a row the target refuses, a check that does not add up) leaves the target as empty
as it found it:

1. Refuse a target that is not migrated, not at the source's migration versions,
   or not empty; refuse a source or target table the other side lacks (every table
   must be accounted for; only SQLite's own and the FTS5 search tables, which
   PostgreSQL replaces with the generated search_vector, are left out), and a
   column the other side lacks.
2. ``ALTER TABLE … DISABLE TRIGGER USER`` on every table: the rows already hold
   what the triggers wrote on SQLite (status history, notifications), and the
   guards (append-only, transitions, the ledger chain) would refuse rows that are
   history, not new writes. The foreign keys (system triggers) stay on: tables are
   copied parents first. users.hospital_id and hospitals.created_by point at each
   other, so users are copied with hospital_id NULL and given it once the
   hospitals are in (``DEFERRED_COLUMNS``).
3. Each table is copied in batches with COPY, ids kept; generated columns
   (urgency_rank, search_vector) are left for PostgreSQL to compute. Identity
   sequences are then set past the largest id.
4. Triggers back on, then the checks: rows per table, the sum of every money
   column (``*_minor``) per table, and the invariants (app/ops/invariants.py).
   Only then COMMIT.
"""
import sqlite3
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from app.db import postgres, transaction
from app.ops import invariants

BATCH_ROWS = 5000
# Copied as NULL first and filled in after every table is in: the one cycle of
# foreign keys in the schema (users.hospital_id -> hospitals, hospitals.created_by -> users).
DEFERRED_COLUMNS = {"users": ("hospital_id",)}


class CopyRefused(RuntimeError):
    """Nothing was written: the source or the target is not fit for a copy."""


class CopyFailed(RuntimeError):
    """The copy did not check out; it was rolled back and the target is empty again."""


@dataclass
class CopyReport:
    rows: dict = field(default_factory=dict)  # table -> rows copied
    money: dict = field(default_factory=dict)  # (table, column) -> sum, as on both sides


def skipped_sqlite_table(name):
    """SQLite's own tables and the FTS5 search index with its shadow tables."""
    return (name.startswith("sqlite_") or name == "hospitals_fts"
            or name.startswith("hospitals_fts_"))


# --- the two schemas --------------------------------------------------------

def sqlite_tables(source):
    return sorted(row[0] for row in source.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table'") if not skipped_sqlite_table(row[0]))


def sqlite_columns(source, table):
    """Stored columns (PRAGMA table_xinfo's hidden is 2 or 3 for a generated one)."""
    return [row[1] for row in source.execute(f'PRAGMA table_xinfo("{table}")') if row[6] == 0]


def postgres_tables(target):
    return sorted(row["relname"] for row in target.execute(
        """
        SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        """))


def postgres_columns(target, table):
    """Columns one can write, in order: not dropped, not generated."""
    return [row["attname"] for row in target.execute(
        """
        SELECT attname FROM pg_attribute
        WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
        ORDER BY attnum
        """, (f"public.{table}",))]


def identity_columns(target, table):
    return [row["attname"] for row in target.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = ?::regclass AND attidentity <> ''",
        (f"public.{table}",))]


def parents_first(target, tables):
    """``tables`` ordered so that every table comes after the tables its foreign keys
    point at (self-references and DEFERRED_COLUMNS aside)."""
    edges = {table: set() for table in tables}
    for row in target.execute(
            """
            SELECT child.relname AS child, parent.relname AS parent,
                   array(SELECT attname FROM pg_attribute
                         WHERE attrelid = con.conrelid AND attnum = ANY (con.conkey)) AS columns
            FROM pg_constraint AS con
            JOIN pg_class AS child ON child.oid = con.conrelid
            JOIN pg_class AS parent ON parent.oid = con.confrelid
            JOIN pg_namespace AS n ON n.oid = child.relnamespace
            WHERE con.contype = 'f' AND n.nspname = 'public'
            """):
        deferred = set(DEFERRED_COLUMNS.get(row["child"], ()))
        if row["child"] != row["parent"] and not set(row["columns"]) <= deferred:
            edges[row["child"]].add(row["parent"])
    ordered, done = [], set()
    while len(ordered) < len(tables):
        ready = sorted(t for t in tables if t not in done and edges[t] <= done)
        if not ready:
            stuck = sorted(set(tables) - done)
            raise CopyRefused(f"the foreign keys of {stuck} form a cycle that "
                              f"DEFERRED_COLUMNS does not break")
        ordered += ready
        done.update(ready)
    return ordered


def versions(conn):
    return sorted(row[0] if not isinstance(row, dict) else row["version"]
                  for row in conn.execute("SELECT version FROM schema_migrations"))


def plan(source, target):
    """{table: columns to copy}, parents first; raises CopyRefused when the two
    databases do not fit (or the target is not empty)."""
    if not source.execute("SELECT 1 FROM sqlite_schema WHERE name = 'schema_migrations'").fetchone():
        raise CopyRefused("the SQLite database has no schema_migrations table "
                          "(not a RapidCare database)")
    if target.execute("SELECT to_regclass('public.schema_migrations') IS NULL AS missing"
                      ).fetchone()["missing"]:
        raise CopyRefused("the PostgreSQL database is not migrated: run `flask db upgrade` "
                          "with RAPIDCARE_DATABASE_URL set to it first")
    have, want = versions(target), versions(source)
    if have != want:
        raise CopyRefused(f"the PostgreSQL database is at migrations {have}, the SQLite one at "
                          f"{want}: bring both to the same version (`flask db upgrade`)")
    source_tables = set(sqlite_tables(source)) - {"schema_migrations"}
    target_tables = set(postgres_tables(target)) - {"schema_migrations"}
    problems = [f"SQLite table {t} has no PostgreSQL table to go to"
                for t in sorted(source_tables - target_tables)]
    problems += [f"PostgreSQL table {t} has no SQLite table to come from"
                 for t in sorted(target_tables - source_tables)]
    if problems:
        raise CopyRefused("the two schemas do not match: " + "; ".join(problems))
    columns = {}
    for table in sorted(target_tables):
        wanted = postgres_columns(target, table)
        stored = sqlite_columns(source, table)
        missing = [c for c in wanted if c not in stored]
        extra = [c for c in stored if c not in wanted]
        if missing or extra:
            problems.append(f"{table}: columns only in PostgreSQL {missing}, only in SQLite {extra}")
        columns[table] = wanted
    if problems:
        raise CopyRefused("the two schemas do not match: " + "; ".join(problems))
    not_empty = [table for table in sorted(target_tables) if target.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {}) AS found").format(sql.Identifier(table))
        .as_string(target.raw)).fetchone()["found"]]
    if not_empty:
        raise CopyRefused(f"the PostgreSQL database is not empty (rows in {', '.join(not_empty)}); "
                          f"copy into a freshly migrated database")
    return {table: columns[table] for table in parents_first(target, sorted(target_tables))}


# --- the copy -----------------------------------------------------------------

def count_rows(source, tables):
    return {table: source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in tables}


def copy_table(source, target, table, columns, *, progress):
    """COPY one table's rows (ids kept) in batches; deferred columns go in as NULL."""
    deferred = DEFERRED_COLUMNS.get(table, ())
    selected = ", ".join("NULL" if c in deferred else f'"{c}"' for c in columns)
    rows = source.execute(f'SELECT {selected} FROM "{table}" ORDER BY rowid')
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with target.raw.cursor().copy(statement) as copy:
        while batch := rows.fetchmany(BATCH_ROWS):
            for row in batch:
                copy.write_row(row)
            progress(len(batch))


def fill_deferred(source, target, table):
    """Set the DEFERRED_COLUMNS of ``table`` from the source, by id."""
    for column in DEFERRED_COLUMNS.get(table, ()):
        rows = source.execute(f'SELECT "{column}", id FROM "{table}" WHERE "{column}" IS NOT NULL')
        update = sql.SQL("UPDATE {} SET {} = %s WHERE id = %s").format(
            sql.Identifier(table), sql.Identifier(column))
        while batch := rows.fetchmany(BATCH_ROWS):
            target.raw.cursor().executemany(update, batch)


def reset_sequences(target, table):
    """The next generated id follows the largest copied one (1 for an empty table)."""
    for column in identity_columns(target, table):
        target.raw.execute(sql.SQL(
            "SELECT setval(pg_get_serial_sequence({table_name}, {column_name}), "
            "coalesce(max({column}), 0) + 1, false) FROM {table}").format(
                table_name=sql.Literal(f"public.{table}"), column_name=sql.Literal(column),
                column=sql.Identifier(column), table=sql.Identifier(table)))


def set_user_triggers(target, table, enabled):
    action = "ENABLE" if enabled else "DISABLE"
    target.raw.execute(sql.SQL(f"ALTER TABLE {{}} {action} TRIGGER USER").format(
        sql.Identifier(table)))


def money_columns(columns):
    return [column for column in columns if column.endswith("_minor")]


def compare(source, target, tables):
    """Rows per table and the sum of each money column, on both sides; returns
    (report, differences)."""
    report, differences = CopyReport(), []
    for table, columns in tables.items():
        quoted = sql.Identifier(table)
        expected = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        found = target.raw.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(quoted)
                                   ).fetchone()["n"]
        report.rows[table] = found
        if found != expected:
            differences.append(f"{table}: {expected} rows in SQLite, {found} in PostgreSQL")
        for column in money_columns(columns):
            expected = source.execute(f'SELECT coalesce(sum("{column}"), 0) FROM "{table}"'
                                      ).fetchone()[0]
            found = int(target.raw.execute(sql.SQL("SELECT coalesce(sum({}), 0) AS s FROM {}").format(
                sql.Identifier(column), quoted)).fetchone()["s"])
            report.money[table, column] = found
            if found != expected:
                differences.append(f"{table}.{column}: sums to {expected} in SQLite, "
                                   f"{found} in PostgreSQL")
    return report, differences


def open_source(path):
    """The SQLite database, read only; one read transaction makes every read one snapshot."""
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as error:
        raise CopyRefused(f"cannot read the SQLite database at {path}: {error}") from error
    return source


def copy(source_path, target_url, config, *, start=lambda total: None, progress=lambda n: None,
         log=print):
    """Copy the SQLite database at ``source_path`` into the PostgreSQL database at
    ``target_url``. ``start(total_rows)`` once, then ``progress(rows)`` per batch."""
    source = open_source(source_path)
    try:
        target = postgres.connect(target_url, {**config, "POSTGRES_STATEMENT_TIMEOUT_MS": 0})
    except psycopg.Error as error:
        source.close()
        raise CopyRefused(f"cannot connect to the PostgreSQL database: {error}") from error
    try:
        tables = plan(source, target)
        counts = count_rows(source, tables)
        log(f"copy: {len(tables)} tables, {sum(counts.values())} rows, at migrations "
            f"{versions(target)}")
        start(sum(counts.values()))
        with transaction(target):
            for table in tables:
                set_user_triggers(target, table, enabled=False)
            for table, columns in tables.items():
                try:
                    copy_table(source, target, table, columns, progress=progress)
                except psycopg.Error as error:
                    raise CopyFailed(f"PostgreSQL refused a row of {table}: {error}") from error
            for table in tables:
                fill_deferred(source, target, table)
                reset_sequences(target, table)
                set_user_triggers(target, table, enabled=True)
            report, differences = compare(source, target, tables)
            if differences:
                raise CopyFailed("the copy does not add up: " + "; ".join(differences))
            violations = invariants.check_all(target)
            if violations:
                raise CopyFailed("the copied data breaks invariants: " + "; ".join(violations))
        return report
    finally:
        target.close()
        source.close()

