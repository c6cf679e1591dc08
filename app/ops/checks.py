"""Database checks shared by backups, restores, the hourly job and the health endpoint.

Each returns a list of problems (empty means fine) and works on any sqlite3
connection, whatever its row factory. On PostgreSQL there is nothing to ask:
the server enforces every foreign key at all times (SQLite can hold rows that
break one, e.g. from a copied file), and its pages are checked by the server
itself (data checksums) and by a DBA's amcheck, not by a query of ours.
"""
SQLITE_HEADER = b"SQLite format 3\x00"


def _first(row):
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def integrity_problems(conn, *, quick=False, limit=20):
    """PRAGMA integrity_check (or the cheaper quick_check, which skips index contents)."""
    if getattr(conn, "dialect", "sqlite") == "postgres":
        return []
    pragma = "quick_check" if quick else "integrity_check"
    messages = [_first(row) for row in conn.execute(f"PRAGMA {pragma}({int(limit)})")]
    return [] if messages == ["ok"] else messages


def foreign_key_problems(conn, *, limit=20):
    """PRAGMA foreign_key_check: rows whose parent row is missing."""
    if getattr(conn, "dialect", "sqlite") == "postgres":
        return []
    problems = []
    for row in conn.execute("PRAGMA foreign_key_check"):
        if isinstance(row, dict):
            table, rowid, parent = row["table"], row["rowid"], row["parent"]
        else:
            table, rowid, parent = row[0], row[1], row[2]
        problems.append(f"{table} row {rowid} refers to a missing {parent} row")
        if len(problems) >= limit:
            problems.append("(more not shown)")
            break
    return problems


def all_problems(conn):
    """Full integrity check plus foreign keys: what a backup must pass."""
    return integrity_problems(conn) + foreign_key_problems(conn)


def looks_like_sqlite(path):
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
