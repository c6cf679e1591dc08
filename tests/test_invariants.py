"""app.ops.invariants: consistent data passes, and each kind of damage is reported.

Some damage is also refused by CHECK constraints; those cases switch the checks
off (SQLite: PRAGMA ignore_check_constraints; PostgreSQL: the test database's CHECK
constraints dropped) to fake corruption the service can't cause.
"""
from contextlib import contextmanager
from datetime import timedelta

import pytest

from app.db import pick, transaction
from app.ops import invariants
from app.timeutil import to_iso, utcnow
from tests import pg

NOW = to_iso(utcnow())


# Guards that later migrations may add on top of 0001; faked corruption goes past them.
LATER_GUARDS = [
    pg.drop_trigger("balance_transactions_before_insert_chain", "balance_transactions"),
    "DROP INDEX IF EXISTS idx_balance_tx_one_posting",
]


@contextmanager
def unchecked(db):
    """Write what the schema would refuse: CHECKs off, later guards dropped."""
    if db.dialect == "postgres":
        with transaction(db):
            pg.drop_check_constraints(db)
            for statement in LATER_GUARDS:
                db.execute(pick(db, statement))
            yield db
        return
    db.execute("PRAGMA ignore_check_constraints = ON")
    try:
        with transaction(db):
            for statement in LATER_GUARDS:
                db.execute(pick(db, statement))
            yield db
    finally:
        db.execute("PRAGMA ignore_check_constraints = OFF")


def names(violations):
    return {violation.split(":", 1)[0] for violation in violations}


@pytest.fixture
def world(make):
    """A hospital with bookings in every state, a funded wallet, a split payment."""
    hospital = make.hospital(resources={"beds": 5, "icu": 2}, prices={"beds": 100000})
    patient = make.user()
    approved = make.booking(patient, hospital, status="approved")
    make.booking(patient, hospital, status="pending", resource_type="icu")
    make.booking(make.user(), hospital, status="completed")
    make.booking(make.user(), hospital, status="cancelled")
    return {"hospital": hospital, "patient": patient, "approved": approved}


def fund(db, user_id, amount):
    with transaction(db):
        db.execute(
            "INSERT INTO user_balance (user_id, balance_minor, updated_at) VALUES (?, ?, ?)",
            (user_id, amount, NOW),
        )
        db.execute(
            """
            INSERT INTO balance_transactions (user_id, type, amount_minor, balance_before_minor,
                balance_after_minor, description, created_at)
            VALUES (?, 'credit', ?, 0, ?, 'top-up', ?)
            """,
            (user_id, amount, amount, NOW),
        )


def pay_from_wallet(db, booking, amount, *, fee):
    """A completed wallet payment with its debit, written as payments would
    (the balance first, then the ledger row that ends at it)."""
    with transaction(db):
        tx_id = db.execute(
            """
            INSERT INTO transactions (transaction_ref, kind, booking_id, user_id, hospital_id,
                amount_minor, method, status, platform_fee_minor, hospital_share_minor,
                created_at, updated_at, completed_at)
            VALUES (?, 'booking_payment', ?, ?, ?, ?, 'wallet', 'completed', ?, ?, ?, ?, ?)
            RETURNING id
            """,
            (f"T-{booking['id']}", booking["id"], booking["user_id"], booking["hospital_id"],
             amount, fee, amount - fee, NOW, NOW, NOW),
        ).fetchone()["id"]
        balance = db.execute(
            "SELECT balance_minor FROM user_balance WHERE user_id = ?", (booking["user_id"],)
        ).fetchone()["balance_minor"]
        db.execute(
            "UPDATE user_balance SET balance_minor = ? WHERE user_id = ?",
            (balance - amount, booking["user_id"]),
        )
        db.execute(
            """
            INSERT INTO balance_transactions (user_id, transaction_id, type, amount_minor,
                balance_before_minor, balance_after_minor, description, created_at)
            VALUES (?, ?, 'debit', ?, ?, ?, 'payment', ?)
            """,
            (booking["user_id"], tx_id, amount, balance, balance - amount, NOW),
        )
    return tx_id


def test_consistent_data_has_no_violations(db, world):
    fund(db, world["patient"]["id"], 500000)
    pay_from_wallet(db, world["approved"], 100000, fee=5000)
    assert invariants.check_all(db) == []


def test_empty_database_has_no_violations(db):
    assert invariants.check_all(db) == []


