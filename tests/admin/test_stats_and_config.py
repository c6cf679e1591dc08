"""/api/admin/stats and /api/admin/payment-config."""
import json
from datetime import timedelta

import pytest

from app.db import transaction
from tests.hospitals.helpers import ROLES

NOW = "2026-02-01T10:00:00.000000+00:00"


def pay(db, booking, *, amount, fee, status, refunded=0, kind="booking_payment"):
    with transaction(db):
        db.execute(
            """
            INSERT INTO transactions (transaction_ref, kind, booking_id, user_id, hospital_id,
                amount_minor, method, status, platform_fee_minor, hospital_share_minor,
                refunded_minor, created_at, updated_at, completed_at)
            VALUES (:ref, :kind, :booking, :user, :hospital, :amount, 'wallet', :status, :fee,
                    :share, :refunded, :now, :now, :completed)
            """,
            {"ref": f"T-{booking['id']}-{status}", "kind": kind, "booking": booking["id"],
             "user": booking["user_id"], "hospital": booking["hospital_id"], "amount": amount,
             "status": status, "fee": fee, "share": amount - fee, "refunded": refunded,
             "now": NOW, "completed": NOW if status != "pending" else None},
        )


def test_stats_count_everything_and_sum_paid_bookings(client, world, make, db):
    bookings = [make.booking(world.patient, world.hospital, scheduled_in=timedelta(days=d),
                             status=status)
                for d, status in [(1, "approved"), (2, "approved"), (3, "approved"),
                                  (4, "approved"), (5, "pending"), (6, "cancelled")]]
    pay(db, bookings[0], amount=150000, fee=7500, status="completed")
    pay(db, bookings[1], amount=100000, fee=5000, status="partially_refunded", refunded=40000)
    pay(db, bookings[2], amount=20000, fee=1000, status="refunded", refunded=20000)
    pay(db, bookings[3], amount=99999, fee=0, status="pending")  # not paid: not revenue
    make.hospital(status="pending")

    r = client.get("/api/admin/stats", headers=world.headers["admin"])
    assert r.status_code == 200
    assert r.json["hospitals"] == {"pending": 1, "approved": 2, "rejected": 0, "suspended": 0}
    assert r.json["bookings"] == {"pending": 1, "approved": 4, "declined": 0, "cancelled": 1,
                                  "completed": 0}
    assert r.json["users"] == {"user": 2, "hospital-authority": 2, "admin": 1}
    assert r.json["revenue"] == {"payments": 3, "gross": "2700.00", "platformFee": "135.00",
                                 "refunded": "600.00", "net": "2100.00", "currency": "BDT"}


def test_stats_on_an_empty_platform_are_zeros(client, make):
    r = client.get("/api/admin/stats", headers=make.auth(make.admin()))
    assert r.json["revenue"]["gross"] == "0.00" and r.json["bookings"]["pending"] == 0
    assert r.json["users"]["admin"] == 1


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_stats_are_admin_only(client, world, role):
    r = client.get("/api/admin/stats", headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)


def test_payment_config_defaults_then_saved_and_audited(client, world, db):
    headers = world.headers["admin"]
    [default] = client.get("/api/admin/payment-config", headers=headers).json
    assert default == {"gateway": "sslcommerz", "isActive": True, "mode": "sandbox",
                       "settings": {}, "updatedAt": None}
    r = client.put("/api/admin/payment-config",
                   json={"mode": "live", "settings": {"storeName": "RapidCare", "emi": False}},
                   headers=headers)
    assert r.status_code == 200
    assert (r.json["mode"], r.json["isActive"], r.json["settings"]) == (
        "live", True, {"storeName": "RapidCare", "emi": False})
    r = client.put("/api/admin/payment-config", json={"isActive": False}, headers=headers)
    assert (r.json["mode"], r.json["isActive"]) == ("live", False)
    entries = db.execute("SELECT action, details FROM admin_audit_log ORDER BY id").fetchall()
    assert [e["action"] for e in entries] == ["payment_config.set"] * 2
    assert json.loads(entries[1]["details"])["old"]["mode"] == "live"


@pytest.mark.parametrize("body", [
    {"mode": "production"}, {"gateway": "paypal", "mode": "live"}, {"isActive": "maybe"},
    {"settings": {"storePassword": "hunter2"}}, {"settings": {"api_key": "x"}},
    {"settings": {"secretThing": "x"}}, {"settings": {"nested": {"a": 1}}},
    {"settings": {"long": "x" * 501}}, {"settings": {f"k{i}": i for i in range(21)}},
    {"settings": "text"}, {"unknown": 1},
])
def test_payment_config_bad_input_is_422_and_changes_nothing(client, world, db, body):
    r = client.put("/api/admin/payment-config", json=body, headers=world.headers["admin"])
    assert r.status_code == 422, r.json
    assert db.execute("SELECT count(*) AS n FROM payment_config").fetchone()["n"] == 0


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_payment_config_is_admin_only(client, world, db, role):
    code = 401 if role == "anonymous" else 403
    assert client.get("/api/admin/payment-config", headers=world.headers[role]).status_code == code
    r = client.put("/api/admin/payment-config", json={"mode": "live"}, headers=world.headers[role])
    assert r.status_code == code
    assert db.execute("SELECT count(*) AS n FROM payment_config").fetchone()["n"] == 0
