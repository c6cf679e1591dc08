"""/api/pricing: active prices, history kept, quotes, payment policy."""
import json
from datetime import timedelta

import pytest
from freezegun import freeze_time

from app.db import IntegrityError
from app.pricing import queries
from app.pricing.rules import calculate_amount
from app.timeutil import to_iso, utcnow
from tests.factories import build_world
from tests.hospitals.helpers import MANAGERS, ROLES, expected_denial

PRICE = {"basePrice": "2000.00", "pricePerHour": "50.50", "pricePerDay": "1000",
         "emergencyMultiplier": "1.5"}


def price_url(world, resource_type="beds"):
    return f"/api/pricing/hospitals/{world.hospital['id']}/{resource_type}"


def price_rows(db, hospital):
    return db.execute("SELECT * FROM hospital_pricing WHERE hospital_id = ? ORDER BY id",
                      (hospital["id"],)).fetchall()


@pytest.mark.parametrize("role", ROLES)
def test_active_prices_are_public_for_approved_hospitals(client, world, role):
    r = client.get(f"/api/pricing/hospitals/{world.hospital['id']}", headers=world.headers[role])
    assert r.status_code == 200
    [beds] = r.json
    assert (beds["resourceType"], beds["basePrice"], beds["pricePerHour"], beds["pricePerDay"],
            beds["emergencyMultiplier"], beds["currency"]) == (
        "beds", "1500.00", "0.00", "0.00", "1", "BDT")
    assert "createdBy" not in beds  # who set a price is for the hospital's managers


@pytest.mark.parametrize("role", ROLES)
def test_pending_hospitals_prices_are_for_its_managers_only(client, make, role):
    world = build_world(make, status="pending")
    r = client.get(f"/api/pricing/hospitals/{world.hospital['id']}", headers=world.headers[role])
    assert r.status_code == (200 if role in MANAGERS else 404)


@pytest.mark.parametrize("role", MANAGERS)
def test_setting_a_price_closes_the_old_row_and_keeps_history(client, world, db, role):
    later = utcnow() + timedelta(minutes=10)  # tokens live an hour
    with freeze_time(later):
        r = client.put(price_url(world), json=PRICE, headers=world.headers[role])
    assert r.status_code == 200, r.json
    assert (r.json["basePrice"], r.json["pricePerHour"], r.json["pricePerDay"],
            r.json["emergencyMultiplier"], r.json["effectiveTo"]) == (
        "2000.00", "50.50", "1000.00", "1.5", None)
    old, new = price_rows(db, world.hospital)
    assert old["base_price_minor"] == 150000 and old["effective_to"] == to_iso(later)
    assert (new["base_price_minor"], new["price_per_hour_minor"], new["price_per_day_minor"],
            new["emergency_multiplier_bp"], new["effective_to"]) == (200000, 5050, 100000, 15000, None)
    assert new["effective_from"] == old["effective_to"]
    assert new["created_by"] == getattr(world, role)["id"]
    [active] = client.get(f"/api/pricing/hospitals/{world.hospital['id']}").json
    assert active["basePrice"] == "2000.00"
    admin_log = db.execute("SELECT action FROM admin_audit_log").fetchall()
    assert admin_log == ([{"action": "price.set"}] if role == "admin" else [])


def test_first_price_for_a_type_and_defaults(client, world, db):
    r = client.put(price_url(world, "icu"), json={"basePrice": 0}, headers=world.headers["authority"])
    assert r.status_code == 200
    assert (r.json["basePrice"], r.json["pricePerHour"], r.json["emergencyMultiplier"]) == (
        "0.00", "0.00", "1")
    assert len(price_rows(db, world.hospital)) == 2


