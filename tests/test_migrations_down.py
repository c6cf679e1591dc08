"""Migrations both ways (issue #19 item 5), on the backend of this run of the suite.

Generic over the migrations folder: every migration there is upgraded to one step at
a time, its schema dumped after each step; then from head each one is undone, one
step at a time, and the schema must equal the forward dump at that version, down to
the floor (0001); then upgrading again must give head's schema. So each migration's
undo restores exactly the schema below it, and re-running it from there gives
exactly head again.

A migration marked ``IRREVERSIBLE`` (0120) cannot be undone: it splits the folder into
stretches, each checked from its top down to its floor (0001, or the irreversible
migration itself) in a folder of its own holding the migrations up to that top.
"""
import itertools
import os
import re
from datetime import timedelta

import pytest

from app import create_app, migrator
from app.config import DEFAULTS, TEST_OVERRIDES
from app.crypto import fields
from app.db import connect, postgres, transaction
from tests import pg
from tests.blood.helpers import insert_blood_request
from tests.factories import Factory

MIGRATIONS = DEFAULTS["MIGRATIONS_DIR"]
_numbers = itertools.count(1)


def _irreversible(migration):
    return bool(getattr(migrator.load_module(migration), "IRREVERSIBLE", None))


def _stretches():
    """[(floor, top)]: the undoable stretches of the folder, as indexes into it."""
    found = migrator.discover(MIGRATIONS)
    floors = [i for i, m in enumerate(found) if i == 0 or _irreversible(m)]
    tops = [f - 1 for f in floors[1:]] + [len(found) - 1]
    return [(floor, top) for floor, top in zip(floors, tops) if top > floor]


STRETCHES = _stretches()


def _folder_up_to(tmp_path, top):
    """A migrations folder holding the real migrations up to index ``top``."""
    folder = tmp_path / f"migrations_up_to_{top}"
    folder.mkdir()
    for migration in migrator.discover(MIGRATIONS)[:top + 1]:
        (folder / migration.path.name).symlink_to(migration.path)
    return folder


@pytest.fixture
def empty(tmp_path, backend, worker_id):
    """A connection to an empty database of this run's backend (as its owner)."""
    if backend == "sqlite":
        conn = connect(str(tmp_path / "down.sqlite3"))
        yield conn
        conn.close()
        return
    name = f"rapidcare_down_{os.getpid()}_{worker_id}_{next(_numbers)}".lower()
    conn = postgres.connect(pg.create_database(name), DEFAULTS)
    yield conn
    conn.close()
    pg.drop_database(name)


def _normal(sql):
    """SQL text with whitespace normalized: a restored definition may be indented otherwise."""
    text = re.sub(r"\s+", " ", sql or "").strip()
    return re.sub(r"\s*([(),])\s*", r"\1", text)


SQLITE_SCHEMA = """
    SELECT type, name, tbl_name, sql FROM sqlite_master
    WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name
"""

# PostgreSQL's schema, each part in a stable order. Columns in their order within
# each table (attnum itself may differ after a column was dropped and added again).
POSTGRES_SCHEMA = {
    "relations": """
        SELECT relname, relkind, relrowsecurity, relforcerowsecurity FROM pg_class
        WHERE relnamespace = 'public'::regnamespace ORDER BY relname
    """,
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, column_default,
               generation_expression, is_identity
        FROM information_schema.columns WHERE table_schema = 'public'
        ORDER BY table_name, ordinal_position
    """,
    "constraints": """
        SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS def
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2",
    "triggers": """
        SELECT tgrelid::regclass::text AS tab, tgname, pg_get_triggerdef(oid) AS def
        FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2
    """,
    "functions": """
        SELECT proname, pg_get_function_identity_arguments(oid) AS args,
               pg_get_functiondef(oid) AS def
        FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prokind = 'f' ORDER BY 1, 2
    """,
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' ORDER BY 1",
    "policies": """
        SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check
        FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2
    """,
    # privileges given to others than the owner (a revoked grant may leave the owner's
    # own privileges spelled out where there was NULL, meaning the same)
    "grants": """
        SELECT c.relname, a.grantee::regrole::text AS grantee, a.privilege_type
        FROM pg_class AS c, aclexplode(c.relacl) AS a
        WHERE c.relnamespace = 'public'::regnamespace AND a.grantee <> c.relowner
        ORDER BY 1, 2, 3
    """,
    "schema_grants": """
        SELECT a.grantee::regrole::text AS grantee, a.privilege_type
        FROM pg_namespace AS n, aclexplode(n.nspacl) AS a
        WHERE n.nspname = 'public' ORDER BY 1, 2
    """,
    "default_grants": """
        SELECT d.defaclobjtype, a.grantee::regrole::text AS grantee, a.privilege_type
        FROM pg_default_acl AS d, aclexplode(d.defaclacl) AS a ORDER BY 1, 2, 3
    """,
}


