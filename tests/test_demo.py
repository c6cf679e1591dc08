"""`flask seed-demo`: the demo accounts with their ids, and a funded patient wallet
(through the wallet service: a ledger row and an audit entry), repeatable."""
import re

from app import demo
from app.ops import invariants


def seed(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    return result.output


def account_lines(output):
    """{email: (id, role)} from the printed 'demo accounts' list."""
    found = re.findall(r"^  id (\d+)\s+(\S+)\s+(\S+@\S+)", output, flags=re.MULTILINE)
    return {email: (int(user_id), role) for user_id, role, email in found}


def test_seed_demo_prints_every_demo_account_with_its_id(app, db):
    output = seed(app)
    accounts = account_lines(output)
    rows = db.execute("SELECT id, role, email FROM users WHERE email LIKE '%@demo.rapidcare.local'").fetchall()
    assert accounts == {row["email"]: (row["id"], row["role"]) for row in rows}
    assert len(accounts) == 4 and accounts[demo.PATIENT_EMAIL][1] == "user"
    assert f"demo accounts (every password: {demo.DEMO_PASSWORD}):" in output


def test_seed_demo_funds_the_patient_wallet_through_the_ledger_once(app, db, make):
    admin = make.admin()
    output = seed(app)
    patient_id = account_lines(output)[demo.PATIENT_EMAIL][0]
    assert "patient wallet funded: 100000.00 BDT" in output
    assert re.search(rf"id {patient_id}\s+user\s+{re.escape(demo.PATIENT_EMAIL)}\s+patient, wallet 100000.00 BDT",
                     output)
    ledger = db.execute("SELECT * FROM balance_transactions WHERE user_id = ?", (patient_id,)).fetchall()
    assert [(row["type"], row["amount_minor"], row["balance_after_minor"], row["created_by"]) for row in ledger] \
        == [("credit", 10_000_000, 10_000_000, admin["id"])]
    assert ledger[0]["description"] == "Adjustment by admin: demo funds (flask seed-demo)"
    audit = db.execute("SELECT actor_id, target_id FROM admin_audit_log WHERE action = 'wallet.adjust'").fetchall()
    assert [(row["actor_id"], row["target_id"]) for row in audit] == [(admin["id"], patient_id)]
    assert invariants.broken_checks(db, invariants.HEALTH_CHECKS) == []

    again = seed(app)  # a second run funds nothing more
    assert "patient wallet funded" not in again and "patient, wallet 100000.00 BDT" in again
    assert db.execute("SELECT count(*) AS n FROM balance_transactions").fetchone()["n"] == 1


def test_a_demo_patient_who_spent_is_not_topped_up_again(app, db):
    patient_id = account_lines(seed(app))[demo.PATIENT_EMAIL][0]
    with db:
        db.execute("UPDATE user_balance SET balance_minor = 0 WHERE user_id = ?", (patient_id,))
        db.execute(
            "INSERT INTO balance_transactions (user_id, type, amount_minor, balance_before_minor, "
            "balance_after_minor, description, created_at) VALUES (?, 'debit', 10000000, 10000000, 0, "
            "'spent', '2025-03-10T04:00:00+00:00')", (patient_id,))
    output = seed(app)
    assert "patient wallet funded" not in output and "patient, wallet 0.00 BDT" in output
