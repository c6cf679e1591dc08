"""Rotation while another process writes (issue #18 item 2): run on both backends, the
point being PostgreSQL, where the writer is a second server session (the batch's rows
are locked FOR UPDATE; a conflicting transaction is run again)."""
import multiprocessing
from datetime import timedelta

from app.bookings import queries as booking_queries
from app.config import TEST_OVERRIDES, configure_encryption
from app.crypto import fields, keys, rotation, sealed_rows
from app.db import connect_from_config, transaction
from app.db.retry import run_again_after_conflicts
from tests.factories import Factory

WRITES = 40


def _writer(config, user, hospital, booking_ids, started, results):
    """Another process: new bookings and new hospital notes on existing ones (the one
    personal field written after creation), as fast as it can, with the key ring it
    started with (the old key is current there)."""
    configure_encryption(config)
    conn = connect_from_config(config)
    make = Factory(conn)
    started.set()
    for n in range(WRITES):
        def create(n=n):
            return make.booking(user, hospital, patient_name=f"Writer {n} Sultana",
                                scheduled_in=timedelta(days=30 + n))
        # the factory's insert is a transaction of its own, which can lose a conflict with
        # a rotation batch on PostgreSQL like the notes below: run again, as the service does
        if conn.dialect == "postgres":
            booking = run_again_after_conflicts(create, 50, what="test create")
        else:
            booking = create()
        results.put(("new", booking["id"], f"Writer {n} Sultana"))
        target = booking_ids[n % len(booking_ids)]
        notes = f"note {n}"

        def write(target=target, notes=notes):
            with transaction(conn):
                reference = conn.execute("SELECT booking_reference FROM bookings WHERE id = ?",
                                         (target,)).fetchone()["booking_reference"]
                sealed_rows.store_sealed(conn, "bookings", target, {
                    "authority_notes": fields.seal("bookings", "authority_notes", reference,
                                                   notes)})
        if conn.dialect == "postgres":
            run_again_after_conflicts(write, 50, what="test write")
        else:
            write()
        results.put(("notes", target, notes))
    conn.close()


def test_rotation_with_a_second_process_writing_loses_nothing(app, db, world, make, tmp_path):
    old = keys.entries(fields.ring())[0]
    path = tmp_path / "keys"
    keys.write_key_file(path, [old])
    config = {**dict(app.config), "ENCRYPTION_KEYS": "", "ENCRYPTION_KEY_FILE": str(path)}
    configure_encryption(config)
    made = [make.booking(world.patient, world.hospital, patient_name=f"Early {n} Begum",
                         scheduled_in=timedelta(days=2 + n)) for n in range(60)]
    ids = [booking["id"] for booking in made]
    context = multiprocessing.get_context("spawn")
    started, results = context.Event(), context.Queue()
    writer = context.Process(target=_writer, args=(
        {key: value for key, value in config.items() if isinstance(value, (str, int, float, bool))},
        dict(world.other_patient), dict(world.hospital), ids, started, results))
    writer.start()
    try:
        assert started.wait(30)
        keys.write_key_file(path, [(old[0], old[1], False), ("k2", keys.new_key(), True)])
        configure_encryption(config)
        report = rotation.reencrypt(db, batch_size=5)
        assert not report.unreadable
    finally:
        writer.join(60)
    assert writer.exitcode == 0
    expected_names, expected_notes = {}, {}
    while not results.empty():
        kind, booking_id, value = results.get()
        (expected_names if kind == "new" else expected_notes)[booking_id] = value
    assert len(expected_names) == WRITES
    # the writer's rows sealed with the old key after the scan passed them: a second
    # run picks them up ("re-running continues")
    rotation.reencrypt(db, batch_size=5)
    assert rotation.status(db)["bookings"] == {"k2": 60 + WRITES}
    for n, booking_id in enumerate(ids):
        row = booking_queries.get_booking(db, booking_id)
        assert row["patient_name"] == f"Early {n} Begum"
        assert row["authority_notes"] == expected_notes.get(booking_id, made[n]["authority_notes"])
    for booking_id, name in expected_names.items():
        assert booking_queries.get_booking(db, booking_id)["patient_name"] == name
    configure_encryption(TEST_OVERRIDES)