def schema(conn):
    """A normalized dump of the schema (not the data), to compare two databases."""
    if conn.dialect == "sqlite":
        rows = conn.execute(SQLITE_SCHEMA).fetchall()
        return [(r["type"], r["name"], r["tbl_name"], _normal(r["sql"])) for r in rows]
    dump = {}
    for part, sql in POSTGRES_SCHEMA.items():
        dump[part] = [tuple(_normal(v) if isinstance(v, str) else v for v in row.values())
                      for row in conn.execute(sql).fetchall()]
    return dump


def quiet(_line):
    pass


def test_every_migration_after_0001_defines_its_undo_or_says_why_it_has_none():
    for migration in migrator.discover(MIGRATIONS)[1:]:
        module = migrator.load_module(migration)
        if getattr(module, "IRREVERSIBLE", None):
            assert not migrator.has_down(module), f"{migration.path.name}: undo or IRREVERSIBLE, not both"
            continue
        assert migrator.has_down(module), f"{migration.version:04d}_{migration.name} has no undo"
        if not hasattr(module, "down"):
            assert all(isinstance(s, str) for s in module.SQLITE_DOWN + module.POSTGRES_DOWN)


@pytest.mark.parametrize("stretch", STRETCHES, ids=lambda s: f"{s[0]}-{s[1]}")
def test_each_undo_restores_the_schema_below_it_and_upgrading_again_restores_head(
        empty, tmp_path, stretch):
    floor, top = stretch
    folder = _folder_up_to(tmp_path, top)
    versions = [m.version for m in migrator.discover(folder)]
    at = {}
    for version in versions:
        assert migrator.upgrade(empty, folder, log=quiet, target=version) == [version]
        at[version] = schema(empty)
    head, below_head = versions[-1], versions[-2]

    # head -> just below it -> head
    assert migrator.downgrade(empty, folder, below_head, log=quiet) == [head]
    assert schema(empty) == at[below_head]
    assert migrator.upgrade(empty, folder, log=quiet) == [head]
    assert schema(empty) == at[head]

    # head -> the floor, one step at a time, each step checked
    for version in reversed(versions[floor:-1]):
        migrator.downgrade(empty, folder, version, log=quiet)
        assert schema(empty) == at[version], f"undoing down to {version:04d} left another schema"
    assert _applied(empty) == versions[:floor + 1]

    # the floor -> head, in one go
    assert migrator.upgrade(empty, folder, log=quiet) == versions[floor + 1:]
    assert schema(empty) == at[head]


@pytest.mark.parametrize("stretch", STRETCHES, ids=lambda s: f"{s[0]}-{s[1]}")
def test_full_downgrade_in_one_call_and_back(empty, tmp_path, stretch):
    floor, top = stretch
    folder = _folder_up_to(tmp_path, top)
    versions = [m.version for m in migrator.discover(folder)]
    migrator.upgrade(empty, folder, log=quiet)
    head = schema(empty)
    lines = []
    undone = migrator.downgrade(empty, folder, versions[floor], log=lines.append)
    assert undone == list(reversed(versions[floor + 1:]))
    assert len(lines) == len(undone) and lines[0].startswith(f"undone {versions[-1]:04d}_")
    migrator.upgrade(empty, folder, log=quiet)
    assert schema(empty) == head