def test_history_newest_first_for_managers(client, world):
    headers = world.headers["authority"]
    for base in ("1600", "1700"):
        client.put(price_url(world), json={"basePrice": base}, headers=headers)
    client.put(price_url(world, "icu"), json={"basePrice": "9000"}, headers=headers)
    base_url = f"/api/pricing/hospitals/{world.hospital['id']}/history"
    r = client.get(base_url, headers=headers)
    assert r.status_code == 200
    assert [(p["resourceType"], p["basePrice"]) for p in r.json] == [
        ("icu", "9000.00"), ("beds", "1700.00"), ("beds", "1600.00"), ("beds", "1500.00")]
    assert [p["effectiveTo"] is None for p in r.json] == [True, True, False, False]
    assert r.json[0]["createdBy"] == world.authority["id"]
    beds = client.get(base_url + "?resourceType=beds&page_size=1&page=3", headers=headers)
    assert [p["basePrice"] for p in beds.json] == ["1500.00"]
    assert json.loads(beds.headers["X-Pagination"])["total"] == 3


@pytest.mark.parametrize("role", ROLES)
def test_history_access(client, world, role):
    r = client.get(f"/api/pricing/hospitals/{world.hospital['id']}/history",
                   headers=world.headers[role])
    assert r.status_code == (200 if role in MANAGERS else expected_denial(role))


@pytest.mark.parametrize("role", [r for r in ROLES if r not in MANAGERS])
def test_others_cannot_set_prices(client, world, db, role):
    r = client.put(price_url(world), json=PRICE, headers=world.headers[role])
    assert r.status_code == expected_denial(role)
    assert len(price_rows(db, world.hospital)) == 1


@pytest.mark.parametrize("body, field", [
    ({}, "basePrice"),
    ({"basePrice": "10.001"}, "basePrice"),
    ({"basePrice": "-1.00"}, "basePrice"),
    ({"basePrice": -5}, "basePrice"),
    ({"basePrice": "NaN"}, "basePrice"),
    ({"basePrice": "Infinity"}, "basePrice"),
    ({"basePrice": "1e30"}, "basePrice"),
    ({"basePrice": "abc"}, "basePrice"),
    ({"basePrice": True}, "basePrice"),
    ({"basePrice": None}, "basePrice"),
    ({"basePrice": ["1"]}, "basePrice"),
    ({"basePrice": "99999999999.00"}, "basePrice"),
    ({"basePrice": "1", "pricePerHour": "0.125"}, "pricePerHour"),
    ({"basePrice": "1", "pricePerDay": "-0.01"}, "pricePerDay"),
    ({"basePrice": "1", "emergencyMultiplier": "0.5"}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": "0.9999"}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": "10.0001"}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": 11}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": "1.00001"}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": "NaN"}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": "fast"}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": True}, "emergencyMultiplier"),
    ({"basePrice": "1", "emergencyMultiplier": "1e400"}, "emergencyMultiplier"),
    ({"basePrice": "1", "currency": "USD"}, "currency"),
    ({"basePrice": "1", "effectiveFrom": "2020-01-01"}, "effectiveFrom"),
])
def test_bad_prices_are_422_and_change_nothing(client, world, db, body, field):
    r = client.put(price_url(world), json=body, headers=world.headers["authority"])
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert len(price_rows(db, world.hospital)) == 1


@pytest.mark.parametrize("multiplier, bp", [("1", 10000), (1, 10000), ("10", 100000), (2.5, 25000),
                                            ("1.2345", 12345)])
def test_multiplier_bounds_and_basis_points(client, world, db, multiplier, bp):
    r = client.put(price_url(world), json={"basePrice": "1", "emergencyMultiplier": multiplier},
                   headers=world.headers["admin"])
    assert r.status_code == 200
    assert price_rows(db, world.hospital)[-1]["emergency_multiplier_bp"] == bp


def test_unknown_resource_type_or_hospital_is_404(client, world, db):
    headers = world.headers["admin"]
    assert client.put(f"/api/pricing/hospitals/{world.hospital['id']}/ventilators",
                      json=PRICE, headers=headers).status_code == 404
    assert client.put("/api/pricing/hospitals/4040/beds", json=PRICE,
                      headers=headers).status_code == 404
    assert client.get("/api/pricing/hospitals/4040").status_code == 404


