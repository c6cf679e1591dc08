"""Every trigger and the CHECKs that guard invariants, tested against the real schema."""

import pytest

from app.db import IntegrityError, pick, transaction
from app.timeutil import to_iso, utcnow

NOW = to_iso(utcnow())


def set_status(db, booking, status, *, actor=None, reason=None):
    with transaction(db):
        db.execute(
            """
            UPDATE bookings SET status = ?, status_changed_by = ?, status_reason = ?,
                   allocated_units = 0, updated_at = ?
            WHERE id = ?
            """,
            (status, actor, reason, NOW, booking["id"]),
        )


def history(db, booking):
    return db.execute(
        "SELECT old_status, new_status, changed_by, reason FROM booking_status_history "
        "WHERE booking_id = ? ORDER BY id",
        (booking["id"],),
    ).fetchall()


def test_creating_a_booking_writes_exactly_one_history_row(db, make):
    patient = make.user()
    booking = make.booking(patient, make.hospital(resources={"beds": 2}))
    assert history(db, booking) == [
        {"old_status": None, "new_status": "pending", "changed_by": patient["id"], "reason": None}
    ]


def test_creation_notifies_patient_and_active_authorities_of_that_hospital_only(db, make):
    hospital, other = make.hospital(), make.hospital()
    authority = make.authority(hospital)
    make.user("hospital-authority", hospital_id=hospital["id"], status="inactive")
    make.authority(other)
    patient = make.user()
    booking = make.booking(patient, hospital)
    rows = db.execute(
        "SELECT user_id, type FROM booking_notifications WHERE booking_id = ? ORDER BY id",
        (booking["id"],),
    ).fetchall()
    assert rows == [
        {"user_id": patient["id"], "type": "booking_submitted"},
        {"user_id": authority["id"], "type": "booking_request"},
    ]


def test_each_transition_writes_one_history_row_with_actor_and_reason(db, make):
    patient, admin = make.user(), make.admin()
    booking = make.booking(patient, make.hospital())
    set_status(db, booking, "cancelled", actor=admin["id"], reason="duplicate request")
    assert history(db, booking)[1:] == [
        {"old_status": "pending", "new_status": "cancelled", "changed_by": admin["id"],
         "reason": "duplicate request"}
    ]
    notes = db.execute(
        "SELECT user_id, type, message FROM booking_notifications WHERE booking_id = ? AND type = 'booking_cancelled'",
        (booking["id"],),
    ).fetchall()
    assert len(notes) == 1 and notes[0]["user_id"] == patient["id"]
    assert "duplicate request" in notes[0]["message"]


def test_an_update_that_keeps_the_status_writes_no_history(db, make):
    booking = make.booking(make.user(), make.hospital())
    with transaction(db):
        db.execute("UPDATE bookings SET notes = 'x', status = status WHERE id = ?", (booking["id"],))
    assert len(history(db, booking)) == 1


@pytest.mark.parametrize(
    "start, target",
    [("pending", "completed"), ("declined", "approved"), ("cancelled", "pending"),
     ("completed", "cancelled"), ("approved", "pending"), ("approved", "declined")],
)
def test_transition_matrix_refuses_illegal_moves(db, make, start, target):
    booking = make.booking(make.user(), make.hospital(resources={"beds": 1}), status=start)
    with pytest.raises(IntegrityError, match="transition not allowed"):
        set_status(db, booking, target)
    assert db.execute("SELECT status FROM bookings WHERE id = ?", (booking["id"],)).fetchone()["status"] == start


@pytest.mark.parametrize(
    "start, target",
    [("pending", "approved"), ("pending", "declined"), ("pending", "cancelled"),
     ("approved", "completed"), ("approved", "cancelled")],
)
def test_transition_matrix_allows_the_contracts_moves(db, make, start, target):
    booking = make.booking(make.user(), make.hospital(resources={"beds": 1}), status=start)
    set_status(db, booking, target)
    assert db.execute("SELECT status FROM bookings WHERE id = ?", (booking["id"],)).fetchone()["status"] == target


def insert_transaction(db, user, status="pending"):
    with transaction(db):
        return db.execute(
            """
            INSERT INTO transactions (transaction_ref, kind, user_id, amount_minor, status,
                                      created_at, updated_at)
            VALUES (?, 'wallet_topup', ?, 1000, ?, ?, ?) RETURNING *
            """,
            (f"T-{user['id']}-{status}", user["id"], status, NOW, NOW),
        ).fetchone()


def move(db, tx, status):
    with transaction(db):
        db.execute(
            "UPDATE transactions SET status = ?, method = 'sslcommerz', completed_at = ? WHERE id = ?",
            (status, NOW, tx["id"]),
        )


def test_payment_states_move_forward(db, make):
    tx = insert_transaction(db, make.user())
    for status in ("processing", "completed", "partially_refunded", "refunded"):
        move(db, tx, status)


@pytest.mark.parametrize(
    "start, target",
    [("failed", "completed"), ("completed", "pending"), ("refunded", "completed"),
     ("processing", "pending")],
)
def test_payment_states_never_move_back(db, make, start, target):
    tx = insert_transaction(db, make.user(), status="pending")
    path = {"failed": ["failed"], "completed": ["completed"], "refunded": ["completed", "refunded"],
            "processing": ["processing"]}[start]
    for status in path:
        move(db, tx, status)
    with pytest.raises(IntegrityError, match="transition not allowed"):
        move(db, tx, target)


