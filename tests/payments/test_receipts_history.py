"""GET /api/payments/{id}, /receipt and /history per role."""
import json

import pytest

from tests.payments.helpers import (
    PRICE,
    approved_booking,
    fund,
    hospital,
    key_headers,
)


@pytest.fixture
def world(client, make, db):
    """Two hospitals, two patients, one wallet payment at each hospital (+ one unpaid due)."""
    h1, h2 = hospital(make), hospital(make)
    p1, p2 = make.user(), make.user()
    paid = {}
    for patient, h in ((p1, h1), (p2, h2)):
        booking, due = approved_booking(make, db, patient, h)
        fund(db, patient, PRICE)
        r = client.post("/api/payments/process",
                        json={"bookingId": booking["id"], "method": "wallet"},
                        headers=key_headers(make, patient))
        assert r.status_code == 200
        paid[patient["id"]] = due
    _, unpaid = approved_booking(make, db, p1, h1, days=6)
    return {"h1": h1, "h2": h2, "p1": p1, "p2": p2, "pay1": paid[p1["id"]],
            "pay2": paid[p2["id"]], "unpaid": unpaid, "a1": make.authority(h1),
            "a2": make.authority(h2), "admin": make.admin()}


@pytest.mark.parametrize("who, visible", [("p1", True), ("a1", True), ("admin", True),
                                          ("p2", False), ("a2", False)])
def test_receipt_visibility(client, make, world, who, visible):
    r = client.get(f"/api/payments/{world['pay1']['id']}/receipt", headers=make.auth(world[who]))
    if not visible:
        assert r.status_code == 404 and r.json["code"] == 404
        return
    assert r.status_code == 200
    body = r.json
    assert body["receiptNumber"] == f"RCPT-{world['pay1']['transaction_ref']}"
    assert (body["amount"], body["platformFee"], body["hospitalShare"], body["netPaid"]) == (
        "1500.00", "75.00", "1425.00", "1500.00")
    assert body["payerEmail"] == world["p1"]["email"]
    assert body["hospitalName"] == world["h1"]["name"] and body["bookingReference"]
    assert body["refunds"] == []


def test_receipt_lists_refunds_and_the_net(client, make, world):
    pay = world["pay1"]
    client.post(f"/api/payments/{pay['id']}/refund", json={"amount": "500.00", "reason": "x"},
                headers=key_headers(make, world["a1"]))
    body = client.get(f"/api/payments/{pay['id']}/receipt", headers=make.auth(world["p1"])).json
    assert body["netPaid"] == "1000.00" and body["refunded"] == "500.00"
    assert [(r["amount"], r["status"]) for r in body["refunds"]] == [("500.00", "completed")]


def test_unpaid_has_no_receipt(client, make, world):
    r = client.get(f"/api/payments/{world['unpaid']['id']}/receipt", headers=make.auth(world["p1"]))
    assert r.status_code == 409


def test_receipt_of_unknown_payment_is_404_and_needs_login(client, make, world):
    assert client.get("/api/payments/999999/receipt",
                      headers=make.auth(world["admin"])).status_code == 404
    assert client.get(f"/api/payments/{world['pay1']['id']}/receipt").status_code == 401


@pytest.mark.parametrize("who, visible", [("p1", True), ("a1", True), ("admin", True),
                                          ("p2", False), ("a2", False)])
def test_single_payment_visibility(client, make, world, who, visible):
    r = client.get(f"/api/payments/{world['pay1']['id']}", headers=make.auth(world[who]))
    assert r.status_code == (200 if visible else 404)


def ids(response):
    return sorted(item["id"] for item in response.json)


def test_history_is_scoped_by_role(client, make, world):
    p1_ids = sorted([world["pay1"]["id"], world["unpaid"]["id"]])
    assert ids(client.get("/api/payments/history", headers=make.auth(world["p1"]))) == p1_ids
    assert ids(client.get("/api/payments/history", headers=make.auth(world["p2"]))) == [
        world["pay2"]["id"]]
    assert ids(client.get("/api/payments/history", headers=make.auth(world["a1"]))) == p1_ids
    assert ids(client.get("/api/payments/history", headers=make.auth(world["a2"]))) == [
        world["pay2"]["id"]]
    everything = client.get("/api/payments/history", headers=make.auth(world["admin"]))
    assert len(everything.json) == 3


def test_authority_without_a_hospital_sees_nothing(client, make, world):
    loose = make.user("hospital-authority")
    r = client.get("/api/payments/history", headers=make.auth(loose))
    assert r.status_code == 200 and r.json == []


def test_history_filters_and_paginates(client, make, world):
    headers = make.auth(world["admin"])
    r = client.get("/api/payments/history?status=completed", headers=headers)
    assert sorted(ids(r)) == sorted([world["pay1"]["id"], world["pay2"]["id"]])
    r = client.get("/api/payments/history?page=1&page_size=1", headers=headers)
    assert len(r.json) == 1 and json.loads(r.headers["X-Pagination"])["total"] == 3
    assert r.json[0]["bookingReference"].startswith("RC-")
    r = client.get("/api/payments/history?kind=wallet_topup", headers=headers)
    assert r.json == []


@pytest.mark.parametrize("query", ["status=paid", "kind=gift", "page=0", "page_size=-1"])
def test_history_bad_filters_are_422(client, make, world, query):
    r = client.get(f"/api/payments/history?{query}", headers=make.auth(world["admin"]))
    assert r.status_code == 422


def test_history_needs_login(client):
    assert client.get("/api/payments/history").status_code == 401