def test_marks_that_leave_no_room_for_a_hold_are_reported(db, world):
    # every bed marked occupied by hand while an approved booking holds one in two days
    with unchecked(db):
        db.execute("UPDATE hospital_resources SET occupied = total, available = 0 "
                   "WHERE resource_type = 'beds'")
    violations = invariants.check_all(db)
    assert names(violations) == {"schedule_within_capacity"}
    assert "'held': 1" in violations[0] and "'marked_unavailable': 5" in violations[0]


def test_overbooking_is_reported(db, make, world):
    # five more holds overlapping the approved one: six beds held at once, five exist
    for minutes in range(1, 6):
        make.booking(make.user(), world["hospital"], status="approved",
                     scheduled_in=timedelta(days=2, minutes=minutes))
    violations = invariants.check_all(db)
    assert names(violations) == {"schedule_within_capacity"}
    assert "'held': 6" in violations[0] and "'total': 5" in violations[0]


def test_back_to_back_holds_are_not_overbooking(db, make, world):
    # the same five more, each starting when the one before ends: one bed at a time
    for n in range(1, 6):
        make.booking(make.user(), world["hospital"], status="approved",
                     scheduled_in=timedelta(days=2 + n))
    assert invariants.check_all(db) == []


def test_holds_that_ended_are_not_checked_against_todays_marks(db, make, world):
    # two of last week's holds (never completed) and today's four marks would be six
    # beds; from now on it is the future hold and the marks: five
    for minutes in (0, 30):
        make.booking(make.user(), world["hospital"], status="approved",
                     scheduled_in=timedelta(days=-7, minutes=minutes))
    with unchecked(db):
        db.execute("UPDATE hospital_resources SET occupied = 4, available = 1 "
                   "WHERE resource_type = 'beds'")
    assert invariants.check_all(db) == []
    with unchecked(db):  # one more mark, and the future hold no longer fits
        db.execute("UPDATE hospital_resources SET occupied = 5, available = 0 "
                   "WHERE resource_type = 'beds'")
    assert names(invariants.check_all(db)) == {"schedule_within_capacity"}


def test_units_held_of_a_resource_that_does_not_exist_are_reported(db, world):
    with unchecked(db):
        db.execute("DELETE FROM hospital_resources WHERE resource_type = 'beds'")
    violations = invariants.check_capacity(db)
    assert names(violations) == {"schedule_within_capacity"}
    assert "'held': 1" in violations[0] and "'total': None" in violations[0]


def test_a_booking_without_its_window_end_is_reported(db, world):
    with unchecked(db):
        db.execute("UPDATE bookings SET scheduled_end = NULL WHERE id = ?", (world["approved"]["id"],))
    assert "booking_window_stored" in names(invariants.check_capacity(db))


def set_occupied(client, headers, hospital, resource_type, occupied):
    """What a hospital's authority does for walk-ins: PUT the units it marks occupied."""
    return client.put(f"/api/hospital-resources/{hospital['id']}/{resource_type}",
                      json={"occupied": occupied, "reason": "walk-ins"}, headers=headers)


@pytest.mark.parametrize("occupied", [4, 0], ids=["walk-ins", "none"])
def test_an_authority_marking_occupied_by_hand_breaks_nothing(client, make, db, world, occupied):
    # the approved booking holds 1 bed in two days; the marks leave room for it
    headers = make.auth(make.authority(world["hospital"]))
    assert set_occupied(client, headers, world["hospital"], "beds", occupied).status_code == 200
    assert invariants.check_all(db) == []
    r = client.put(f"/api/bookings/{world['approved']['id']}/complete", json={}, headers=headers)
    assert r.status_code == 200, r.json
    assert invariants.check_all(db) == []


def test_the_service_refuses_marks_that_would_squeeze_out_a_hold(client, make, db, world):
    headers = make.auth(make.authority(world["hospital"]))
    r = set_occupied(client, headers, world["hospital"], "beds", 5)
    assert r.status_code == 409 and "total" in r.json["errors"]["json"], r.json
    assert invariants.check_all(db) == []


def test_a_forced_mark_is_reported_for_its_resource_only(client, make, db, world):
    make.booking(make.user(), world["hospital"], status="approved", resource_type="icu")
    with unchecked(db):
        db.execute("UPDATE hospital_resources SET occupied = total, available = 0 "
                   "WHERE resource_type = 'icu'")
    violations = invariants.check_all(db)
    assert names(violations) == {"schedule_within_capacity"}
    assert "'resource_type': 'icu'" in violations[0] and "'beds'" not in violations[0]


def test_counters_that_do_not_add_up_are_reported(db, world):
    with unchecked(db):
        db.execute("UPDATE hospital_resources SET available = available + 3 WHERE resource_type = 'icu'")
    assert "resource_counters_add_up" in names(invariants.check_capacity(db))