def test_completed_booking_payment_must_split_exactly(db, make):
    patient = make.user()
    booking = make.booking(patient, make.hospital())
    with pytest.raises(IntegrityError):
        with transaction(db):
            db.execute(
                """
                INSERT INTO transactions (transaction_ref, kind, booking_id, user_id, amount_minor,
                    method, status, platform_fee_minor, hospital_share_minor, created_at,
                    updated_at, completed_at)
                VALUES ('T-split', 'booking_payment', ?, ?, 10000, 'wallet', 'completed', 500, 9499,
                        ?, ?, ?)
                """,
                (booking["id"], patient["id"], NOW, NOW, NOW),
            )


def ledger_row(db, user, *, kind="credit", amount=500, before=0, after=500):
    with transaction(db):
        return db.execute(
            """
            INSERT INTO balance_transactions (user_id, type, amount_minor, balance_before_minor,
                                              balance_after_minor, description, created_at)
            VALUES (?, ?, ?, ?, ?, 'test', ?) RETURNING *
            """,
            (user["id"], kind, amount, before, after, NOW),
        ).fetchone()


def test_ledger_rows_must_add_up(db, make):
    user = make.user()
    ledger_row(db, user)
    with pytest.raises(IntegrityError):
        ledger_row(db, user, kind="debit", amount=100, before=500, after=500)
    with pytest.raises(IntegrityError):
        ledger_row(db, user, kind="debit", amount=600, before=500, after=-100)


def test_balance_can_never_go_negative(db, make):
    user = make.user()
    with pytest.raises(IntegrityError):
        with transaction(db):
            db.execute(
                "INSERT INTO user_balance (user_id, balance_minor, updated_at) VALUES (?, -1, ?)",
                (user["id"], NOW),
            )


def append_only_rows(db, make):
    """One row in each append-only table."""
    user, hospital = make.user(), make.hospital()
    booking = make.booking(user, hospital)
    ledger_row(db, user)
    tx = insert_transaction(db, user)
    with transaction(db):
        db.execute(
            "INSERT INTO resource_audit_log (hospital_id, resource_type, action, created_at) "
            "VALUES (?, 'beds', 'create', ?)", (hospital["id"], NOW))
        db.execute(
            "INSERT INTO admin_audit_log (actor_id, action, target_type, target_id, created_at) "
            "VALUES (?, 'approve', 'hospital', ?, ?)", (user["id"], hospital["id"], NOW))
        db.execute(
            "INSERT INTO hospital_earnings (hospital_id, transaction_id, share_minor, fee_minor, "
            "description, created_at) VALUES (?, ?, 950, 50, 'x', ?)", (hospital["id"], tx["id"], NOW))
    return booking


@pytest.mark.parametrize(
    "table",
    ["balance_transactions", "hospital_earnings", "resource_audit_log", "admin_audit_log",
     "booking_status_history"],
)
def test_ledgers_and_audit_logs_are_append_only(db, make, table):
    append_only_rows(db, make)
    assert db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] >= 1
    with pytest.raises(IntegrityError, match="append-only"):
        with transaction(db):
            db.execute(f"UPDATE {table} SET created_at = '2020-01-01T00:00:00+00:00'")
    with pytest.raises(IntegrityError, match="append-only"):
        with transaction(db):
            db.execute(f"DELETE FROM {table}")


@pytest.mark.parametrize(
    "values",
    [(5, 5, 0, 0, 1), (5, -1, 6, 0, 0), (5, 3, 1, 0, 0), (-1, 0, 0, 0, 0)],
    ids=["sum-over", "negative-available", "sum-under", "negative-total"],
)
def test_resource_counts_must_add_up_and_stay_non_negative(db, make, values):
    hospital = make.hospital()
    with pytest.raises(IntegrityError):
        with transaction(db):
            db.execute(
                "INSERT INTO hospital_resources (hospital_id, resource_type, total, available, "
                "occupied, reserved, maintenance, last_updated) VALUES (?, 'beds', ?, ?, ?, ?, ?, ?)",
                (hospital["id"], *values, NOW),
            )


def fts_ids(db, query):
    """Ids of the hospitals the search index finds for ``query`` (one plain word)."""
    return [r["id"] for r in db.execute(pick(db, {
        "sqlite": "SELECT rowid AS id FROM hospitals_fts WHERE hospitals_fts MATCH ? ORDER BY rowid",
        "postgres": "SELECT id FROM hospitals WHERE search_vector @@ to_tsquery('simple', ?) ORDER BY id",
    }), (query,))]


def test_full_text_index_follows_inserts_updates_and_deletes(db, make):
    hospital = make.hospital(name="Lakeside Cardiac Centre", specialties=("cardiology",))
    assert fts_ids(db, "lakeside") == [hospital["id"]]
    assert fts_ids(db, "cardiology") == [hospital["id"]]
    with transaction(db):
        db.execute("UPDATE hospitals SET name = 'Riverside Clinic' WHERE id = ?", (hospital["id"],))
    assert fts_ids(db, "lakeside") == [] and fts_ids(db, "riverside") == [hospital["id"]]
    with transaction(db):
        db.execute("DELETE FROM hospitals WHERE id = ?", (hospital["id"],))
    assert fts_ids(db, "riverside") == []


def test_one_open_booking_per_user_hospital_type_and_day(db, make):
    patient, hospital = make.user(), make.hospital()
    make.booking(patient, hospital)
    with pytest.raises(IntegrityError):
        make.booking(patient, hospital)
