"""GET /api/auth/my-data and DELETE /api/auth/account (issue #18 item 6)."""
import json
from datetime import timedelta

import pytest

from app.ops import invariants
from app.timeutil import to_iso, utcnow
from tests.factories import PASSWORD
from tests.payments.helpers import (
    PRICE,
    approved_booking,
    assert_money_invariants,
    balance,
    fund,
    key_headers,
)

MY_DATA, ACCOUNT = "/api/auth/my-data", "/api/auth/account"


def close(client, headers, password=PASSWORD):
    return client.delete(ACCOUNT, json={"password": password}, headers=headers)


def paid_and_completed(client, make, db, patient, hospital, authority):
    """A booking paid from the wallet and completed: money facts that must outlive the account."""
    booking, due = approved_booking(make, db, patient, hospital)
    fund(db, patient, PRICE)
    r = client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "wallet"},
                    headers=key_headers(make, patient))
    assert r.status_code == 200, r.json
    r = client.put(f"/api/bookings/{booking['id']}/complete", json={},
                   headers=make.auth(authority))
    assert r.status_code == 200, r.json
    return booking, due


def blood_request(client, headers, **fields):
    body = {"patientName": "Rahim Uddin", "bloodType": "O+", "unitsNeeded": 2,
            "urgency": "high", "contactPhone": "+8801711111111", "location": "Dhaka Medical",
            "medicalCondition": "surgery", **fields}
    r = client.post("/api/blood/request", json=body, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


# --- my-data --------------------------------------------------------------------

def test_my_data_holds_everything_about_the_caller_and_nothing_of_others(client, db, make, world):
    patient, other = world.patient, world.other_patient
    booking, due = paid_and_completed(client, make, db, patient, world.hospital, world.authority)
    other_booking = make.booking(other, world.hospital, patient_name="Someone Else")
    own_request = blood_request(client, world.headers["patient"])
    others_request = blood_request(client, world.headers["other_patient"], patientName="Karim")
    r = client.post(f"/api/blood/requests/{others_request['id']}/match",
                    json={"donorBloodType": "O-", "phone": "+8801722222222"},
                    headers=world.headers["patient"])
    assert r.status_code in (200, 201), r.json
    r = client.post(f"/api/blood/requests/{own_request['id']}/match",
                    json={"donorBloodType": "O+"}, headers=world.headers["other_patient"])
    assert r.status_code in (200, 201), r.json

    r = client.get(MY_DATA, headers=world.headers["patient"])
    assert r.status_code == 200, r.json
    data = r.json
    assert data["profile"]["id"] == patient["id"] and data["profile"]["email"] == patient["email"]
    [mine] = data["bookings"]
    assert mine["bookingReference"] == booking["booking_reference"]
    assert mine["patientName"] == booking["patient_name"]
    assert mine["emergencyContactPhone"] == booking["emergency_contact_phone"]
    assert [h["newStatus"] for h in mine["history"]] == ["pending", "approved", "completed"]
    [payment] = data["payments"]
    assert payment["id"] == due["id"] and payment["status"] == "completed"
    assert payment["amount"] == "1500.00" and payment["refunds"] == []
    assert data["wallet"]["balance"] == "0.00"
    assert sorted(e["type"] for e in data["ledger"]) == ["credit", "debit"]
    assert data["notifications"] and all(n["bookingId"] == booking["id"]
                                         for n in data["notifications"] if n.get("bookingId"))
    [request] = data["bloodRequests"]
    assert request["id"] == own_request["id"] and request["contactPhone"] == "+8801711111111"
    assert [v["donorId"] for v in request["volunteers"]] == [other["id"]]
    [volunteered] = data["bloodVolunteering"]
    assert volunteered["bloodRequestId"] == others_request["id"]
    assert volunteered["phone"] == "+8801722222222"
    assert data["sessions"] and all(set(s) == {"id", "createdAt", "expiresAt", "revokedAt"}
                                    for s in data["sessions"])
    text = json.dumps(data)
    assert "tokenHash" not in text and "passwordHash" not in text
    token = world.headers["patient"]["Authorization"].split()[1]
    assert token not in text
    assert other_booking["booking_reference"] not in text and "Someone Else" not in text
    assert other["email"] not in text


@pytest.mark.parametrize("role", ["patient", "authority", "admin"])
def test_every_role_gets_its_own_data_only(client, world, role):
    r = client.get(MY_DATA, headers=world.headers[role])
    assert r.status_code == 200
    assert r.json["profile"]["id"] == getattr(world, role)["id"]
    assert r.json["bookings"] == [] and r.json["payments"] == []


def test_another_users_data_cannot_be_asked_for(client, make, world):
    """There is no parameter naming a user: whatever is sent, the answer is the caller's."""
    make.booking(world.other_patient, world.hospital)
    for query in (f"?userId={world.other_patient['id']}", f"?user_id={world.other_patient['id']}"):
        r = client.get(MY_DATA + query, headers=world.headers["patient"])
        assert r.status_code in (200, 422)
        if r.status_code == 200:
            assert r.json["profile"]["id"] == world.patient["id"] and r.json["bookings"] == []


def test_my_data_needs_a_login(client):
    assert client.get(MY_DATA).status_code == 401


# --- closing the account ----------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({}, "password"),
    ({"password": 12345}, "password"),
    ({"password": ""}, "password"),
    ({"password": "x" * 5000}, "password"),
    ({"password": None}, "password"),
])
def test_bad_bodies_are_422(client, world, body, field):
    r = client.delete(ACCOUNT, json=body, headers=world.headers["patient"])
    assert r.status_code == 422 and field in json.dumps(r.json["errors"])


