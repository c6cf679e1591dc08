"""Issue #16 item 8: a booking completed but never paid. Reconciliation reports it
(``completed_unpaid``); its hospital's staff or an admin write the due off
(POST /api/bookings/{id}/write-off): paymentStatus ``written_off``, the finding
closed, the admin audit log written, no money moved."""
import json
import threading
import uuid
from datetime import timedelta

import pytest

from app.db import transaction
from app.payments import idempotency, write_offs
from app.timeutil import utcnow
from tests.payments.helpers import PRICE, count, fund, key_headers, payment_due, tx


def url(booking):
    return f"/api/bookings/{booking['id']}/write-off"


@pytest.fixture
def completed(world, db):
    """A completed booking of the world's patient that still owes PRICE (its due pending)."""
    booking = world.make.booking(world.patient, world.hospital, status="completed",
                                 amount_minor=PRICE, scheduled_in=timedelta(days=3))
    return booking, payment_due(db, booking)


def run_reconciliation(client, world):
    r = client.post("/api/reconciliation/daily/trigger", json={},
                    headers=world.headers["admin"])
    assert r.status_code == 201, r.json
    return r.json


def open_findings(db, kind="completed_unpaid"):
    return [(d["entity_type"], d["entity_id"]) for d in db.execute(
        "SELECT * FROM reconciliation_discrepancies WHERE status = 'open' AND kind = ?",
        (kind,))]


def money_rows(db):
    return {table: count(db, table) for table in
            ("balance_transactions", "user_balance", "hospital_earnings", "refunds")}


def write_off(client, world, booking, role="authority", reason="Patient left the country",
              key=None):
    return client.post(url(booking), json={"reason": reason},
                       headers={**world.headers[role],
                                "Idempotency-Key": key or str(uuid.uuid4())})


def test_reconciliation_reports_a_completed_booking_never_paid(client, world, db, completed):
    booking, _ = completed
    paid = world.make.booking(world.patient, world.hospital, status="completed",
                              amount_minor=PRICE, scheduled_in=timedelta(days=4))
    due = payment_due(db, paid)
    with transaction(db):
        db.execute("UPDATE transactions SET status = 'completed', method = 'wallet', "
                   "platform_fee_minor = 0, hospital_share_minor = ?, completed_at = ? "
                   "WHERE id = ?", (PRICE, due["created_at"], due["id"]))
    free = world.make.booking(world.patient, world.hospital, status="completed",
                              amount_minor=0, scheduled_in=timedelta(days=5))
    summary = run_reconciliation(client, world)
    assert summary["summary"]["discrepancies"]["kinds"].get("completed_unpaid") == 1
    assert open_findings(db) == [("booking", booking["id"])]  # not the paid one, not the free one
    assert free["id"] != booking["id"]
    listed = client.get("/api/reconciliation/discrepancies",
                        headers=world.headers["admin"]).json
    finding = next(d for d in listed if d["kind"] == "completed_unpaid")
    assert finding["entityType"] == "booking" and finding["entityId"] == booking["id"]
    assert finding["details"]["amount"] == "1500.00"
    assert finding["details"]["bookingReference"] == booking["booking_reference"]
    # a second run adds nothing new
    assert run_reconciliation(client, world)["summary"]["discrepancies"]["new"] == 0


