"""The audit tables' hash chains (issue #18 item 5): sealing, `flask audit verify`, and
tampering made around the append-only triggers (as the tables' owner, triggers off)."""
import shutil
from datetime import timedelta

import pytest

from app import migrator
from app.audit import chain
from app.audit.queries import CHAINED, UNCHAINED
from app.config import DEFAULTS
from app.db import connect, transaction
from app.ops import jobs
from app.timeutil import to_iso, utcnow
from tests.factories import Factory

NOW = utcnow()


def audit_rows(db, make):
    """Rows in all three chained tables: two bookings (history by trigger), resource and admin audit."""
    user, hospital = make.user(), make.hospital()
    first = make.booking(user, hospital)
    second = make.booking(user, hospital, status="cancelled", scheduled_in=timedelta(days=3))
    with transaction(db):
        for n in range(3):
            db.execute(
                "INSERT INTO resource_audit_log (hospital_id, resource_type, action, old_values, "
                "new_values, reason, created_at) VALUES (?, 'beds', 'update', ?, ?, ?, ?)",
                (hospital["id"], '{"total": 5, "available": 4}', '{"available": 3, "total": 5}',
                 f"count {n}", to_iso(NOW)))
            db.execute(
                "INSERT INTO admin_audit_log (actor_id, action, target_type, target_id, details, "
                "created_at) VALUES (?, 'approve', 'hospital', ?, ?, ?)",
                (user["id"], hospital["id"], '{"reason": "ok", "n": %d}' % n, to_iso(NOW)))
    return first, second


def unguard(db, table):
    """Take the append-only guard off ``table``, as someone editing around it would."""
    with transaction(db):
        if db.dialect == "postgres":
            db.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for event in ("update", "delete"):
                db.execute(f"DROP TRIGGER IF EXISTS {table}_before_{event}_append_only")


def verify_cli(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


@pytest.fixture
def sealed(app, db, make):
    rows = audit_rows(db, make)
    added = chain.seal_now(db, now=NOW)
    assert all(added[table] >= 2 for table in CHAINED), added
    return rows


def test_seal_then_verify_is_ok_and_a_second_seal_adds_nothing(app, db, sealed):
    assert chain.seal_now(db, now=NOW) == {table: 0 for table in CHAINED}
    result = chain.verify(db)
    assert result["ok"] and result["problems"] == [] and result["unsealed"] == 0
    counts = {t: db.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in CHAINED}
    assert result["linksChecked"] == sum(counts.values())
    out = verify_cli(app)
    assert out.exit_code == 0, out.output + out.stderr
    assert "audit chains ok" in out.output
    for table in CHAINED:
        assert f"{table}: {counts[table]} link(s), head " in out.output


def test_new_rows_are_sealed_on_the_next_run_and_extend_the_chain(db, make, sealed):
    before = chain.verify(db)["heads"]["booking_status_history"]
    make.booking(make.user(), make.hospital())
    assert chain.verify(db)["unsealed"] == 1
    assert chain.seal_now(db, now=NOW)["booking_status_history"] == 1
    after = chain.verify(db)
    assert after["ok"] and after["unsealed"] == 0
    assert after["heads"]["booking_status_history"]["position"] == before["position"] + 1


@pytest.mark.parametrize("table, column, value", [
    ("booking_status_history", "reason", "edited behind the trigger"),
    ("resource_audit_log", "new_values", '{"available": 0, "total": 5}'),
    ("admin_audit_log", "actor_id", None),
    ("admin_audit_log", "created_at", "2020-01-01T00:00:00.000000+00:00"),
])
def test_a_row_edited_behind_the_triggers_is_named_by_audit_verify(app, db, sealed, table, column, value):
    victim = db.execute(f"SELECT id FROM {table} ORDER BY id LIMIT 1 OFFSET 1").fetchone()["id"]
    unguard(db, table)
    with transaction(db):
        db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, victim))
    out = verify_cli(app)
    assert out.exit_code == 1
    assert f"BROKEN {table} row {victim}: content changed (expected row hash " in out.stderr
    assert "stored row hashes to " in out.stderr
    # only the first broken row of that chain, and the other chains are fine
    assert out.stderr.count("BROKEN") == 1
    # the integrity job fails with the same finding, and detailed health shows it
    with pytest.raises(jobs.IntegrityCheckFailed, match=f"{table} row {victim}"):
        jobs.check_integrity(db, now=NOW, config=app.config)
    latest = chain.latest_check(db)
    assert latest["status"] == "broken" and f"{table} row {victim}" in latest["problem"]