def test_a_wrong_password_is_422_and_changes_nothing(client, db, world):
    r = close(client, world.headers["patient"], password="not-the-password")
    assert r.status_code == 422 and r.json["errors"] == {"password": ["Incorrect password."]}
    assert client.get(MY_DATA, headers=world.headers["patient"]).status_code == 200
    row = db.execute("SELECT email, deleted_at FROM users WHERE id = ?",
                     (world.patient["id"],)).fetchone()
    assert row["email"] == world.patient["email"] and row["deleted_at"] is None


def test_closing_needs_a_login(client):
    assert client.delete(ACCOUNT, json={"password": PASSWORD}).status_code == 401


def test_a_closed_account_keeps_its_money_facts_and_loses_its_personal_fields(
        client, db, make, world, app):
    patient = world.patient
    booking, due = paid_and_completed(client, make, db, patient, world.hospital, world.authority)
    request = blood_request(client, world.headers["patient"])
    others = blood_request(client, world.headers["other_patient"], patientName="Karim")
    client.post(f"/api/blood/requests/{others['id']}/match",
                json={"donorBloodType": "O-", "phone": "+8801733333333"},
                headers=world.headers["patient"])
    money_before = db.execute(
        "SELECT id, status, amount_minor, platform_fee_minor, hospital_share_minor, refunded_minor "
        "FROM transactions WHERE user_id = ? ORDER BY id", (patient["id"],)).fetchall()
    ledger_before = db.execute("SELECT * FROM balance_transactions WHERE user_id = ? ORDER BY id",
                               (patient["id"],)).fetchall()
    second_login = world.make.auth(patient)

    def name_tokens():
        return db.execute("SELECT count(*) AS n FROM booking_name_tokens WHERE booking_id = ?",
                          (booking["id"],)).fetchone()["n"]

    assert name_tokens() > 0  # the blind index of the patient's name (issue #18 item 3)
    r = close(client, world.headers["patient"])
    assert r.status_code == 204, r.json

    user = db.execute("SELECT * FROM users WHERE id = ?", (patient["id"],)).fetchone()
    assert user["email"] == f"deleted-{patient['id']}@invalid"
    assert user["name"] == "Deleted user" and user["phone"] is None
    assert user["status"] == "inactive" and user["deleted_at"] is not None
    assert user["password_hash"] != world.patient["password_hash"]
    erased = db.execute("SELECT * FROM bookings WHERE id = ?", (booking["id"],)).fetchone()
    for column in ("patient_name", "medical_condition", "emergency_contact_name",
                   "emergency_contact_phone", "emergency_contact_relationship"):
        assert erased[column] == "[erased]", column
    # stored as text since migration 0120 (the column holds sealed values); no token left
    assert erased["notes"] is None and erased["patient_age"] == "0" and name_tokens() == 0
    assert (erased["status"], erased["amount_minor"], erased["booking_reference"]) == (
        "completed", booking["amount_minor"] or erased["amount_minor"], booking["booking_reference"])
    blood = db.execute("SELECT * FROM blood_requests WHERE id = ?", (request["id"],)).fetchone()
    assert (blood["patient_name"], blood["contact_phone"], blood["status"]) == (
        "[erased]", "[erased]", "cancelled")
    assert blood["medical_condition"] is None
    match = db.execute("SELECT phone FROM blood_donor_matches WHERE donor_id = ?",
                       (patient["id"],)).fetchone()
    assert match["phone"] is None
    # the books: every payment and ledger row as it was, every invariant holds
    assert db.execute(
        "SELECT id, status, amount_minor, platform_fee_minor, hospital_share_minor, refunded_minor "
        "FROM transactions WHERE user_id = ? ORDER BY id", (patient["id"],)).fetchall() == money_before
    assert db.execute("SELECT * FROM balance_transactions WHERE user_id = ? ORDER BY id",
                      (patient["id"],)).fetchall() == ledger_before
    assert invariants.check_all(db) == []
    assert_money_invariants(db)
    # audited; no mail keeps the old address
    audit = db.execute("SELECT * FROM admin_audit_log WHERE action = 'account.deleted'").fetchall()
    assert [(a["actor_id"], a["target_id"]) for a in audit] == [(patient["id"], patient["id"])]
    assert db.execute("SELECT count(*) AS n FROM mail_outbox WHERE to_address = ?",
                      (patient["email"],)).fetchone()["n"] == 0
    assert db.execute("SELECT count(*) AS n FROM mail_outbox WHERE user_id = ? AND status IN "
                      "('pending', 'sending')", (patient["id"],)).fetchone()["n"] == 0
    # every login ended; the old credentials open nothing; a replay is refused
    for headers in (world.headers["patient"], second_login):
        assert client.get(MY_DATA, headers=headers).status_code == 401
    assert close(client, world.headers["patient"]).status_code == 401
    r = client.post("/api/auth/login", json={"email": patient["email"], "password": PASSWORD})
    assert r.status_code == 401
    r = client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
    assert r.status_code in (401, 422)
    # the address can be registered again
    r = client.post("/api/auth/register",
                    json={"name": "Back Again", "email": patient["email"], "password": PASSWORD})
    assert r.status_code == 201, r.json
    # an admin cannot bring the closed account back
    r = client.put(f"/api/admin/users/{patient['id']}/status",
                   json={"status": "active", "reason": "undo"}, headers=world.headers["admin"])
    assert r.status_code == 409


