"""Hash chains over the audit tables: what is hashed, sealing, verifying.

One chain per audited table (app.audit.queries.CHAINED), kept in audit_chain
beside the rows (migration 0130). Link ``n`` of a chain holds

- ``row_hash``  = sha256 of the canonical JSON of [table, every covered column of
  the row, in CHAINED's order]; JSON columns are parsed and re-serialized with
  sorted keys and times normalised to UTC ISO-8601 with microseconds, so the same
  row hashes alike on SQLite and PostgreSQL (jsonb reorders keys; a copy made by
  `flask db copy-to-postgres` still verifies);
- ``link_hash`` = sha256 of "<link_hash of n-1>:<table>:<n>:<row id>:<row_hash>"
  (64 zeros before the first link).

Why a sealer and not a hash written with each row: a chain head read inside
every request is one hot row that PostgreSQL's SERIALIZABLE requests would fight
over, and the status-history rows are written by triggers. The sealer runs after
commit (the scheduler's audit-seal job every minute, the hourly integrity job,
`flask audit seal`), one at a time, and appends a link for every row that has
none, in id order. A link's position, not the row id, is the chain's order, so a
PostgreSQL row that commits after a higher id was sealed is simply sealed by the
next run. The cost: a row is protected from its first seal on, not from its
insert (the window is the seal interval).

What the chain proves: a row edited, deleted or swapped after it was sealed, and
a link edited, deleted or reordered, are found by ``verify``, which names the
first broken row of each chain. What it cannot prove on its own: that nobody
rewrote a whole chain's tail with fresh hashes (anyone with write access to the
file can recompute sha256); the check records the heads, so an operator who keeps
them elsewhere can compare.
"""
import hashlib
import json
from datetime import datetime, timedelta

from app.audit import queries
from app.db import transaction
from app.timeutil import to_iso

GENESIS = "0" * 64
CHAINS_MIGRATION = 130  # 0130_audit_chain creates audit_chain
JSON_COLUMNS = {"old_values", "new_values", "details"}
TIME_COLUMNS = {"created_at"}
BATCH = 1000
# A row whose transaction commits this long after a higher id was sealed is still
# sealed (PostgreSQL hands out ids at insert, not at commit); no request lasts that long.
LATE_COMMIT_WINDOW = timedelta(hours=1)
# pg_advisory_xact_lock key of "the sealer" ("RCseal"): one sealer at a time.
SEAL_LOCK_KEY = 0x52437365616C00


def _canonical(column, value):
    if value is None:
        return None
    if column in JSON_COLUMNS:
        return json.loads(value) if isinstance(value, str) else value
    if column in TIME_COLUMNS:
        return to_iso(datetime.fromisoformat(value))
    return value


def row_hash(table, row):
    payload = [table] + [_canonical(column, row[column]) for column in queries.CHAINED[table]]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def link_hash(previous, table, position, row_id, hashed_row):
    return hashlib.sha256(f"{previous}:{table}:{position}:{row_id}:{hashed_row}".encode()).hexdigest()


def seal(conn, *, now):
    """Append a link for every unsealed row of every chain (inside the caller's
    transaction); returns {table: links added}."""
    if conn.dialect == "postgres":
        conn.execute("SELECT pg_advisory_xact_lock(?)", (SEAL_LOCK_KEY,))
    sealed_at = to_iso(now)
    added = {}
    for table in queries.CHAINED:
        last = queries.head(conn, table)
        position, previous = (last["position"], last["link_hash"]) if last else (0, GENESIS)
        floor = queries.seal_floor(conn, table, before=to_iso(now - LATE_COMMIT_WINDOW))
        added[table] = 0
        while True:
            rows = queries.unsealed_rows(conn, table, above=floor, limit=BATCH)
            if not rows:
                break
            links = []
            for row in rows:
                position += 1
                hashed = row_hash(table, row)
                previous = link_hash(previous, table, position, row["id"], hashed)
                links.append({"chain": table, "position": position, "row_id": row["id"],
                              "row_hash": hashed, "link_hash": previous, "sealed_at": sealed_at})
            queries.insert_links(conn, links)
            added[table] += len(links)
            floor = rows[-1]["id"]
    return added


