"""/api/wallet, /api/wallet/transactions, /api/wallet/topup, /api/admin/wallets/{id}/adjust."""
import json

import pytest

from tests.payments.helpers import (
    assert_money_invariants,
    balance,
    count,
    fund,
    key_headers,
)


@pytest.fixture
def patient(make):
    return make.user()


def adjust(client, make, admin, user_id, amount, reason="correction", key=None):
    return client.post(f"/api/admin/wallets/{user_id}/adjust",
                       json={"amount": amount, "reason": reason},
                       headers=key_headers(make, admin, key))


def test_a_new_wallet_reads_zero_without_creating_anything(client, make, db, patient):
    r = client.get("/api/wallet", headers=make.auth(patient))
    assert r.status_code == 200
    assert r.json == {"userId": patient["id"], "balance": "0.00", "currency": "BDT",
                      "updatedAt": None}
    assert count(db, "user_balance") == 0


def test_wallet_shows_only_your_own_balance(client, make, db, patient):
    fund(db, patient, 12_345)
    other = make.user()
    assert client.get("/api/wallet", headers=make.auth(patient)).json["balance"] == "123.45"
    assert client.get("/api/wallet", headers=make.auth(other)).json["balance"] == "0.00"


@pytest.mark.parametrize("path", ["/api/wallet", "/api/wallet/transactions"])
def test_wallet_reads_need_login(client, path):
    assert client.get(path).status_code == 401


def test_ledger_is_paginated_newest_first_and_own_only(client, make, db, patient):
    for amount in (100, 200, 300, 400, 500):
        fund(db, patient, amount)
    fund(db, make.user(), 999)
    r = client.get("/api/wallet/transactions?page=1&page_size=2", headers=make.auth(patient))
    assert r.status_code == 200
    assert [e["amount"] for e in r.json] == ["5.00", "4.00"]
    assert json.loads(r.headers["X-Pagination"])["total"] == 5
    first = r.json[0]
    assert (first["type"], first["balanceBefore"], first["balanceAfter"]) == ("credit", "10.00",
                                                                             "15.00")
    page3 = client.get("/api/wallet/transactions?page=3&page_size=2", headers=make.auth(patient))
    assert [e["amount"] for e in page3.json] == ["1.00"]


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page_size=0", "page=abc",
                                   "page_size=100000000"])
def test_bad_pagination_is_422(client, make, patient, query):
    r = client.get(f"/api/wallet/transactions?{query}", headers=make.auth(patient))
    assert r.status_code == 422


def test_page_size_is_capped(client, make, db, patient):
    for _ in range(3):
        fund(db, patient, 100)
    r = client.get("/api/wallet/transactions?page_size=5000", headers=make.auth(patient))
    assert r.status_code == 200 and len(r.json) == 3
    assert json.loads(r.headers["X-Pagination"])["total"] == 3


# -- admin adjustments -----------------------------------------------------------------------


def test_admin_credit_and_debit_are_ledgered_and_audited(client, make, db, patient):
    admin = make.admin()
    r = adjust(client, make, admin, patient["id"], "250.75", "goodwill credit")
    assert r.status_code == 200, r.json
    assert r.json["balance"] == "250.75" and r.json["entry"]["type"] == "credit"
    assert r.json["entry"]["createdBy"] == admin["id"]
    r = adjust(client, make, admin, patient["id"], "-50.75", "duplicate credit")
    assert r.status_code == 200 and r.json["balance"] == "200.00"
    assert r.json["entry"]["type"] == "debit" and r.json["entry"]["amount"] == "50.75"
    audit = db.execute("SELECT * FROM admin_audit_log ORDER BY id").fetchall()
    assert [(a["actor_id"], a["action"], a["target_type"], a["target_id"]) for a in audit] == [
        (admin["id"], "wallet.adjust", "user", patient["id"])] * 2
    details = json.loads(audit[1]["details"])
    assert details == {"amount": "-50.75", "reason": "duplicate credit",
                       "balanceBefore": "250.75", "balanceAfter": "200.00",
                       "ledgerEntryId": r.json["entry"]["id"]}
    assert audit[0]["ip_address"] == "127.0.0.1"
    assert_money_invariants(db)