@pytest.mark.parametrize("role", ["authority", "admin"])
def test_staff_or_admin_write_off_closes_the_books(client, world, db, completed, role):
    booking, due = completed
    run_reconciliation(client, world)
    before = money_rows(db)
    r = write_off(client, world, booking, role=role)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["amount"] == "1500.00" and body["currency"] == "BDT"
    assert body["reason"] == "Patient left the country"
    assert body["writtenOffBy"] == getattr(world, role)["id"]
    assert body["booking"]["paymentStatus"] == "written_off"
    assert body["booking"]["amountDue"] == "0.00"
    assert body["booking"]["writtenOffAt"] == body["createdAt"]
    # the patient sees it too (row-level security lets the owner read the write-off)
    seen = client.get(f"/api/bookings/{booking['id']}", headers=world.headers["patient"]).json
    assert seen["paymentStatus"] == "written_off" and seen["amountDue"] == "0.00"
    # the pending due can never be taken later; no money moved
    assert tx(db, due["id"])["status"] == "failed"
    assert tx(db, due["id"])["failure_reason"] == "Written off: Patient left the country"
    assert money_rows(db) == before
    # the finding is closed, and the next run does not raise it again
    assert open_findings(db) == []
    resolved = db.execute("SELECT * FROM reconciliation_discrepancies WHERE kind = ?",
                          ("completed_unpaid",)).fetchone()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_by"] == getattr(world, role)["id"]
    run_reconciliation(client, world)
    assert open_findings(db) == []
    # audited: who, amount, reason, IP
    rows = db.execute("SELECT * FROM admin_audit_log WHERE action = 'payment.write_off'").fetchall()
    assert len(rows) == 1
    audit = rows[0]
    details = json.loads(audit["details"]) if isinstance(audit["details"], str) else audit["details"]
    assert audit["actor_id"] == getattr(world, role)["id"]
    assert (audit["target_type"], audit["target_id"]) == ("booking", booking["id"])
    assert details["amount_minor"] == PRICE and details["reason"] == "Patient left the country"
    assert details["transaction_id"] == due["id"]
    assert audit["ip_address"] == "127.0.0.1"
    listed = client.get("/api/admin/audit-log?action=payment.write_off",
                        headers=world.headers["admin"]).json
    assert [(e["entityType"], e["entityId"]) for e in listed] == [("booking", booking["id"])]


def test_a_completed_booking_whose_due_failed_can_be_written_off(client, world, db, completed):
    booking, due = completed
    with transaction(db):
        db.execute("UPDATE transactions SET status = 'failed' WHERE id = ?", (due["id"],))
    r = write_off(client, world, booking)
    assert r.status_code == 201, r.json
    assert r.json["booking"]["paymentStatus"] == "written_off"


@pytest.mark.parametrize("role, code", [
    ("other_authority", 404), ("patient", 403), ("other_patient", 403), ("anonymous", 401),
])
def test_others_cannot_write_off(client, world, db, completed, role, code):
    booking, due = completed
    r = write_off(client, world, booking, role=role)
    assert r.status_code == code, r.json
    assert count(db, "payment_write_offs") == 0
    assert tx(db, due["id"])["status"] == "pending"


def test_unknown_booking_is_404(client, world):
    r = write_off(client, world, {"id": 999_999})
    assert r.status_code == 404


def _paid(db, due, status="completed"):
    with transaction(db):
        db.execute("UPDATE transactions SET status = 'completed', method = 'wallet', "
                   "platform_fee_minor = 0, hospital_share_minor = amount_minor, "
                   "completed_at = created_at WHERE id = ?", (due["id"],))
        if status != "completed":
            db.execute("UPDATE transactions SET status = ?, refunded_minor = amount_minor "
                       "WHERE id = ?", (status, due["id"]))


@pytest.mark.parametrize("case", ["approved", "pending", "cancelled", "paid", "refunded",
                                  "free", "processing", "written_off"])
def test_only_a_completed_unpaid_booking_can_be_written_off(client, world, db, case):
    make = world.make
    status = case if case in ("approved", "pending", "cancelled") else "completed"
    booking = make.booking(world.patient, world.hospital, status=status,
                           amount_minor=0 if case == "free" else PRICE)
    if case != "free":
        due = payment_due(db, booking)
        if case == "paid":
            _paid(db, due)
        elif case == "refunded":
            _paid(db, due, "refunded")
        elif case == "processing":
            with transaction(db):
                db.execute("UPDATE transactions SET status = 'processing', method = 'sslcommerz' "
                           "WHERE id = ?", (due["id"],))
        elif case == "written_off":
            assert write_off(client, world, booking).status_code == 201
    before = count(db, "payment_write_offs")
    r = write_off(client, world, booking)
    assert r.status_code == 409, r.json
    assert count(db, "payment_write_offs") == before


