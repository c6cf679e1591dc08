"""Migration 0030's triggers and indexes, and the ledger posting functions."""

import pytest

from app.db import IntegrityError, transaction
from app.timeutil import utcnow
from app.wallet.ledger import post_credit, post_debit
from tests.payments.helpers import approved_booking, balance, fund, hospital

NOW = "2025-01-01T00:00:00+00:00"


def raw_ledger_row(db, user, *, kind="credit", amount=500, before=0, after=500, tx_id=None):
    with transaction(db):
        db.execute(
            "INSERT INTO balance_transactions (user_id, transaction_id, type, amount_minor, "
            "balance_before_minor, balance_after_minor, description, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'raw', ?)",
            (user["id"], tx_id, kind, amount, before, after, NOW),
        )


def test_a_ledger_row_must_continue_the_previous_one(db, make):
    user = make.user()
    fund(db, user, 1_000)
    with pytest.raises(IntegrityError, match="balance chain"):
        raw_ledger_row(db, user, before=0, after=500)  # pretends the wallet was empty


def test_a_ledger_row_must_match_the_balance_just_written(db, make):
    user = make.user()
    fund(db, user, 1_000)
    # arithmetic right, chain right, but user_balance was not moved with it
    with pytest.raises(IntegrityError, match="balance chain"):
        raw_ledger_row(db, user, before=1_000, after=1_500)
    assert balance(db, user) == 1_000


def test_the_first_row_starts_at_zero(db, make):
    user = make.user()
    with pytest.raises(IntegrityError, match="balance chain"):
        raw_ledger_row(db, user, before=100, after=600)


def test_one_debit_per_payment(db, make):
    user, h = make.user(), hospital(make)
    _, due = approved_booking(make, db, user, h)
    fund(db, user, 10_000)
    with transaction(db):
        post_debit(db, user_id=user["id"], amount_minor=100, description="a", created_by=None,
                   now=utcnow(), transaction_id=due["id"])
    with pytest.raises(IntegrityError, match="UNIQUE|unique constraint"):
        with transaction(db):
            post_debit(db, user_id=user["id"], amount_minor=100, description="b",
                       created_by=None, now=utcnow(), transaction_id=due["id"])
    assert balance(db, user) == 9_900  # the failed second debit rolled back with its row


def test_refund_rows_may_repeat_for_one_payment(db, make):
    user, h = make.user(), hospital(make)
    _, due = approved_booking(make, db, user, h)
    for _ in range(2):
        with transaction(db):
            post_credit(db, user_id=user["id"], amount_minor=100, description="r",
                        created_by=None, now=utcnow(), currency="BDT", type="refund",
                        transaction_id=due["id"])
    assert balance(db, user) == 200


def earnings_row(db, hospital_id, tx_id, share, fee):
    with transaction(db):
        db.execute("INSERT INTO hospital_earnings (hospital_id, transaction_id, share_minor, "
                   "fee_minor, description, created_at) VALUES (?, ?, ?, ?, 'x', ?)",
                   (hospital_id, tx_id, share, fee, NOW))


def test_one_settlement_row_per_transaction_but_many_reversals(db, make):
    user, h = make.user(), hospital(make)
    _, due = approved_booking(make, db, user, h)
    earnings_row(db, h["id"], due["id"], 950, 50)
    with pytest.raises(IntegrityError):
        earnings_row(db, h["id"], due["id"], 950, 50)
    earnings_row(db, h["id"], due["id"], -95, -5)
    earnings_row(db, h["id"], due["id"], -95, 0)


def test_a_gateway_validation_id_is_used_once(db, make):
    user, h = make.user(), hospital(make)
    _, first = approved_booking(make, db, user, h)
    _, second = approved_booking(make, db, user, h, days=4)
    with transaction(db):
        db.execute("UPDATE transactions SET gateway_val_id = 'V1' WHERE id = ?", (first["id"],))
    with pytest.raises(IntegrityError):
        with transaction(db):
            db.execute("UPDATE transactions SET gateway_val_id = 'V1' WHERE id = ?",
                       (second["id"],))


def test_postings_refuse_to_run_outside_a_transaction(db, make):
    user = make.user()
    with pytest.raises(RuntimeError):
        post_credit(db, user_id=user["id"], amount_minor=1, description="x", created_by=None,
                    now=utcnow(), currency="BDT")


@pytest.mark.parametrize("amount", [0, -5])
def test_postings_refuse_non_positive_amounts(db, make, amount):
    user = make.user()
    with pytest.raises(ValueError):
        with transaction(db):
            post_credit(db, user_id=user["id"], amount_minor=amount, description="x",
                        created_by=None, now=utcnow(), currency="BDT")


def test_a_short_debit_writes_nothing(db, make):
    user = make.user()
    fund(db, user, 100)
    with transaction(db):
        assert post_debit(db, user_id=user["id"], amount_minor=101, description="x",
                          created_by=None, now=utcnow()) is None
    assert balance(db, user) == 100
    assert db.execute("SELECT count(*) AS n FROM balance_transactions").fetchone()["n"] == 1