def test_a_debit_adjustment_never_goes_below_zero(client, make, db, patient):
    admin = make.admin()
    fund(db, patient, 1_000)
    r = adjust(client, make, admin, patient["id"], "-10.01")
    assert r.status_code == 409
    assert balance(db, patient) == 1_000
    assert count(db, "admin_audit_log") == 0 and count(db, "balance_transactions") == 1
    assert adjust(client, make, admin, patient["id"], "-10.00").json["balance"] == "0.00"


def test_debit_on_a_wallet_never_opened_is_409(client, make, db, patient):
    assert adjust(client, make, make.admin(), patient["id"], "-1.00").status_code == 409
    assert count(db, "user_balance") == 0


def test_adjusting_an_unknown_user_is_404(client, make, db):
    assert adjust(client, make, make.admin(), 99999, "1.00").status_code == 404
    assert count(db, "balance_transactions") == 0


@pytest.mark.parametrize("who, code", [("patient", 403), ("authority", 403)])
def test_only_admins_adjust(client, make, db, patient, who, code):
    caller = patient if who == "patient" else make.authority(make.hospital())
    assert adjust(client, make, caller, patient["id"], "100.00").status_code == code
    assert balance(db, patient) == 0


def test_anonymous_adjust_is_401(client, patient):
    r = client.post(f"/api/admin/wallets/{patient['id']}/adjust",
                    json={"amount": "1.00", "reason": "x"}, headers={"Idempotency-Key": "k"})
    assert r.status_code == 401


def test_adjust_needs_an_idempotency_key(client, make, db, patient):
    admin = make.admin()
    for headers in (make.auth(admin), {**make.auth(admin), "Idempotency-Key": "bad key"}):
        r = client.post(f"/api/admin/wallets/{patient['id']}/adjust",
                        json={"amount": "9000.00", "reason": "goodwill"}, headers=headers)
        assert r.status_code == 400 and "Idempotency-Key" in r.json["message"]
    assert count(db, "balance_transactions") == 0 and count(db, "admin_audit_log") == 0


def test_a_retried_adjustment_credits_once(client, make, db, patient):
    # issue #12: a retried request credited 9000.00 twice
    admin = make.admin()
    first = adjust(client, make, admin, patient["id"], "9000.00", "goodwill", key="adj-1")
    again = adjust(client, make, admin, patient["id"], "9000.00", "goodwill", key="adj-1")
    assert first.status_code == again.status_code == 200
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert balance(db, patient) == 900_000
    assert count(db, "balance_transactions") == 1 and count(db, "admin_audit_log") == 1
    other = adjust(client, make, admin, patient["id"], "-9000.00", "goodwill", key="adj-1")
    assert other.status_code == 409 and balance(db, patient) == 900_000
    # a new key is a new adjustment
    assert adjust(client, make, admin, patient["id"], "9000.00", "goodwill",
                  key="adj-2").json["balance"] == "18000.00"
    assert_money_invariants(db)