def seal_now(conn, *, now):
    with transaction(conn):
        return seal(conn, now=now)


def _broken(table, row_id, message):
    return {"table": table, "rowId": row_id, "message": message}


def verify_chain(conn, table):
    """Check one chain link by link; returns (links checked, first problem or None,
    head). A problem names the table, the row id and what was expected vs stored."""
    previous, expected_position, checked = GENESIS, 1, 0
    while True:
        links = queries.links_after(conn, table, position=expected_position - 1, limit=BATCH)
        if not links:
            return checked, None, {"position": expected_position - 1, "linkHash": previous}
        rows = queries.rows_by_id(conn, table, [link["row_id"] for link in links])
        for link in links:
            row_id = link["row_id"]
            if link["position"] != expected_position:
                return checked, _broken(table, row_id, (
                    f"{table}: link at position {expected_position} is missing (next is "
                    f"{link['position']}, row {row_id}): a link was deleted")), None
            row = rows.get(row_id)
            if row is None:
                return checked, _broken(table, row_id, (
                    f"{table} row {row_id}: deleted (sealed at position {link['position']}, "
                    f"row hash {link['row_hash']})")), None
            actual = row_hash(table, row)
            if actual != link["row_hash"]:
                return checked, _broken(table, row_id, (
                    f"{table} row {row_id}: content changed (expected row hash "
                    f"{link['row_hash']}, stored row hashes to {actual})")), None
            expected = link_hash(previous, table, link["position"], row_id, actual)
            if expected != link["link_hash"]:
                return checked, _broken(table, row_id, (
                    f"{table} row {row_id}: chain broken at position {link['position']} "
                    f"(expected link hash {expected}, stored {link['link_hash']}): links were "
                    f"edited or reordered")), None
            previous, expected_position, checked = expected, expected_position + 1, checked + 1


def verify(conn):
    """Check every chain; returns {"ok", "linksChecked", "unsealed", "problems", "broken",
    "heads"}: ``problems`` the first broken row of each broken chain in words, ``broken``
    the same as {table, rowId, message}."""
    broken, heads, checked, unsealed = [], {}, 0, 0
    for table in queries.CHAINED:
        count, problem, head = verify_chain(conn, table)
        checked += count
        unsealed += queries.count_unsealed(conn, table)
        if problem:
            broken.append(problem)
        else:
            heads[table] = head
    return {"ok": not broken, "linksChecked": checked, "unsealed": unsealed,
            "problems": [item["message"] for item in broken], "broken": broken, "heads": heads}


def problems_before_restore(conn, versions):
    """The first broken row of each chain of a database about to be restored, in words
    (empty: the chains hold). A backup taken before the chains existed (migration
    0130) has none to check. Both restores refuse a backup with a broken chain: its
    audit trail was edited around the triggers (README "Tamper-evident audit")."""
    if CHAINS_MIGRATION not in versions:
        return []
    return verify(conn)["problems"]


def verify_and_record(conn, *, now):
    """``verify`` and keep its result in audit_chain_checks (detailed health shows the latest)."""
    result = verify(conn)
    if conn.in_transaction:
        conn.rollback()  # the reads above, on PostgreSQL a transaction of their own
    with transaction(conn):
        queries.insert_check(
            conn, checked_at=to_iso(now), status="ok" if result["ok"] else "broken",
            links_checked=result["linksChecked"], unsealed=result["unsealed"],
            problem="; ".join(result["problems"]) or None)
    return result


def latest_check(conn):
    """The last recorded verification, for health and reconciliation (None before the first)."""
    row = queries.latest_check(conn)
    if row is None:
        return None
    return dict(row)


def summary_line(result):
    if result["ok"]:
        return (f"audit chains ok: {result['linksChecked']} links verified, "
                f"{result['unsealed']} row(s) not sealed yet")
    return "audit chains BROKEN: " + "; ".join(result["problems"])
