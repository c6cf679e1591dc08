"""The statements key rotation runs on each table with sealed columns, whichever table.

Re-encryption reads, rewrites and counts the sealed columns of every table in
app.crypto.fields.FIELDS the same way, so these statements have one home here
rather than a copy in each owning domain's queries. Table and column names come
only from the constants FIELDS and ROW_KEY, never from input.
"""
from app.crypto import fields
from app.db import pick


def columns(table):
    """The sealed columns, then those that held an envelope's fields before it."""
    if table not in fields.FIELDS:
        raise ValueError(f"{table!r} has no sealed columns")
    return fields.sealed_columns(table) + fields.legacy_columns(table)


def sealed_batch(conn, table, after_id, limit):
    """The next ``limit`` rows of ``table`` after id ``after_id``: id, the row key (the
    AAD of its fields) and the stored, sealed fields. On PostgreSQL they are locked
    for the batch's transaction (FOR UPDATE; SQLite's BEGIN IMMEDIATE holds every
    writer off already), so a write racing the re-encryption waits and is never lost."""
    selected = ", ".join(columns(table))
    lock = " FOR UPDATE" if conn.dialect == "postgres" else ""
    return conn.execute(
        f"SELECT id, {fields.ROW_KEY[table]}, {selected} FROM {table}"
        f" WHERE id > :after ORDER BY id LIMIT :limit{lock}",
        {"after": after_id, "limit": limit},
    ).fetchall()


def store_sealed(conn, table, row_id, sealed):
    """Write already-sealed fields ({column: sealed value}, or None to clear a legacy
    column whose field moved into its envelope) of one row."""
    unknown = set(sealed) - set(columns(table))
    if unknown:
        raise ValueError(f"not sealed columns of {table}: {sorted(unknown)}")
    assignments = ", ".join(f"{column} = :{column}" for column in sealed)
    conn.execute(f"UPDATE {table} SET {assignments} WHERE id = :id", {**sealed, "id": row_id})


def count_rows(conn, table):
    columns(table)
    return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


# The key id of a sealed value ('plaintext' for a legacy row, 'empty' where the column
# is NULL: a donor who gave no phone); every field of a row is sealed with one key, so
# its first sealed column tells.
_KEY_OF = {
    "sqlite": """CASE WHEN {column} IS NULL THEN 'empty'
                      WHEN {column} LIKE 'enc1:%'
                      THEN substr({column}, 6, instr(substr({column}, 6), ':') - 1)
                      ELSE 'plaintext' END""",
    "postgres": """CASE WHEN {column} IS NULL THEN 'empty'
                        WHEN {column} LIKE 'enc1:%' THEN split_part({column}, ':', 2)
                        ELSE 'plaintext' END""",
}


def rows_per_key(conn, table):
    """{key id, 'plaintext' or 'empty': rows of ``table``}. A row from before its table's
    envelope (migration 0142) counts by its first field's own column."""
    first = columns(table)[0]
    if fields.legacy_columns(table):
        first = f"coalesce({first}, {fields.legacy_columns(table)[0]})"
    key_of = pick(conn, _KEY_OF).format(column=first)
    return {row["key_id"]: row["n"] for row in conn.execute(
        f"SELECT {key_of} AS key_id, count(*) AS n FROM {table} GROUP BY 1 ORDER BY 1"
    ).fetchall()}
