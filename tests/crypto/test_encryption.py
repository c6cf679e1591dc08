"""Personal fields at rest (issue #18 items 1-3): sealed in the database, its WAL and
its backups; bound to their row and column; readable after rotation; searchable by
exact name tokens; a lost key or moved value degrades to "[unreadable]", never a 500."""
import gzip
import os
import stat
from datetime import timedelta

import pytest

from app.config import TEST_OVERRIDES, ConfigError, check_config, configure_encryption
from app.crypto import fields, keys, rotation
from app.db import transaction
from app.ops.backup import run_backup
from app.timeutil import utcnow
from tests.bookings.helpers import booking_body
from tests.factories import build_world

NAME = "Zubaida Qureshi-Talukdar"
PHONE = "+8801799912345"
CONDITION = "Suspected dengue shock syndrome"
NOTES = "Bring the platelet reports from Ibn Sina"
DONOR_PHONE = "+8801766654321"


@pytest.fixture
def world(make):
    return build_world(make, resources={"beds": 5}, prices={"beds": 150000})


@pytest.fixture(autouse=True)
def _test_ring_afterwards():
    """Tests here install other rings; every other test expects the tests' fixed key."""
    yield
    configure_encryption({**TEST_OVERRIDES, "ENCRYPT_FIELDS": True})


def plant(client, world):
    """A booking and a blood request carrying NAME and PHONE, through the API; approved
    with NOTES (copied into history and notifications before migration 0120); a donor
    who volunteers for the request with DONOR_PHONE."""
    r = client.post("/api/bookings", json=booking_body(
        world.hospital, patientName=NAME, emergencyContactPhone=PHONE,
        medicalCondition=CONDITION), headers=world.headers["patient"])
    assert r.status_code == 201, r.json
    booking = r.json
    r = client.put(f"/api/bookings/{booking['id']}/approve", json={"notes": NOTES},
                   headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    r = client.post("/api/blood/request", json={
        "patientName": NAME, "bloodType": "O-", "unitsNeeded": 2, "urgency": "high",
        "contactPhone": PHONE, "location": "Dhaka", "medicalCondition": CONDITION},
        headers=world.headers["patient"])
    assert r.status_code == 201, r.json
    request = r.json
    r = client.post(f"/api/blood/requests/{request['id']}/match",
                    json={"donorBloodType": "O-", "phone": DONOR_PHONE},
                    headers=world.headers["other_patient"])
    assert r.status_code == 201 and r.json["phone"] == DONOR_PHONE, r.json
    return booking, request


def secrets_in(data):
    return [s for s in (NAME, PHONE, CONDITION, NOTES, "Zubaida", "Qureshi", DONOR_PHONE)
            if s.encode() in data]


@pytest.mark.sqlite_only
def test_no_planted_value_in_the_database_file_its_wal_or_a_backup(app, client, db, world,
                                                                   tmp_path):
    booking, request = plant(client, world)
    # the API still shows them to those who may see them
    seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["patient"]).json
    assert (seen["patientName"], seen["emergencyContactPhone"]) == (NAME, PHONE)
    assert seen["authorityNotes"] == NOTES
    matches = client.get(f"/api/blood/requests/{request['id']}/matches",
                         headers=world.headers["patient"]).json
    assert [m["phone"] for m in matches] == [DONOR_PHONE]
    database = app.config["DATABASE"]
    wal = database + "-wal"
    assert os.path.getsize(wal) > 0  # the writes are (also) in the WAL right now
    for path in (database, wal):
        with open(path, "rb") as handle:
            assert secrets_in(handle.read()) == [], path
    # the backup job's own path (app.ops.backup.run_backup, as the scheduler runs it)
    run_backup(db, now=utcnow(), config={**app.config, "BACKUP_DIR": str(tmp_path / "backups")})
    [backup] = (tmp_path / "backups").iterdir()
    with gzip.open(backup, "rb") as handle:
        assert secrets_in(handle.read()) == []