def test_approved_booking_without_allocation_is_reported(db, world):
    with unchecked(db):
        db.execute("UPDATE bookings SET allocated_units = 0 WHERE id = ?", (world["approved"]["id"],))
    assert "allocation_matches_status" in names(invariants.check_capacity(db))


def test_balance_that_differs_from_ledger_is_reported(db, world):
    fund(db, world["patient"]["id"], 1000)
    with transaction(db):
        db.execute("UPDATE user_balance SET balance_minor = 2000")
    assert names(invariants.check_money(db)) == {"balance_equals_ledger"}


def test_lost_update_in_ledger_chain_is_reported(db, world):
    # two debits computed from the same starting balance: the classic race
    user_id = world["patient"]["id"]
    fund(db, user_id, 1000)
    with unchecked(db):
        db.execute("UPDATE user_balance SET balance_minor = 400")
        for _ in range(2):
            db.execute(
                """
                INSERT INTO balance_transactions (user_id, type, amount_minor, balance_before_minor,
                    balance_after_minor, description, created_at)
                VALUES (?, 'debit', 600, 1000, 400, 'double spend', ?)
                """,
                (user_id, NOW),
            )
    found = names(invariants.check_money(db))
    assert "ledger_rows_chain" in found and "balance_equals_ledger" in found


def test_ledger_rows_without_a_wallet_are_reported(db, world):
    fund(db, world["patient"]["id"], 1000)
    with transaction(db):
        db.execute("DELETE FROM user_balance")
    assert names(invariants.check_money(db)) == {"balance_equals_ledger"}


def test_split_that_does_not_add_up_is_reported(db, world):
    fund(db, world["patient"]["id"], 500000)
    tx_id = pay_from_wallet(db, world["approved"], 100000, fee=5000)
    with unchecked(db):
        db.execute("UPDATE transactions SET hospital_share_minor = 90000 WHERE id = ?", (tx_id,))
    assert names(invariants.check_money(db)) == {"payment_split_adds_up"}


def test_refunds_beyond_the_payment_are_reported(db, world):
    fund(db, world["patient"]["id"], 500000)
    tx_id = pay_from_wallet(db, world["approved"], 100000, fee=5000)
    with transaction(db):
        for _ in range(2):
            db.execute(
                """
                INSERT INTO refunds (transaction_id, amount_minor, reason, method, status, created_at)
                VALUES (?, 60000, 'race', 'wallet', 'completed', ?)
                """,
                (tx_id, NOW),
            )
        db.execute("UPDATE transactions SET status = 'refunded', refunded_minor = amount_minor "
                   "WHERE id = ?", (tx_id,))
    assert "refunds_within_payment" in names(invariants.check_money(db))


def test_a_refund_the_payment_does_not_count_is_reported(db, world):
    fund(db, world["patient"]["id"], 500000)
    tx_id = pay_from_wallet(db, world["approved"], 100000, fee=5000)
    with transaction(db):  # a refund row without the guarded raise of refunded_minor
        db.execute(
            """
            INSERT INTO refunds (transaction_id, amount_minor, reason, method, status, created_at)
            VALUES (?, 30000, 'lost update', 'sslcommerz', 'failed', ?)
            """,
            (tx_id, NOW),
        )
    assert names(invariants.check_money(db)) == {"refunds_within_payment"}


def test_double_debit_for_one_payment_is_reported(db, world):
    fund(db, world["patient"]["id"], 500000)
    tx_id = pay_from_wallet(db, world["approved"], 100000, fee=5000)
    with unchecked(db):
        db.execute("UPDATE user_balance SET balance_minor = 300000")
        db.execute(
            """
            INSERT INTO balance_transactions (user_id, transaction_id, type, amount_minor,
                balance_before_minor, balance_after_minor, description, created_at)
            VALUES (?, ?, 'debit', 100000, 400000, 300000, 'replayed payment', ?)
            """,
            (world["patient"]["id"], tx_id, NOW),
        )
    assert names(invariants.check_money(db)) == {"wallet_payment_debited_once"}


def test_history_out_of_step_is_reported(db, world):
    with transaction(db):
        # PostgreSQL writes history and notifications in one trigger
        db.execute(pick(db, {"sqlite": "DROP TRIGGER bookings_after_update_history",
                             "postgres": "DROP TRIGGER bookings_after_update_status ON bookings"}))
        db.execute("UPDATE bookings SET status = 'declined' WHERE status = 'pending'")
    assert names(invariants.check_history(db)) == {"history_ends_in_current_status"}


def test_integrity_check_passes_on_a_sound_file(db, world):
    assert invariants.check_integrity(db) == []