def test_a_refused_adjustment_is_replayed_too(client, make, db, patient):
    admin = make.admin()
    first = adjust(client, make, admin, patient["id"], "-5.00", key="adj-debit")
    assert first.status_code == 409
    fund(db, patient, 1_000)
    again = adjust(client, make, admin, patient["id"], "-5.00", key="adj-debit")
    assert again.status_code == 409 and again.json == first.json
    assert balance(db, patient) == 1_000


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": "1.001", "reason": "x"}, "amount"),
        ({"amount": "0", "reason": "x"}, "amount"),
        ({"amount": "-0.00", "reason": "x"}, "amount"),
        ({"amount": "NaN", "reason": "x"}, "amount"),
        ({"amount": "-Infinity", "reason": "x"}, "amount"),
        ({"amount": 1e30, "reason": "x"}, "amount"),
        ({"amount": 9000, "reason": "x"}, "amount"),
        ({"amount": 9000.5, "reason": "x"}, "amount"),
        ({"amount": -5, "reason": "x"}, "amount"),
        ({"amount": None, "reason": "x"}, "amount"),
        ({"amount": "-1e30", "reason": "x"}, "amount"),
        ({"amount": "ten", "reason": "x"}, "amount"),
        ({"amount": True, "reason": "x"}, "amount"),
        ({"amount": "5.00"}, "reason"),
        ({"amount": "5.00", "reason": ""}, "reason"),
        ({"amount": "5.00", "reason": "x" * 501}, "reason"),
        ({"amount": "5.00", "reason": 7}, "reason"),
        ({"reason": "x"}, "amount"),
        ({"amount": "5.00", "reason": "x", "userId": 1}, "userId"),
    ],
)
def test_bad_adjustments_are_422(client, make, db, patient, body, field):
    r = client.post(f"/api/admin/wallets/{patient['id']}/adjust", json=body,
                    headers=key_headers(make, make.admin(), "adj-bad"))
    assert r.status_code == 422 and field in r.json["errors"]["json"]
    assert count(db, "balance_transactions") == 0
    assert count(db, "idempotency_keys") == 0  # a rejected body does not use the key up


def test_a_json_number_amount_says_what_to_send(client, make, db, patient):
    r = client.post(f"/api/admin/wallets/{patient['id']}/adjust",
                    json={"amount": 9000, "reason": "goodwill"},
                    headers=key_headers(make, make.admin()))
    assert r.status_code == 422
    assert r.json["errors"]["json"]["amount"] == [
        "Must be a decimal string such as \"500.00\" or \"-500.00\"."]


# -- top-up validation -------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["9.99", "500000.01", "-5", "0", "1.001", "NaN", 1e30, "abc",
                                    None, True])
def test_bad_topup_amounts_are_422(client, make, db, gateway, patient, amount):
    r = client.post("/api/wallet/topup", json={"amount": amount},
                    headers=key_headers(make, patient))
    assert r.status_code == 422 and "amount" in r.json["errors"]["json"]
    assert count(db, "transactions") == 0 and gateway.calls == []


def test_topup_needs_an_idempotency_key_and_replays(client, make, db, gateway, patient):
    r = client.post("/api/wallet/topup", json={"amount": "100.00"}, headers=make.auth(patient))
    assert r.status_code == 400
    headers = key_headers(make, patient, "topup-1")
    first = client.post("/api/wallet/topup", json={"amount": "100.00"}, headers=headers)
    again = client.post("/api/wallet/topup", json={"amount": "100.00"}, headers=headers)
    assert first.status_code == again.status_code == 201 and again.json == first.json
    assert count(db, "transactions") == 1 and len(gateway.calls_to("session")) == 1
    other = client.post("/api/wallet/topup", json={"amount": "200.00"}, headers=headers)
    assert other.status_code == 409


def test_topup_anonymous_is_401(client):
    r = client.post("/api/wallet/topup", json={"amount": "100.00"},
                    headers={"Idempotency-Key": "k"})
    assert r.status_code == 401


def test_topup_gateway_down_is_502_once_and_the_replay_says_so(client, make, db, gateway,
                                                               patient):
    gateway.mode["session"] = "500"
    headers = key_headers(make, patient, "topup-down")
    first = client.post("/api/wallet/topup", json={"amount": "100.00"}, headers=headers)
    assert first.status_code == 502
    assert client.post("/api/wallet/topup", json={"amount": "100.00"},
                       headers=headers).status_code == 502
    assert len(gateway.calls_to("session")) == 1
    row = db.execute("SELECT * FROM transactions").fetchone()
    assert row["status"] == "processing" and balance(db, patient) == 0