def test_a_downgrade_below_an_irreversible_migration_is_refused_and_changes_nothing(empty):
    found = migrator.discover(MIGRATIONS)
    marked = [i for i, m in enumerate(found) if _irreversible(m)]
    if not marked:
        pytest.skip("no migration is marked IRREVERSIBLE")
    migrator.upgrade(empty, MIGRATIONS, log=quiet)
    before = schema(empty)
    target = found[marked[-1] - 1]
    with pytest.raises(migrator.MigrationError,
                       match=rf"cannot be undone: {found[marked[-1]].path.stem}.*nothing was changed"):
        migrator.downgrade(empty, MIGRATIONS, target.version, log=quiet)
    assert schema(empty) == before and _applied(empty) == [m.version for m in found]


def _write(folder, files):
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


TABLE = 'conn.execute("CREATE TABLE {0} (x INTEGER)")'
DROP = 'conn.execute("DROP TABLE {0}")'


def _module(table, *, with_down=True):
    text = f'"""{table}"""\ndef up(conn):\n    {TABLE.format(table)}\n'
    if with_down:
        text += f"def down(conn):\n    {DROP.format(table)}\n"
    return text


def _tables(conn):
    sql = ("SELECT name FROM sqlite_master WHERE type = 'table'" if conn.dialect == "sqlite" else
           "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    return {row["name"] for row in conn.execute(sql).fetchall()}


def _applied(conn):
    return [row["version"] for row in conn.execute(
        "SELECT version FROM schema_migrations ORDER BY version").fetchall()]


def test_downgrade_refuses_when_a_migration_has_no_undo_and_changes_nothing(empty, tmp_path):
    folder = _write(tmp_path / "migs", {
        "0001_a.py": _module("a", with_down=False),
        "0002_b.py": _module("b"),
        "0003_c.py": _module("c", with_down=False),
        "0004_d.py": _module("d"),
    })
    migrator.upgrade(empty, folder, log=quiet)
    with pytest.raises(migrator.MigrationError, match=r"no SQLITE_DOWN.*0003_c.*nothing was changed"):
        migrator.downgrade(empty, folder, 1, log=quiet)
    assert {"a", "b", "c", "d"} <= _tables(empty) and _applied(empty) == [1, 2, 3, 4]
    # above the one without an undo it works, newest first
    assert migrator.downgrade(empty, folder, 3, log=quiet) == [4]
    assert "d" not in _tables(empty) and _applied(empty) == [1, 2, 3]


def test_downgrade_refuses_an_unknown_target_and_a_missing_file(empty, tmp_path):
    folder = _write(tmp_path / "migs", {"0001_a.py": _module("a"), "0002_b.py": _module("b")})
    migrator.upgrade(empty, folder, log=quiet)
    with pytest.raises(migrator.MigrationError, match="not an applied migration"):
        migrator.downgrade(empty, folder, 5, log=quiet)
    (folder / "0002_b.py").unlink()
    with pytest.raises(migrator.MigrationError, match="no file .* 0002"):
        migrator.downgrade(empty, folder, 1, log=quiet)
    assert _applied(empty) == [1, 2] and "b" in _tables(empty)


def test_a_failing_undo_rolls_back_and_stays_applied(empty, tmp_path):
    folder = _write(tmp_path / "migs", {
        "0001_a.py": _module("a"),
        "0002_b.py": _module("b"),
        "0003_c.py": '"""c"""\ndef up(conn):\n    conn.execute("CREATE TABLE c (x INTEGER)")\n'
                     'def down(conn):\n    conn.execute("DROP TABLE c")\n'
                     '    raise RuntimeError("boom")\n',
    })
    migrator.upgrade(empty, folder, log=quiet)
    with pytest.raises(RuntimeError, match="boom"):
        migrator.downgrade(empty, folder, 1, log=quiet)
    assert "c" in _tables(empty) and _applied(empty) == [1, 2, 3]


@pytest.fixture
def cli(tmp_path):
    folder = tmp_path / "migs"
    folder.mkdir()
    app = create_app({**TEST_OVERRIDES, "DATABASE": str(tmp_path / "cli.sqlite3"),
                      "DATABASE_URL": "", "MIGRATIONS_DIR": str(folder)})
    return app.test_cli_runner(), folder


def test_db_new_writes_the_next_module_from_the_template(cli):
    runner, folder = cli
    result = runner.invoke(args=["db", "new", "first_change"])
    assert result.exit_code == 0, result.output
    assert result.output == f"created {folder / '0010_first_change.py'}: fill in its docstring, " \
                            "SQLITE/POSTGRES and their _DOWN lists\n"
    (folder / "0061_follow_up.py").write_text('"""x"""\nSQLITE = []\nPOSTGRES = []\n')
    assert runner.invoke(args=["db", "new", "second"]).exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "0010_first_change.py", "0061_follow_up.py", "0070_second.py"]
    module = migrator.load_module(migrator.discover(folder)[0])
    assert "TODO" in module.__doc__
    for name in ("SQLITE", "POSTGRES", "SQLITE_DOWN", "POSTGRES_DOWN"):
        assert getattr(module, name) == []
    assert migrator.has_down(module)