def test_price_rows_are_history_in_the_database(db, world):
    [row] = price_rows(db, world.hospital)
    with pytest.raises(IntegrityError, match="history"):
        db.execute("UPDATE hospital_pricing SET base_price_minor = 1 WHERE id = ?", (row["id"],))
    with pytest.raises(IntegrityError, match="history"):
        db.execute("DELETE FROM hospital_pricing WHERE id = ?", (row["id"],))
    with pytest.raises(IntegrityError, match="history"):
        db.execute("UPDATE hospital_pricing SET effective_to = '2000-01-01T00:00:00+00:00'")
    db.execute("UPDATE hospital_pricing SET effective_to = '2999-01-01T00:00:00+00:00'")
    with pytest.raises(IntegrityError, match="history"):
        db.execute("UPDATE hospital_pricing SET effective_to = NULL")


# ---- quotes -------------------------------------------------------------------

@pytest.fixture
def priced(client, world):
    client.put(price_url(world), json=PRICE, headers=world.headers["authority"])
    return world


@pytest.mark.parametrize("hours, urgency", [(1, "low"), (24, "medium"), (25, "high"),
                                            (168, "critical"), (47, "critical")])
def test_quote_follows_the_pricing_rule(client, priced, db, hours, urgency):
    r = client.post("/api/pricing/calculate", json={
        "hospitalId": priced.hospital["id"], "resourceType": "beds",
        "estimatedDuration": hours, "urgency": urgency})
    assert r.status_code == 200, r.json
    price = queries.get_active_price(db, priced.hospital["id"], "beds")
    amount, _ = calculate_amount(price, hours, urgency)
    assert r.json["amount"] == f"{amount // 100}.{amount % 100:02d}"
    assert r.json["currency"] == "BDT"
    b = r.json["breakdown"]
    days = -(-hours // 24)
    assert (b["hours"], b["days"], b["basePrice"]) == (hours, days, "2000.00")
    assert b["emergencyMultiplier"] == ("1.5" if urgency in ("high", "critical") else "1")
    assert b["total"] == r.json["amount"]


def test_quote_worked_example(client, priced):
    """25 h of a bed at high urgency: (2000 + 50.50 x 25 + 1000 x 2) x 1.5 = 7893.75."""
    r = client.post("/api/pricing/calculate", json={
        "hospitalId": priced.hospital["id"], "resourceType": "beds",
        "estimatedDuration": 25, "urgency": "high"})
    assert r.json["amount"] == "7893.75"
    assert r.json["breakdown"]["subtotal"] == "5262.50"
    assert r.json["breakdown"]["emergencySurcharge"] == "2631.25"


def test_quote_defaults_to_24_hours_medium(client, priced):
    """2000 + 50.50 x 24 + 1000 x 1, no multiplier at medium urgency."""
    r = client.post("/api/pricing/calculate",
                    json={"hospitalId": priced.hospital["id"], "resourceType": "beds"})
    assert r.status_code == 200
    assert (r.json["estimatedDuration"], r.json["urgency"], r.json["amount"]) == (
        24, "medium", "4212.00")


def test_quote_without_a_price_or_for_hidden_hospitals_is_404(client, make, world):
    assert client.post("/api/pricing/calculate", json={
        "hospitalId": world.hospital["id"], "resourceType": "operationTheatres"}).status_code == 404
    pending = make.hospital(status="pending", prices={"beds": 100})
    assert client.post("/api/pricing/calculate", json={
        "hospitalId": pending["id"], "resourceType": "beds"}).status_code == 404
    assert client.post("/api/pricing/calculate", json={
        "hospitalId": pending["id"], "resourceType": "beds"},
        headers=make.auth(make.authority(pending))).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"resourceType": "beds"}, "hospitalId"),
    ({"hospitalId": "1", "resourceType": "beds"}, "hospitalId"),
    ({"hospitalId": 0, "resourceType": "beds"}, "hospitalId"),
    ({"hospitalId": 10**30, "resourceType": "beds"}, "hospitalId"),
    ({"hospitalId": 1}, "resourceType"),
    ({"hospitalId": 1, "resourceType": "ventilators"}, "resourceType"),
    ({"hospitalId": 1, "resourceType": "beds", "estimatedDuration": 0}, "estimatedDuration"),
    ({"hospitalId": 1, "resourceType": "beds", "estimatedDuration": 169}, "estimatedDuration"),
    ({"hospitalId": 1, "resourceType": "beds", "estimatedDuration": 2.5}, "estimatedDuration"),
    ({"hospitalId": 1, "resourceType": "beds", "estimatedDuration": "24"}, "estimatedDuration"),
    ({"hospitalId": 1, "resourceType": "beds", "urgency": "extreme"}, "urgency"),
    ({"hospitalId": 1, "resourceType": "beds", "amount": "1.00"}, "amount"),
])
def test_quote_bad_input_is_422(client, world, body, field):
    r = client.post("/api/pricing/calculate", json=body)
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]