def test_no_planted_value_in_any_table(client, db, world):
    """On PostgreSQL: what a SELECT of the raw tables shows (the owner's view, no policy)."""
    plant(client, world)
    tables = [row["name"] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        if db.dialect == "sqlite" else
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'").fetchall()]
    assert "bookings" in tables and "booking_name_tokens" in tables
    with transaction(db):
        from app.db import set_actor
        set_actor(db, user_id=None, role="system")
        for table in tables:
            text = repr(db.execute(f"SELECT * FROM {table}").fetchall())
            assert secrets_in(text.encode()) == [], table


def test_a_new_booking_stores_its_patient_fields_as_one_sealed_value(db, world, make):
    booking = make.booking(world.patient, world.hospital, patient_name=NAME,
                           emergency_contact_phone=PHONE, notes=NOTES)
    row = db.execute("SELECT * FROM bookings WHERE id = ?", (booking["id"],)).fetchone()
    column, inside = fields.ENVELOPES["bookings"]
    assert fields.is_sealed(row[column])
    assert {name: row[name] for name in inside} == {name: None for name in inside}
    opened = fields.open_row("bookings", row)
    assert (opened["patient_name"], opened["emergency_contact_phone"], opened["notes"]) == (
        NAME, PHONE, NOTES)
    assert isinstance(opened["patient_age"], int) and column not in opened


def test_a_ciphertext_moved_to_another_row_or_column_does_not_open(client, db, world, make,
                                                                    caplog):
    first = make.booking(world.patient, world.hospital, patient_name=NAME)
    second = make.booking(world.other_patient, world.hospital, patient_name="Other Person",
                          emergency_contact_phone="+8801711111111")
    stored = db.execute("SELECT personal, booking_reference FROM bookings WHERE id = ?",
                        (first["id"],)).fetchone()
    assert fields.is_sealed(stored["personal"])
    other_ref = db.execute("SELECT booking_reference FROM bookings WHERE id = ?",
                           (second["id"],)).fetchone()["booking_reference"]
    assert NAME in fields.open_value("bookings", "personal", stored["booking_reference"],
                                     stored["personal"])
    with pytest.raises(fields.FieldIntegrityError):  # another row
        fields.open_value("bookings", "personal", other_ref, stored["personal"])
    with pytest.raises(fields.FieldIntegrityError):  # another column
        fields.open_value("bookings", "authority_notes", stored["booking_reference"],
                          stored["personal"])
    with pytest.raises(fields.FieldIntegrityError):  # another table
        fields.open_value("blood_requests", "personal", stored["booking_reference"],
                          stored["personal"])
    r = client.put(f"/api/bookings/{second['id']}/approve", json={"notes": NOTES},
                   headers=world.headers["authority"])
    assert r.status_code == 200, r.json
    # copied behind the service's back: the service says so, it does not fail
    with transaction(db):
        db.execute("UPDATE bookings SET personal = ? WHERE id = ?",
                   (stored["personal"], second["id"]))
    r = client.get(f"/api/bookings/{second['id']}", headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    assert r.json["patientName"] == fields.UNREADABLE
    assert r.json["emergencyContactPhone"] == fields.UNREADABLE and r.json["patientAge"] is None
    # the rest of the row is fine: its own sealed notes and everything plain
    assert r.json["authorityNotes"] == NOTES and r.json["status"] == "approved"
    assert r.json["bookingReference"] == other_ref
    assert any("integrity" in record.getMessage() for record in caplog.records)


def test_a_lost_key_leaves_those_fields_unreadable_and_the_rest_working(client, db, world, make):
    booking = client.post("/api/bookings", json=booking_body(world.hospital),
                          headers=world.headers["patient"]).json
    # the ring loses the key those fields were sealed with
    configure_encryption({**TEST_OVERRIDES, "ENCRYPTION_KEYS": f"*other:{keys.new_key()}"})
    r = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert r.status_code == 200, r.json
    assert r.json["patientName"] == fields.UNREADABLE and r.json["patientAge"] is None
    assert r.json["status"] == "pending" and r.json["bookingReference"]
    listed = client.get("/api/bookings/my-bookings", headers=world.headers["patient"])
    assert listed.status_code == 200 and listed.json[0]["patientName"] == fields.UNREADABLE
    # new bookings still work, under the key the ring has
    fresh = make.booking(world.patient, world.hospital, patient_name="Fresh Start",
                         scheduled_in=timedelta(days=9))
    r = client.get(f"/api/bookings/{fresh['id']}", headers=world.headers["patient"])
    assert r.status_code == 200 and r.json["patientName"] == "Fresh Start"


def test_legacy_plaintext_is_read_then_sealed_and_indexed_by_reencrypt(client, db, world, make):
    booking = make.booking(world.patient, world.hospital)
    with transaction(db):  # as a row written before migration 0120 looks
        db.execute(LEGACY_ROW, {**LEGACY_VALUES, "id": booking["id"]})
        db.execute("DELETE FROM booking_name_tokens WHERE booking_id = ?", (booking["id"],))
    seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["admin"]).json
    assert (seen["patientName"], seen["patientAge"]) == (NAME, 71)
    assert rotation.status(db)["bookings"].get("plaintext") == 1
    report = rotation.reencrypt(db, batch_size=2)
    assert report.resealed == {"bookings": 1} and not report.unreadable
    _assert_moved_into_the_envelope(db, booking["id"])
    seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["admin"]).json
    assert (seen["patientName"], seen["patientAge"], seen["emergencyContactPhone"],
            seen["medicalCondition"]) == (NAME, 71, PHONE, CONDITION)
    assert rotation.status(db)["bookings"] == {"test1": 1}
    found = client.get("/api/bookings/search", query_string={"patientName": "zubaida"},
                       headers=world.headers["admin"]).json
    assert [b["id"] for b in found] == [booking["id"]]
    assert rotation.reencrypt(db).resealed == {}  # nothing left: a rerun changes nothing