def test_json_key_order_and_time_spelling_do_not_count_as_edits(db, sealed):
    """Only content counts: jsonb reorders keys, a copy to PostgreSQL spells times its way."""
    row = dict(db.execute("SELECT * FROM resource_audit_log ORDER BY id LIMIT 1").fetchone())
    link = db.execute("SELECT row_hash FROM audit_chain WHERE chain = 'resource_audit_log' "
                      "AND row_id = ?", (row["id"],)).fetchone()
    respelled = dict(row, new_values='{"total":5,"available":3}',
                     created_at=NOW.astimezone().isoformat())
    assert chain.row_hash("resource_audit_log", respelled) == link["row_hash"]
    assert chain.row_hash("resource_audit_log", dict(row, reason="x")) != link["row_hash"]


def test_a_deleted_row_is_detected(app, db, sealed):
    victim = db.execute("SELECT max(id) AS id FROM admin_audit_log").fetchone()["id"]
    unguard(db, "admin_audit_log")
    with transaction(db):
        db.execute("DELETE FROM admin_audit_log WHERE id = ?", (victim,))
    out = verify_cli(app)
    assert out.exit_code == 1
    assert f"BROKEN admin_audit_log row {victim}: deleted" in out.stderr


def test_swapped_rows_are_detected(app, db, sealed):
    """Two rows' contents exchanged (ids kept): each no longer hashes as sealed."""
    a, b = [r["id"] for r in db.execute("SELECT id FROM resource_audit_log ORDER BY id LIMIT 2")]
    unguard(db, "resource_audit_log")
    with transaction(db):
        reasons = {r["id"]: r["reason"] for r in db.execute(
            "SELECT id, reason FROM resource_audit_log WHERE id IN (?, ?)", (a, b))}
        db.execute("UPDATE resource_audit_log SET reason = ? WHERE id = ?", (reasons[b], a))
        db.execute("UPDATE resource_audit_log SET reason = ? WHERE id = ?", (reasons[a], b))
    result = chain.verify(db)
    assert result["broken"] == [chain.verify_chain(db, "resource_audit_log")[1]]
    assert result["broken"][0]["rowId"] == a
    assert f"resource_audit_log row {a}: content changed" in result["problems"][0]


def test_a_reordered_chain_is_detected(app, db, sealed):
    """Two links exchanged (with their rows' hashes): the chain breaks at the first of them."""
    links = db.execute("SELECT id, position, row_id, row_hash FROM audit_chain "
                       "WHERE chain = 'admin_audit_log' ORDER BY position LIMIT 2").fetchall()
    unguard(db, "audit_chain")
    with transaction(db):
        # positions are UNIQUE: park the first link out of the way, then swap
        db.execute("UPDATE audit_chain SET position = 1000000 WHERE id = ?", (links[0]["id"],))
        db.execute("UPDATE audit_chain SET position = ? WHERE id = ?",
                   (links[0]["position"], links[1]["id"]))
        db.execute("UPDATE audit_chain SET position = ? WHERE id = ?",
                   (links[1]["position"], links[0]["id"]))
    out = verify_cli(app)
    assert out.exit_code == 1
    assert (f"BROKEN admin_audit_log row {links[1]['row_id']}: chain broken at position "
            f"{links[0]['position']}") in out.stderr


def test_a_deleted_link_is_detected(app, db, sealed):
    first = db.execute("SELECT id, position FROM audit_chain WHERE chain = 'booking_status_history' "
                       "ORDER BY position LIMIT 1").fetchone()
    unguard(db, "audit_chain")
    with transaction(db):
        db.execute("DELETE FROM audit_chain WHERE id = ?", (first["id"],))
    result = chain.verify(db)
    assert not result["ok"]
    assert "booking_status_history: link at position 1 is missing" in result["problems"][0]


