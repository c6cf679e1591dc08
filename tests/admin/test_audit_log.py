"""Issue #16, item 9: GET /api/admin/audit-log (filters, pagination, admin only) over the
actions that change money or status, refunds and discrepancy resolutions included."""
import json
import uuid

import pytest

from app.admin.queries import insert_audit_entry
from app.db import transaction
from app.timeutil import from_iso, to_iso, utcnow
from tests.hospitals.helpers import ROLES
from tests.payments.helpers import fund

URL = "/api/admin/audit-log"


def entries(client, world, query=""):
    r = client.get(f"{URL}?{query}", headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    return r


def test_every_kind_of_action_is_listed_newest_first(client, world, make):
    pending = make.hospital(status="pending")
    admin = world.headers["admin"]
    started = utcnow()
    client.put(f"/api/admin/hospitals/{pending['id']}/approve", headers=admin)
    client.put(f"/api/admin/hospitals/{pending['id']}/suspend", json={"reason": "audit"},
               headers=admin)
    client.put("/api/hospitals/my-hospital", json={"city": "Gazipur"},
               headers=world.headers["authority"])
    r = entries(client, world)
    assert [e["action"] for e in r.json] == ["hospital.edit", "hospital.suspend",
                                             "hospital.approve"]
    edit = r.json[0]
    assert (edit["actorId"], edit["actorName"], edit["actorEmail"]) == (
        world.authority["id"], world.authority["name"], world.authority["email"])
    assert (edit["entityType"], edit["entityId"]) == ("hospital", world.hospital["id"])
    assert edit["details"]["new"] == {"city": "Gazipur"} and edit["ipAddress"] == "127.0.0.1"
    assert from_iso(edit["createdAt"]) >= started.replace(microsecond=0)
    assert json.loads(r.headers["X-Pagination"])["total"] == 3


def test_filters_and_pages(client, world, make, db):
    admin = world.headers["admin"]
    hospitals = [make.hospital(status="pending") for _ in range(3)]
    for hospital in hospitals:
        client.put(f"/api/admin/hospitals/{hospital['id']}/approve", headers=admin)
    client.put("/api/hospitals/my-hospital", json={"city": "Gazipur"},
               headers=world.headers["authority"])
    # the time filters, over rows written at known moments
    with transaction(db):
        for day in (1, 2, 3):
            insert_audit_entry(db, actor_id=world.admin["id"], action="test.dated",
                               target_type="test", target_id=day, details={}, ip_address=None,
                               now=f"2026-05-0{day}T08:00:00.000000+00:00")

    def ids(query):
        return [(e["action"], e["entityId"]) for e in entries(client, world, query).json]

    assert ids("action=hospital.approve&page_size=2") == [
        ("hospital.approve", hospitals[2]["id"]), ("hospital.approve", hospitals[1]["id"])]
    assert ids("action=hospital.approve&page_size=2&page=2") == [
        ("hospital.approve", hospitals[0]["id"])]
    assert ids(f"actorId={world.authority['id']}") == [("hospital.edit", world.hospital["id"])]
    assert ids(f"entityType=hospital&entityId={hospitals[1]['id']}") == [
        ("hospital.approve", hospitals[1]["id"])]
    assert ids("from=2026-05-02T00:00:00Z&to=2026-05-04T00:00:00Z") == [
        ("test.dated", 3), ("test.dated", 2)]
    # "to" is exclusive, and an offset is honoured: 14:00 in Dhaka is 08:00 UTC
    assert ids("from=2026-05-01T14:00:00%2B06:00&to=2026-05-03T14:00:00%2B06:00") == [
        ("test.dated", 2), ("test.dated", 1)]
    assert ids("entityType=user") == []
    total = entries(client, world, "action=hospital.approve").headers["X-Pagination"]
    assert json.loads(total)["total"] == 3


@pytest.mark.parametrize("query", ["actorId=0", "actorId=x", "entityId=-1", "from=yesterday",
                                   "from=2026-05-01T00:00:00", "to=2026-13-01T00:00:00Z",
                                   "action=", "action=" + "x" * 101, "page_size=0", "page=0",
                                   "entityType=%07"])
def test_bad_filters_are_422(client, world, query):
    r = client.get(f"{URL}?{query}", headers=world.headers["admin"])
    assert r.status_code == 422, r.json


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_the_audit_log_is_admin_only(client, world, role):
    r = client.get(URL, headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)


@pytest.mark.parametrize("who", ["authority", "admin"])
def test_a_refund_is_audited_with_who_amount_reason_and_ip(client, world, make, db, who):
    booking = world.make.booking(world.patient, world.hospital)
    client.put(f"/api/bookings/{booking['id']}/approve", headers=world.headers["authority"])
    fund(db, world.patient, 200_000)
    paid = client.post("/api/payments/process", json={"bookingId": booking["id"],
                                                      "method": "wallet"},
                       headers={**world.headers["patient"], "Idempotency-Key": str(uuid.uuid4())})
    assert paid.status_code == 200, paid.json
    r = client.post(f"/api/payments/{paid.json['id']}/refund",
                    json={"amount": "250.00", "reason": "late admission"},
                    headers={**world.headers[who], "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code in (200, 201), r.json
    [entry] = entries(client, world, "action=payment.refund").json
    actor = getattr(world, who)
    assert (entry["actorId"], entry["entityType"], entry["entityId"]) == (
        actor["id"], "transaction", paid.json["id"])
    assert entry["details"]["amount_minor"] == 25_000
    assert entry["details"]["reason"] == "late admission"
    assert entry["details"]["refund_id"] == r.json["id"]
    assert entry["details"]["booking_id"] == booking["id"]
    assert entry["ipAddress"] == "127.0.0.1"


def test_a_refused_refund_writes_no_audit_row(client, world, db):
    booking = world.make.booking(world.patient, world.hospital)
    client.put(f"/api/bookings/{booking['id']}/approve", headers=world.headers["authority"])
    fund(db, world.patient, 200_000)
    paid = client.post("/api/payments/process", json={"bookingId": booking["id"],
                                                      "method": "wallet"},
                       headers={**world.headers["patient"], "Idempotency-Key": str(uuid.uuid4())})
    r = client.post(f"/api/payments/{paid.json['id']}/refund",
                    json={"amount": "99999.00", "reason": "too much"},
                    headers={**world.headers["authority"], "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 409
    r = client.post(f"/api/payments/{paid.json['id']}/refund",
                    json={"amount": "1.00", "reason": "not mine"},
                    headers={**world.headers["other_authority"],
                             "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 404
    assert entries(client, world, "action=payment.refund").json == []


def test_a_discrepancy_resolution_is_audited(client, world, db):
    now = to_iso(utcnow())
    with transaction(db):
        run_id = db.execute(
            "INSERT INTO reconciliation_runs (run_date, status, started_at) "
            "VALUES ('2026-01-01', 'completed', ?) RETURNING id", (now,)).fetchone()["id"]
        found = db.execute(
            """
            INSERT INTO reconciliation_discrepancies (run_id, kind, severity, entity_type,
                                                      entity_id, details, created_at)
            VALUES (?, 'wallet_balance_mismatch', 'critical', 'user', ?, '{}', ?) RETURNING id
            """, (run_id, world.patient["id"], now)).fetchone()["id"]
    r = client.put(f"/api/reconciliation/discrepancies/{found}/resolve",
                   json={"notes": "ledger replayed"}, headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    [entry] = entries(client, world, "entityType=reconciliation_discrepancy").json
    assert (entry["action"], entry["entityId"], entry["actorId"]) == (
        "discrepancy.resolve", found, world.admin["id"])
    assert entry["details"] == {"kind": "wallet_balance_mismatch", "entity_type": "user",
                                "entity_id": world.patient["id"], "notes": "ledger replayed"}
    again = client.put(f"/api/reconciliation/discrepancies/{found}/resolve",
                       json={"notes": "twice"}, headers=world.headers["admin"])
    assert again.status_code == 409
    assert len(entries(client, world, "action=discrepancy.resolve").json) == 1