def test_a_row_sealed_field_by_field_is_read_then_moved_into_its_envelope(client, db, world,
                                                                         make):
    """Bookings written between migrations 0120 and 0142 hold one sealed value per field."""
    booking = make.booking(world.patient, world.hospital)
    with transaction(db):
        reference = db.execute("SELECT booking_reference FROM bookings WHERE id = ?",
                               (booking["id"],)).fetchone()["booking_reference"]
        db.execute(LEGACY_ROW, {**{column: fields.seal("bookings", column, reference, value)
                                   for column, value in LEGACY_VALUES.items()},
                                "id": booking["id"]})
    seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["admin"]).json
    assert (seen["patientName"], seen["patientAge"], seen["emergencyContactPhone"]) == (
        NAME, 71, PHONE)
    assert rotation.status(db)["bookings"] == {"test1": 1}  # sealed, under the current key
    assert rotation.reencrypt(db).resealed == {"bookings": 1}  # but not yet together
    _assert_moved_into_the_envelope(db, booking["id"])
    seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["admin"]).json
    assert (seen["patientName"], seen["patientAge"], seen["emergencyContactPhone"],
            seen["notes"]) == (NAME, 71, PHONE, NOTES)
    assert rotation.reencrypt(db).resealed == {}


# A booking row as it looked before migration 0142: every field in its own column.
LEGACY_VALUES = {"patient_name": NAME, "patient_age": "71", "patient_gender": "female",
                 "medical_condition": CONDITION, "emergency_contact_name": "Rashed",
                 "emergency_contact_phone": PHONE, "emergency_contact_relationship": "son",
                 "notes": NOTES}
LEGACY_ROW = ("UPDATE bookings SET personal = NULL, "
              + ", ".join(f"{column} = :{column}" for column in LEGACY_VALUES)
              + " WHERE id = :id")


def _assert_moved_into_the_envelope(db, booking_id):
    row = db.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
    column, inside = fields.ENVELOPES["bookings"]
    assert fields.is_sealed(row[column]) and NAME not in row[column]
    assert [name for name in inside if row[name] is not None] == []


def test_a_legacy_plaintext_donor_phone_is_read_then_sealed_by_reencrypt(client, db, world):
    _, request = plant(client, world)
    matches_url = f"/api/blood/requests/{request['id']}/matches"
    with transaction(db):  # as a match written before migration 0140 looks
        db.execute("UPDATE blood_donor_matches SET phone = ?", (DONOR_PHONE,))
    seen = client.get(matches_url, headers=world.headers["patient"]).json
    assert [m["phone"] for m in seen] == [DONOR_PHONE]
    assert rotation.status(db)["blood_donor_matches"] == {"plaintext": 1}
    assert rotation.reencrypt(db).resealed == {"blood_donor_matches": 1}
    stored = db.execute("SELECT phone FROM blood_donor_matches").fetchone()["phone"]
    assert fields.is_sealed(stored) and DONOR_PHONE not in stored
    assert rotation.status(db)["blood_donor_matches"] == {fields.ring().current: 1}
    seen = client.get(matches_url, headers=world.headers["patient"]).json
    assert [m["phone"] for m in seen] == [DONOR_PHONE]


def _key_file(tmp_path, *entries):
    path = tmp_path / "keys"
    keys.write_key_file(path, list(entries))
    return {**TEST_OVERRIDES, "ENCRYPTION_KEYS": "", "ENCRYPTION_KEY_FILE": str(path)}, path