def test_refused_while_a_booking_is_open(client, make, world):
    make.booking(world.patient, world.hospital)
    r = close(client, world.headers["patient"])
    assert r.status_code == 409 and "booking" in r.json["message"]


def test_refused_while_the_wallet_holds_money_then_allowed_once_paid_out(client, db, make, world):
    fund(db, world.patient, 5000)
    r = close(client, world.headers["patient"])
    assert r.status_code == 409 and "wallet" in r.json["message"]
    r = client.post(f"/api/admin/wallets/{world.patient['id']}/adjust",
                    json={"amount": "-50.00", "reason": "paid out before closing"},
                    headers=key_headers(make, world.admin))
    assert r.status_code in (200, 201), r.json
    assert balance(db, world.patient) == 0
    assert close(client, world.headers["patient"]).status_code == 204
    assert invariants.check_all(db) == []


def test_refused_while_a_top_up_is_unsettled(client, db, world):
    now = to_iso(utcnow())
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO transactions (transaction_ref, kind, user_id, amount_minor, currency, status, "
        "created_at, updated_at) VALUES ('TOPUP1', 'wallet_topup', ?, 1000, 'BDT', 'processing', ?, ?)",
        (world.patient["id"], now, now))
    db.execute("COMMIT")
    r = close(client, world.headers["patient"])
    assert r.status_code == 409 and "not settled" in r.json["message"]


def test_the_last_admin_cannot_close_their_account_but_one_of_two_can(client, db, make, world):
    r = close(client, world.headers["admin"])
    assert r.status_code == 409 and "last active admin" in r.json["message"]
    make.admin()
    assert close(client, world.headers["admin"]).status_code == 204


def test_a_hospitals_only_authority_cannot_close_but_one_of_two_can(client, db, make, world):
    r = close(client, world.headers["authority"])
    assert r.status_code == 409 and "only authority" in r.json["message"]
    make.authority(world.hospital)
    assert close(client, world.headers["authority"]).status_code == 204
    row = db.execute("SELECT hospital_id, role FROM users WHERE id = ?",
                     (world.authority["id"],)).fetchone()
    assert row["hospital_id"] is None and row["role"] == "hospital-authority"


def test_a_closed_account_stays_closed_and_its_past_bookings_stay_countable(client, db, make, world):
    past = make.booking(world.patient, world.hospital, status="cancelled",
                        scheduled_in=timedelta(days=5))
    assert close(client, world.headers["patient"]).status_code == 204
    r = client.get(f"/api/bookings/{past['id']}", headers=world.headers["authority"])
    assert r.status_code == 200 and r.json["patientName"] == "[erased]"
    assert r.json["status"] == "cancelled"