# ---- payment policy -----------------------------------------------------------

def test_policy_defaults_come_from_configuration(client, world, app):
    app.config["PLATFORM_FEE_BP"] = 750
    r = client.get(f"/api/pricing/hospitals/{world.hospital['id']}/policy")
    assert r.status_code == 200
    assert r.json == {"hospitalId": world.hospital["id"], "platformFeeBp": 750,
                      "cancellationWindowHours": 24, "refundInsideWindowBp": 5000,
                      "isDefault": True}


def test_admin_sets_a_policy_partially_and_it_is_audited(client, world, db):
    base = f"/api/pricing/hospitals/{world.hospital['id']}/policy"
    r = client.put(base, json={"platformFeeBp": 300, "cancellationWindowHours": 48},
                   headers=world.headers["admin"])
    assert r.status_code == 200
    assert (r.json["platformFeeBp"], r.json["cancellationWindowHours"],
            r.json["refundInsideWindowBp"], r.json["isDefault"]) == (300, 48, 5000, False)
    r = client.put(base, json={"refundInsideWindowBp": 0}, headers=world.headers["admin"])
    assert (r.json["platformFeeBp"], r.json["refundInsideWindowBp"]) == (300, 0)
    assert client.get(base).json["refundInsideWindowBp"] == 0
    entries = db.execute("SELECT details FROM admin_audit_log ORDER BY id").fetchall()
    assert json.loads(entries[0]["details"])["old"]["platform_fee_bp"] == 500
    assert json.loads(entries[1]["details"])["new"] == {
        "platform_fee_bp": 300, "cancellation_window_hours": 48, "refund_inside_window_bp": 0}


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_admins_set_policies(client, world, db, role):
    r = client.put(f"/api/pricing/hospitals/{world.hospital['id']}/policy",
                   json={"platformFeeBp": 0}, headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)
    assert db.execute("SELECT count(*) AS n FROM payment_policies").fetchone()["n"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_policy_of_a_pending_hospital_is_for_its_managers(client, make, role):
    world = build_world(make, status="pending")
    r = client.get(f"/api/pricing/hospitals/{world.hospital['id']}/policy",
                   headers=world.headers[role])
    assert r.status_code == (200 if role in MANAGERS else 404)


@pytest.mark.parametrize("body", [{}, {"platformFeeBp": -1}, {"platformFeeBp": 10001},
                                  {"platformFeeBp": 2.5}, {"platformFeeBp": "500"},
                                  {"cancellationWindowHours": 721},
                                  {"refundInsideWindowBp": 10**20}, {"hospitalId": 3}])
def test_bad_policy_is_422(client, world, db, body):
    r = client.put(f"/api/pricing/hospitals/{world.hospital['id']}/policy", json=body,
                   headers=world.headers["admin"])
    assert r.status_code == 422
    assert db.execute("SELECT count(*) AS n FROM payment_policies").fetchone()["n"] == 0


def test_policy_of_an_unknown_hospital_is_404(client, world):
    r = client.put("/api/pricing/hospitals/8080/policy", json={"platformFeeBp": 1},
                   headers=world.headers["admin"])
    assert r.status_code == 404