def test_rotation_under_interleaved_writes_loses_nothing(app, client, db, world, make, tmp_path):
    old = keys.entries(fields.ring())[0]
    config, path = _key_file(tmp_path, old)
    configure_encryption(config)
    made = [make.booking(world.patient, world.hospital, patient_name=f"Person {n} Rahman",
                         scheduled_in=timedelta(days=2 + n))
            for n in range(7)]
    # a new current key, as `flask keys rotate` writes it
    keys.write_key_file(path, [(old[0], old[1], False), ("k2", keys.new_key(), True)])
    configure_encryption(config)
    written = []

    def write_between_batches():
        # the service keeps writing: a new booking, and notes on one not yet re-sealed
        n = len(written)
        if n < 3:
            written.append(client.post("/api/bookings", json=booking_body(
                world.hospital, patientName=f"Late {n} Akter",
                scheduledDate=(utcnow() + timedelta(days=20 + n)).isoformat()),
                headers=world.headers["patient"]).json)
            if n == 0:
                r = client.put(f"/api/bookings/{made[-1]['id']}/approve",
                               json={"notes": NOTES}, headers=world.headers["authority"])
                assert r.status_code == 200, r.json

    report = rotation.reencrypt(db, batch_size=2, between_batches=write_between_batches)
    assert not report.unreadable and len(written) == 3
    assert rotation.status(db)["bookings"] == {"k2": 10}
    assert rotation.status(db)["booking_name_tokens"] == {"k2": 10}
    for n, booking in enumerate(made):
        seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["admin"]).json
        assert seen["patientName"] == f"Person {n} Rahman"
    assert client.get(f"/api/bookings/{made[-1]['id']}",
                      headers=world.headers["admin"]).json["authorityNotes"] == NOTES
    for n, booking in enumerate(written):
        assert client.get(f"/api/bookings/{booking['id']}",
                          headers=world.headers["admin"]).json["patientName"] == f"Late {n} Akter"
    found = client.get("/api/bookings/search", query_string={"patientName": "rahman person"},
                       headers=world.headers["admin"]).json
    assert len(found) == 7
    # the old key can go now: every row opens without it
    keys.write_key_file(path, [("k2", keys.entries(fields.ring())[1][1], True)])
    configure_encryption(config)
    seen = client.get(f"/api/bookings/{made[0]['id']}", headers=world.headers["admin"]).json
    assert seen["patientName"] == "Person 0 Rahman"


def test_flask_keys_rotate_and_status(app, db, world, make, tmp_path):
    old = keys.entries(fields.ring())[0]
    config, path = _key_file(tmp_path, old)
    make.booking(world.patient, world.hospital, patient_name="Nasrin Sultana")
    app.config.update(ENCRYPTION_KEYS="", ENCRYPTION_KEY_FILE=str(path))
    configure_encryption(app.config)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "key k2 added" in result.output and "bookings: 1 row(s) re-sealed" in result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    result = runner.invoke(args=["keys", "status"])
    assert result.exit_code == 0, result.output
    assert "current key: k2" in result.output and "bookings: k2: 1" in result.output
    # again: nothing left to do
    result = runner.invoke(args=["keys", "reencrypt"])
    assert "bookings: 0 row(s) re-sealed" in result.output
    app.config.update(ENCRYPTION_KEYS=TEST_OVERRIDES["ENCRYPTION_KEYS"], ENCRYPTION_KEY_FILE="")


def test_rotate_refuses_keys_from_the_environment(app):
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code != 0 and "RAPIDCARE_ENCRYPTION_KEYS" in result.output


# --- configuration ----------------------------------------------------------------

def _config(**overrides):
    from app.config import DEFAULTS
    return {**DEFAULTS, "SECRET_KEY": "x", **overrides}


def test_production_refuses_to_start_without_a_key():
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY"):
        check_config(_config(ENV="production"))


def test_production_refuses_plaintext_fields():
    with pytest.raises(ConfigError, match="ENCRYPT_FIELDS"):
        check_config(_config(ENV="production", ENCRYPTION_KEYS=TEST_OVERRIDES["ENCRYPTION_KEYS"],
                             ENCRYPT_FIELDS=False))


@pytest.mark.parametrize("value", [
    "k1", "k1:not base64!", "k1:" + "QUJD", "*a:{k},*b:{k}", "a:{k},b:{k}", "a:{k},*a:{k}",
    "bad id!:{k}", "",
])
def test_malformed_keys_are_refused(value):
    text = value.format(k=keys.new_key())
    with pytest.raises(keys.KeyConfigError):
        keys.parse(text, "env")


def test_development_generates_a_private_key_file_and_says_so(tmp_path, caplog):
    ring = keys.load(_config(ENV="development"), tmp_path)
    path = tmp_path / "instance" / "encryption-keys"
    assert ring.current == "k1" and ring.source == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert any("generated a development encryption key" in r.getMessage() for r in caplog.records)
    assert keys.load(_config(ENV="development"), tmp_path).keys == ring.keys  # kept, not remade


def test_name_tokens_are_normalized():
    assert fields.name_tokens("  O'Brien,  ÁNNA-Marie  anna-marie ") == ["obrien", "ánnamarie", "annamarie"]
    assert fields.name_tokens("Ｒａｈｉｍａ") == ["rahima"]  # NFKC: full-width letters
    assert fields.name_tokens("%_!") == []