@pytest.mark.parametrize("name", ["", "Bad", "1starts_with_digit", "has-dash", "dot.py",
                                  "../escape", "a" * 61, "spa ce"])
def test_db_new_refuses_a_bad_name(cli, name):
    runner, folder = cli
    result = runner.invoke(args=["db", "new", name])
    assert result.exit_code != 0
    assert "bad migration name" in result.output
    assert list(folder.iterdir()) == []


def test_db_downgrade_command(cli, tmp_path):
    runner, folder = cli
    (folder / "0001_a.py").write_text(_module("a"))
    (folder / "0002_b.py").write_text(_module("b", with_down=False))
    first = runner.invoke(args=["db", "upgrade", "1"])
    assert first.exit_code == 0 and "applied 0001_a" in first.output and "0002" not in first.output
    assert first.output.endswith("1 migration(s) applied, schema up to 0001\n")
    assert runner.invoke(args=["db", "upgrade"]).output.endswith("schema up to date\n")
    refused = runner.invoke(args=["db", "downgrade", "1"])
    assert refused.exit_code == 1 and "0002_b" in refused.output and "nothing was changed" in refused.output
    assert runner.invoke(args=["db", "downgrade", "-1"]).exit_code == 2
    (folder / "0002_b.py").write_text(_module("b"))
    done = runner.invoke(args=["db", "downgrade", "1"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == "1 migration(s) undone, schema at 0001"


def test_undoing_moves_data_back_and_upgrading_again_moves_it_forward(empty, tmp_path):
    """0080's counters and 0065's notification type, with rows in the tables (in the
    first stretch: the migrations before the first irreversible one)."""
    folder = _folder_up_to(tmp_path, STRETCHES[0][1])
    migrator.upgrade(empty, folder, log=quiet)
    make = Factory(empty, sealed=False)
    hospital = make.hospital(resources={"beds": 5})
    patient = make.user()
    make.booking(patient, hospital, status="approved")  # holds one bed for its window
    make.booking(patient, hospital, scheduled_in=timedelta(days=3))

    def beds():
        row = empty.execute("SELECT available, occupied FROM hospital_resources WHERE hospital_id = ?",
                            (hospital["id"],)).fetchone()
        return row["available"], row["occupied"]

    def types():
        return sorted(row["type"] for row in empty.execute(
            "SELECT type FROM booking_notifications WHERE user_id = ?", (patient["id"],)).fetchall())

    assert beds() == (5, 0)  # since 0080 a hold is counted from the booking, not stored
    assert types() == ["booking_approved", "booking_submitted", "booking_submitted"]

    migrator.downgrade(empty, folder, 64, log=quiet)  # below 0065 and 0080
    assert beds() == (4, 1)  # before 0080, approval moved the unit into occupied
    assert types() == ["booking_approved", "booking_created", "booking_created"]

    migrator.upgrade(empty, folder, log=quiet)
    assert beds() == (5, 0)
    assert types() == ["booking_approved", "booking_submitted", "booking_submitted"]


def test_upgrading_over_donor_matches_keeps_their_phones_and_gives_each_a_record_key(empty):
    """0140 swaps the phone column (SQLite) and adds record_key to rows already there:
    phones written before it survive as they were (legacy plaintext, which the service
    reads as it is until `flask keys reencrypt` seals it), each row gets its own key."""
    migrator.upgrade(empty, MIGRATIONS, log=quiet, target=131)
    make = Factory(empty, sealed=False)
    requester, first, second = make.user(), make.user(), make.user()
    request = insert_blood_request(empty, requester, blood_type="O+")
    with transaction(empty):
        for donor, phone in ((first, "+8801711111111"), (second, None)):
            empty.execute(
                "INSERT INTO blood_donor_matches (blood_request_id, donor_id, donor_blood_type, "
                "phone, created_at) VALUES (?, ?, 'O-', ?, ?)",
                (request["id"], donor["id"], phone, request["created_at"]))

    migrator.upgrade(empty, MIGRATIONS, log=quiet)
    rows = empty.execute("SELECT donor_id, phone, record_key FROM blood_donor_matches "
                         "ORDER BY donor_id").fetchall()
    assert [(row["donor_id"], row["phone"]) for row in rows] == [
        (first["id"], "+8801711111111"), (second["id"], None)]
    keys = [row["record_key"] for row in rows]
    assert all(keys) and len(set(keys)) == 2


def test_upgrading_over_bookings_keeps_their_fields_and_lets_new_ones_seal_them_together(empty):
    """0142 adds the sealed ``personal`` object and makes the old field columns nullable
    (SQLite: swapped). Bookings written before it, in plaintext or sealed field by field,
    keep every value where it was and read as before; a booking written after it keeps
    its fields only in the object."""
    migrator.upgrade(empty, MIGRATIONS, log=quiet, target=141)
    make = Factory(empty, sealed=False)
    patient, hospital = make.user(), make.hospital()
    plain = make.booking(patient, hospital, patient_name="Legacy Plain")
    field_by_field = make.booking(patient, hospital, patient_name="Legacy Sealed",
                                  scheduled_in=timedelta(days=3))
    reference = field_by_field["booking_reference"]
    with transaction(empty):
        empty.execute(
            "UPDATE bookings SET patient_name = ?, emergency_contact_phone = ? WHERE id = ?",
            (fields.seal("bookings", "patient_name", reference, "Legacy Sealed"),
             fields.seal("bookings", "emergency_contact_phone", reference, "+8801722222222"),
             field_by_field["id"]))

    migrator.upgrade(empty, MIGRATIONS, log=quiet)
    rows = {row["id"]: row for row in empty.execute("SELECT * FROM bookings").fetchall()}
    assert rows[plain["id"]]["personal"] is None
    assert rows[plain["id"]]["patient_name"] == "Legacy Plain"
    assert fields.is_sealed(rows[field_by_field["id"]]["patient_name"])
    opened = fields.open_row("bookings", rows[field_by_field["id"]], strict=True)
    assert (opened["patient_name"], opened["emergency_contact_phone"], opened["patient_age"]) == (
        "Legacy Sealed", "+8801722222222", 40)

    together = Factory(empty).booking(patient, hospital, patient_name="After 0142",
                                      scheduled_in=timedelta(days=4))
    row = empty.execute("SELECT * FROM bookings WHERE id = ?", (together["id"],)).fetchone()
    assert fields.is_sealed(row["personal"]) and row["patient_name"] is None
    assert fields.open_row("bookings", row)["patient_name"] == "After 0142"