def test_the_chain_tables_are_append_only(db, sealed):
    from app.db import IntegrityError

    for statement in ("UPDATE audit_chain SET row_hash = link_hash", "DELETE FROM audit_chain"):
        with pytest.raises(IntegrityError, match="append-only"):
            with transaction(db):
                db.execute(statement)


def test_late_rows_below_the_head_are_sealed(db, make):
    user = make.user()
    with transaction(db):
        for row_id in (10, 20):
            db.execute("INSERT INTO admin_audit_log (id, actor_id, action, target_type, created_at) "
                       "VALUES (?, ?, 'x', 'user', ?)", (row_id, user["id"], to_iso(NOW)))
    chain.seal_now(db, now=NOW)
    with transaction(db):  # commits "late", below the sealed head
        db.execute("INSERT INTO admin_audit_log (id, actor_id, action, target_type, created_at) "
                   "VALUES (15, ?, 'late', 'user', ?)", (user["id"], to_iso(NOW)))
    assert chain.seal_now(db, now=NOW + timedelta(minutes=1))["admin_audit_log"] == 1
    positions = {r["row_id"]: r["position"] for r in db.execute(
        "SELECT row_id, position FROM audit_chain WHERE chain = 'admin_audit_log'")}
    assert positions == {10: 1, 20: 2, 15: 3}
    assert chain.verify(db)["ok"]


def test_detailed_health_shows_the_latest_check(app, client, db, make, sealed):
    admin = make.admin()
    chain.verify_and_record(db, now=NOW)
    body = client.get("/api/health/detailed", headers=make.auth(admin)).get_json()
    assert body["auditChain"]["status"] == "ok" and body["auditChain"]["problem"] is None
    assert body["auditChain"]["linksChecked"] > 0


def test_reconciliation_reports_the_chains(app, db, sealed):
    import json

    from app.reconciliation import service

    run = service.run(db, run_date=NOW.date(), triggered_by=None, now=NOW, config=app.config,
                      gateway=None)
    summary = json.loads(run["summary"])
    assert summary["auditChain"]["ok"] is True and summary["auditChain"]["problems"] == []


@pytest.mark.sqlite_only
def test_rows_older_than_the_migration_are_chained_by_the_first_seal_and_its_down_drops_the_tables(
        tmp_path):
    before, every = tmp_path / "before", DEFAULTS["MIGRATIONS_DIR"]
    before.mkdir()
    for path in sorted(__import__("pathlib").Path(every).glob("*.py")):
        if path.name < "0130":
            shutil.copy(path, before / path.name)
    conn = connect(str(tmp_path / "db.sqlite3"))
    migrator.upgrade(conn, str(before), log=lambda _line: None)
    make = Factory(conn, sealed=False)  # the sealed layout is 0142's; this schema is older
    audit_rows(conn, make)
    migrator.upgrade(conn, every, log=lambda _line: None)
    waiting = chain.verify(conn)
    assert waiting["ok"] and waiting["unsealed"] >= 8 and waiting["linksChecked"] == 0
    chain.seal_now(conn, now=NOW)
    result = chain.verify(conn)
    assert result["ok"] and result["unsealed"] == 0 and result["linksChecked"] == waiting["unsealed"]
    module = migrator.load_module(next(m for m in migrator.discover(every) if m.version == 130))
    with transaction(conn):
        for statement in module.SQLITE_DOWN:
            conn.execute(statement)
    assert conn.execute("SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE 'audit_chain%'"
                        ).fetchone()["n"] == 0
    conn.close()



def test_every_column_of_a_chained_table_is_hashed_but_the_encrypted_ones(db):
    """A column added to an audited table later must join its hash, or be named in
    UNCHAINED with a reason: otherwise an edit of it would go unnoticed."""
    for table, hashed in CHAINED.items():
        if db.dialect == "sqlite":
            columns = [row["name"] for row in db.execute(f"PRAGMA table_info({table})").fetchall()]
        else:
            columns = [row["column_name"] for row in db.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                (table,)).fetchall()]
        assert set(columns) == set(hashed) | set(UNCHAINED.get(table, ())), table