@pytest.mark.parametrize("body", [
    None, {}, {"reason": ""}, {"reason": "   "}, {"reason": 42}, {"reason": None},
    {"reason": "x" * 1001}, {"reason": "ok", "amount": "1.00"}, ["reason"],
])
def test_bad_bodies_are_422(client, world, db, completed, body):
    booking, _ = completed
    r = client.post(url(booking), json=body,
                    headers={**world.headers["authority"], "Idempotency-Key": "k-bad"})
    assert r.status_code == 422, (r.status_code, r.json)
    assert count(db, "payment_write_offs") == 0


@pytest.mark.parametrize("key", [None, "", "bad key with spaces", "x" * 256])
def test_missing_or_malformed_idempotency_key_is_400(client, world, db, completed, key):
    booking, _ = completed
    headers = dict(world.headers["authority"])
    if key is not None:
        headers["Idempotency-Key"] = key
    r = client.post(url(booking), json={"reason": "gone"}, headers=headers)
    assert r.status_code == 400
    assert count(db, "payment_write_offs") == 0


def test_replay_with_the_same_key_writes_off_once(client, world, db, completed):
    booking, _ = completed
    first = write_off(client, world, booking, key="wo-1")
    second = write_off(client, world, booking, key="wo-1")
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.json == first.json
    assert count(db, "payment_write_offs") == 1
    assert count(db, "admin_audit_log", "action = 'payment.write_off'") == 1
    # the same key with another body is refused; a new key meets the write-off: 409
    assert write_off(client, world, booking, key="wo-1", reason="other").status_code == 409
    assert write_off(client, world, booking, key="wo-2").status_code == 409


def test_a_retry_taking_over_a_dead_claim_answers_from_the_write_off(app, world, db, completed):
    """The first request committed the write-off and died before storing its answer:
    the request taking its claim over finds the write-off made under the claim."""
    booking, _ = completed
    actor = type("Actor", (), {"id": world.authority["id"], "role": "hospital-authority",
                               "hospital_id": world.hospital["id"]})()
    from app.db import set_actor
    set_actor(db, user_id=actor.id, role=actor.role, hospital_id=actor.hospital_id)
    _, claim = idempotency.claim(db, user_id=actor.id, endpoint="bookings.WriteOff", key="k",
                                 request_fingerprint="f", now=utcnow(), ttl_hours=24)
    first, _ = write_offs.write_off(db, actor=actor, booking_id=booking["id"], reason="gone",
                                    now=utcnow(), claim=claim)
    again, booking_after = write_offs.write_off(db, actor=actor, booking_id=booking["id"],
                                                reason="gone", now=utcnow(), claim=claim)
    assert again["id"] == first["id"] and booking_after["payment_status"] == "written_off"
    assert count(db, "payment_write_offs") == 1
    assert count(db, "admin_audit_log", "action = 'payment.write_off'") == 1


def test_two_parallel_write_offs_of_one_booking_exactly_one_succeeds(app, world, db, completed):
    booking, _ = completed
    barrier, codes = threading.Barrier(2), []
    headers = [world.headers["authority"], world.headers["admin"]]

    def send(auth):
        client = app.test_client()
        barrier.wait()
        r = client.post(url(booking), json={"reason": "race"},
                        headers={**auth, "Idempotency-Key": str(uuid.uuid4())})
        codes.append(r.status_code)

    threads = [threading.Thread(target=send, args=(h,)) for h in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [201, 409], codes
    assert count(db, "payment_write_offs") == 1
    assert count(db, "admin_audit_log", "action = 'payment.write_off'") == 1


def test_written_off_booking_cannot_be_paid_and_wallet_untouched(client, world, db, completed):
    booking, _ = completed
    fund(db, world.patient, PRICE)
    assert write_off(client, world, booking).status_code == 201
    r = client.post("/api/payments/process", json={"bookingId": booking["id"], "method": "wallet"},
                    headers=key_headers(world.make, world.patient))
    assert r.status_code == 409
    balance = db.execute("SELECT balance_minor FROM user_balance WHERE user_id = ?",
                         (world.patient["id"],)).fetchone()["balance_minor"]
    assert balance == PRICE
