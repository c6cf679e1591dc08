"""approve / decline / complete / cancel: who may, capacity, audit, payment due,
history and notifications with the real actor."""
import json
import sqlite3
from datetime import timedelta

import pytest

from app.bookings import service
from app.db import IntegrityError
from app.timeutil import to_iso, utcnow
from tests.bookings.helpers import booking_body, counters, history, notifications, stored_counters


def approve(client, world, booking, who="authority", **body):
    return client.put(f"/api/bookings/{booking['id']}/approve", json=body or None,
                      headers=world.headers[who])


def one(db, sql, *params):
    return db.execute(sql, params).fetchone()


def booking_row(db, booking_id):
    return one(db, "SELECT * FROM bookings WHERE id = ?", booking_id)


def _booking(world, *, who="patient", hospital=None, **kwargs):
    """A pending booking made through the factory (unless told otherwise)."""
    return world.make.booking(getattr(world, who), hospital or world.hospital, **kwargs)


# --- approve -------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["authority", "admin"])
def test_approval_allocates_one_unit_audits_and_creates_the_payment_due(client, db, world, who):
    booking = _booking(world)
    r = client.put(f"/api/bookings/{booking['id']}/approve", headers={
        **world.headers[who], "User-Agent": "triage-desk/1.0"})
    assert r.status_code == 200, r.json
    actor = getattr(world, who)
    assert r.json["status"] == "approved" and r.json["approvedBy"] == actor["id"]
    assert r.json["allocatedUnits"] == 1 and r.json["amount"] == "1500.00"
    assert r.json["approvedAt"] is not None
    # held during its window (two days ahead), not now; the hand marks do not move
    assert dict(counters(db, world.hospital["id"])) == {
        "total": 5, "available": 4, "occupied": 1, "reserved": 0, "maintenance": 0}
    assert counters(db, world.hospital["id"], at=utcnow())["available"] == 5
    assert dict(stored_counters(db, world.hospital["id"])) == {
        "total": 5, "available": 5, "occupied": 0, "reserved": 0, "maintenance": 0}

    audit = one(db, "SELECT * FROM resource_audit_log")
    assert (audit["action"], audit["booking_id"], audit["changed_by"]) == ("allocate", booking["id"], actor["id"])
    assert audit["ip_address"] == "127.0.0.1" and audit["user_agent"] == "triage-desk/1.0"
    # the live counters at approval time: a hold two days ahead leaves today's as they were
    assert json.loads(audit["old_values"])["available"] == 5
    assert json.loads(audit["new_values"])["available"] == 5
    assert booking["booking_reference"] in audit["reason"] and "holds 1 unit" in audit["reason"]

    payment = one(db, "SELECT * FROM transactions")
    assert payment["kind"] == "booking_payment" and payment["status"] == "pending"
    assert (payment["booking_id"], payment["user_id"], payment["hospital_id"]) == (
        booking["id"], world.patient["id"], world.hospital["id"])
    assert payment["amount_minor"] == 150000 and payment["currency"] == "BDT"
    assert payment["transaction_ref"] and len(payment["transaction_ref"]) <= 30

    assert history(db, booking["id"])[-1] == {
        "old_status": "pending", "new_status": "approved", "changed_by": actor["id"], "reason": None}
    assert [n["type"] for n in notifications(db, world.patient["id"])] == [
        "booking_submitted", "booking_approved"]


def test_amount_follows_the_pricing_rule_with_duration_and_urgency(client, db, world):
    new_price = {"basePrice": "1500.00", "pricePerDay": "2000.00", "emergencyMultiplier": "1.5"}
    r = client.put(f"/api/pricing/hospitals/{world.hospital['id']}/beds", json=new_price,
                   headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    booking = _booking(world, urgency="critical", estimated_duration_hours=30)
    r = approve(client, world, booking)
    # 2 days (30 h rounded up): (1500.00 + 2 x 2000.00) x 1.5 = 8250.00
    assert r.json["amount"] == "8250.00"
    assert one(db, "SELECT amount_minor FROM transactions")["amount_minor"] == 825000


def test_approval_with_a_reason_records_it(client, db, world):
    booking = _booking(world)
    assert approve(client, world, booking, reason="Bed 12, ward B").json["statusReason"] == "Bed 12, ward B"
    assert history(db, booking["id"])[-1]["reason"] == "Bed 12, ward B"
    assert "Bed 12, ward B" in notifications(db, world.patient["id"])[-1]["message"]


def test_approving_twice_is_409_and_allocates_once(client, db, world):
    booking = _booking(world)
    assert approve(client, world, booking).status_code == 200
    again = approve(client, world, booking, who="admin")
    assert again.status_code == 409 and "approved" in again.json["message"]
    assert counters(db, world.hospital["id"])["available"] == 4
    assert one(db, "SELECT count(*) AS n FROM transactions")["n"] == 1
    assert len(history(db, booking["id"])) == 2


def test_approval_with_nothing_left_is_409_and_changes_nothing(client, db, world):
    first = _booking(world, resource_type="icu")
    second = _booking(world, who="other_patient", resource_type="icu")
    assert approve(client, world, first).status_code == 200
    r = approve(client, world, second)
    assert r.status_code == 409 and "icu" in r.json["message"]
    assert booking_row(db, second["id"])["status"] == "pending"
    assert booking_row(db, second["id"])["allocated_units"] == 0
    assert counters(db, world.hospital["id"], "icu")["available"] == 0
    assert one(db, "SELECT count(*) AS n FROM transactions")["n"] == 1
    assert one(db, "SELECT count(*) AS n FROM resource_audit_log")["n"] == 1
    assert len(history(db, second["id"])) == 1


def test_approval_without_an_active_price_is_409_and_changes_nothing(client, db, make, world):
    unpriced = make.hospital(resources={"beds": 2})
    authority = make.authority(unpriced)
    booking = make.booking(world.patient, unpriced)
    r = client.put(f"/api/bookings/{booking['id']}/approve", headers=make.auth(authority))
    assert r.status_code == 409 and "price" in r.json["message"]
    assert booking_row(db, booking["id"])["status"] == "pending"
    assert counters(db, unpriced["id"])["available"] == 2


def test_approval_at_a_suspended_hospital_is_409(client, db, world):
    booking = _booking(world)
    db.execute("UPDATE hospitals SET status = 'suspended' WHERE id = ?", (world.hospital["id"],))
    assert approve(client, world, booking).status_code == 409
    assert counters(db, world.hospital["id"])["available"] == 5


def test_a_zero_price_approves_without_a_payment_due(client, db, world):
    r = client.put(f"/api/pricing/hospitals/{world.hospital['id']}/beds",
                   json={"basePrice": "0.00"}, headers=world.headers["admin"])
    assert r.status_code == 200, r.json
    r = approve(client, world, _booking(world))
    assert r.status_code == 200 and r.json["amount"] == "0.00"
    assert one(db, "SELECT count(*) AS n FROM transactions")["n"] == 0


@pytest.mark.parametrize("who, code", [("anonymous", 401), ("patient", 403), ("other_patient", 403),
                                       ("other_authority", 404)])
def test_approval_by_anyone_else_is_refused(client, db, world, who, code):
    booking = _booking(world)
    assert approve(client, world, booking, who=who).status_code == code
    assert booking_row(db, booking["id"])["status"] == "pending"


def test_an_authority_without_a_hospital_sees_no_booking(client, make, world):
    stray = make.user("hospital-authority")
    r = client.put(f"/api/bookings/{_booking(world)['id']}/approve", headers=make.auth(stray))
    assert r.status_code == 404


@pytest.mark.parametrize("path", ["approve", "decline", "complete"])
@pytest.mark.parametrize("booking_id", ["999999", str(2**64), "-1", "abc"])
def test_unknown_or_malformed_ids_are_404(client, world, path, booking_id):
    r = client.put(f"/api/bookings/{booking_id}/{path}", json={"reason": "x"}, headers=world.headers["admin"])
    assert r.status_code == 404


@pytest.mark.parametrize("body", [{"reason": "x" * 1001}, {"reason": 5}, {"unknown": 1}, [1]])
def test_bad_approval_body_is_422(client, db, world, body):
    booking = _booking(world)
    r = client.put(f"/api/bookings/{booking['id']}/approve", json=body, headers=world.headers["authority"])
    assert r.status_code == 422
    assert booking_row(db, booking["id"])["status"] == "pending"


# --- decline -------------------------------------------------------------------------------

def test_decline_needs_a_reason_and_records_it(client, db, world):
    booking = _booking(world)
    url = f"/api/bookings/{booking['id']}/decline"
    for body in (None, {}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 1001}, {"reason": None}):
        r = client.put(url, json=body, headers=world.headers["authority"])
        assert r.status_code == 422, body
    r = client.put(url, json={"reason": "No ICU-capable bed"}, headers=world.headers["authority"])
    assert r.status_code == 200 and r.json["status"] == "declined" and r.json["declinedAt"]
    assert r.json["statusReason"] == "No ICU-capable bed"
    assert history(db, booking["id"])[-1] == {
        "old_status": "pending", "new_status": "declined",
        "changed_by": world.authority["id"], "reason": "No ICU-capable bed"}
    assert notifications(db, world.patient["id"])[-1]["type"] == "booking_declined"
    assert counters(db, world.hospital["id"])["available"] == 5
    again = client.put(url, json={"reason": "again"}, headers=world.headers["admin"])
    assert again.status_code == 409


def test_an_approved_booking_cannot_be_declined(client, world):
    booking = _booking(world, status="approved")
    r = client.put(f"/api/bookings/{booking['id']}/decline", json={"reason": "x"},
                   headers=world.headers["authority"])
    assert r.status_code == 409


@pytest.mark.parametrize("who, code", [("patient", 403), ("other_authority", 404), ("anonymous", 401)])
def test_decline_by_anyone_else_is_refused(client, db, world, who, code):
    booking = _booking(world)
    r = client.put(f"/api/bookings/{booking['id']}/decline", json={"reason": "x"}, headers=world.headers[who])
    assert r.status_code == code
    assert booking_row(db, booking["id"])["status"] == "pending"


# --- complete ------------------------------------------------------------------------------

def test_complete_releases_exactly_what_approval_allocated(client, db, world):
    booking = _booking(world)
    approve(client, world, booking)
    r = client.put(f"/api/bookings/{booking['id']}/complete", headers=world.headers["authority"])
    assert r.status_code == 200 and r.json["status"] == "completed" and r.json["completedAt"]
    assert r.json["allocatedUnits"] == 0
    assert dict(counters(db, world.hospital["id"])) == {
        "total": 5, "available": 5, "occupied": 0, "reserved": 0, "maintenance": 0}
    release = one(db, "SELECT * FROM resource_audit_log WHERE action = 'release'")
    assert release["booking_id"] == booking["id"] and release["changed_by"] == world.authority["id"]
    assert [h["new_status"] for h in history(db, booking["id"])] == ["pending", "approved", "completed"]
    assert client.put(f"/api/bookings/{booking['id']}/complete",
                      headers=world.headers["authority"]).status_code == 409


def test_complete_releases_units_held_by_a_legacy_multi_unit_booking(client, db, world):
    """Defect 3: whatever approval took (allocated_units) is exactly what the hold held."""
    booking = _booking(world)
    db.execute("UPDATE bookings SET status = 'approved', allocated_units = 3 WHERE id = ?", (booking["id"],))
    assert (counters(db, world.hospital["id"])["available"], counters(db, world.hospital["id"])["occupied"]) == (2, 3)
    client.put(f"/api/bookings/{booking['id']}/complete", headers=world.headers["admin"])
    assert (counters(db, world.hospital["id"])["available"], counters(db, world.hospital["id"])["occupied"]) == (5, 0)


def test_completing_a_pending_booking_is_409(client, db, world):
    booking = _booking(world)
    r = client.put(f"/api/bookings/{booking['id']}/complete", headers=world.headers["authority"])
    assert r.status_code == 409 and "pending" in r.json["message"]
    assert booking_row(db, booking["id"])["status"] == "pending"


def test_complete_ends_a_hold_that_contains_now_at_once(client, db, world):
    """(Replaces the recount test: hand marks no longer mix with holds.) A hold whose
    window contains now lowers today's live count; completing it gives it back at once."""
    booking = _booking(world)
    approve(client, world, booking)
    now = utcnow()
    db.execute("UPDATE bookings SET scheduled_date = ?, scheduled_end = ? WHERE id = ?",
               (to_iso(now - timedelta(hours=1)), to_iso(now + timedelta(hours=5)), booking["id"]))
    assert counters(db, world.hospital["id"], at=now)["available"] == 4
    r = client.put(f"/api/bookings/{booking['id']}/complete", headers=world.headers["authority"])
    assert r.status_code == 200
    assert counters(db, world.hospital["id"], at=utcnow())["available"] == 5
    release = one(db, "SELECT * FROM resource_audit_log WHERE action = 'release'")
    assert json.loads(release["old_values"])["available"] == 4
    assert json.loads(release["new_values"])["available"] == 5


@pytest.mark.parametrize("who, code", [("patient", 403), ("other_authority", 404)])
def test_complete_by_anyone_else_is_refused(client, db, world, who, code):
    booking = _booking(world, status="approved")
    assert client.put(f"/api/bookings/{booking['id']}/complete", headers=world.headers[who]).status_code == code
    assert booking_row(db, booking["id"])["status"] == "approved"


# --- cancel --------------------------------------------------------------------------------

CANCEL_MATRIX = [
    # who, booking status, expected
    ("patient", "pending", 200), ("patient", "approved", 200),
    ("authority", "approved", 200), ("authority", "pending", 409),
    ("admin", "pending", 200), ("admin", "approved", 200),
    ("other_patient", "pending", 404), ("other_patient", "approved", 404),
    ("other_authority", "approved", 404), ("anonymous", "pending", 401),
]


@pytest.mark.parametrize("who, status, code", CANCEL_MATRIX)
def test_cancel_matrix_records_the_real_actor(client, db, world, who, status, code):
    booking = _booking(world, status=status)
    before = dict(counters(db, world.hospital["id"]))
    r = client.delete(f"/api/bookings/{booking['id']}", json={"reason": "Family moved her"},
                      headers=world.headers[who])
    assert r.status_code == code, r.json
    row = booking_row(db, booking["id"])
    if code != 200:
        assert row["status"] == status and dict(counters(db, world.hospital["id"])) == before
        return
    actor = getattr(world, who)
    assert r.json["status"] == "cancelled" and r.json["cancelledAt"] and row["allocated_units"] == 0
    assert history(db, booking["id"])[-1] == {
        "old_status": status, "new_status": "cancelled", "changed_by": actor["id"],
        "reason": "Family moved her"}
    assert counters(db, world.hospital["id"])["available"] == 5  # released if it was held
    releases = db.execute("SELECT changed_by FROM resource_audit_log WHERE action = 'release'").fetchall()
    assert releases == ([{"changed_by": actor["id"]}] if status == "approved" else [])
    assert notifications(db, world.patient["id"])[-1]["type"] == "booking_cancelled"


def test_cancel_without_a_body_and_twice(client, db, world):
    booking = _booking(world)
    r = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert r.status_code == 200 and r.json["statusReason"] is None
    again = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert again.status_code == 409 and "cancelled" in again.json["message"]
    assert len(history(db, booking["id"])) == 2


@pytest.mark.parametrize("status", ["declined", "completed"])
def test_final_bookings_cannot_be_cancelled(client, db, world, status):
    booking = _booking(world, status=status)
    r = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["admin"])
    assert r.status_code == 409
    assert booking_row(db, booking["id"])["status"] == status


def test_cancel_runs_the_payments_hook_inside_the_transaction_then_its_follow_up(
        client, db, world, monkeypatch):
    booking = _booking(world, status="approved")
    seen = {}

    def hook(conn, cancelled, *, actor_id, now, config):
        seen["in_transaction"] = conn.in_transaction
        seen["status"] = cancelled["status"]
        seen["actor_id"] = actor_id
        seen["refund_window"] = config["CANCELLATION_WINDOW_HOURS"]

        def after_commit():
            # a separate connection sees the cancellation: it is committed
            seen["committed_status"] = booking_row(db, booking["id"])["status"]
        return after_commit

    monkeypatch.setattr(service, "on_booking_cancelled", hook)
    r = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["admin"])
    assert r.status_code == 200
    assert seen == {"in_transaction": True, "status": "cancelled", "actor_id": world.admin["id"],
                    "refund_window": 24, "committed_status": "cancelled"}


def test_a_failing_hook_rolls_the_cancellation_back(client, db, world, monkeypatch, app):
    booking = _booking(world, status="approved")

    def hook(conn, cancelled, **kwargs):
        raise sqlite3.IntegrityError("refund refused")

    monkeypatch.setattr(service, "on_booking_cancelled", hook)
    r = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert r.status_code == 409
    assert booking_row(db, booking["id"])["status"] == "approved"
    assert counters(db, world.hospital["id"])["available"] == 4


def test_a_failing_follow_up_leaves_the_committed_cancellation(client, db, world, monkeypatch):
    booking = _booking(world, status="approved")

    def follow_up():
        raise RuntimeError("gateway down")

    monkeypatch.setattr(service, "on_booking_cancelled", lambda conn, b, **kw: follow_up)
    r = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert r.status_code == 200 and r.json["status"] == "cancelled"


def test_unpaid_cancellation_with_the_real_hook_leaves_the_due_untouched(client, db, world):
    """The real payments hook (unpaid case): cancel works, nothing is refunded."""
    booking = _booking(world)
    approve(client, world, booking)
    r = client.delete(f"/api/bookings/{booking['id']}", headers=world.headers["patient"])
    assert r.status_code == 200
    assert one(db, "SELECT count(*) AS n FROM refunds")["n"] == 0
    assert one(db, "SELECT count(*) AS n FROM balance_transactions")["n"] == 0


# --- the whole life, traced ----------------------------------------------------------------

def test_every_transition_writes_exactly_one_history_row_and_one_patient_notification(client, db, world):
    url = "/api/bookings"
    booking = client.post(url, json=booking_body(world.hospital), headers=world.headers["patient"]).json
    steps = [
        (client.put, f"{url}/{booking['id']}/approve", "authority", None),
        (client.put, f"{url}/{booking['id']}/complete", "admin", {"reason": "Discharged"}),
    ]
    for method, path, who, payload in steps:
        assert method(path, json=payload, headers=world.headers[who]).status_code == 200
    rows = history(db, booking["id"])
    assert [(h["old_status"], h["new_status"], h["changed_by"]) for h in rows] == [
        (None, "pending", world.patient["id"]),
        ("pending", "approved", world.authority["id"]),
        ("approved", "completed", world.admin["id"]),
    ]
    assert [n["type"] for n in notifications(db, world.patient["id"])] == [
        "booking_submitted", "booking_approved", "booking_completed"]
    assert [n["type"] for n in notifications(db, world.authority["id"])] == ["booking_request"]


def test_the_transition_trigger_refuses_illegal_moves_even_without_the_service(db, world):
    booking = _booking(world, status="declined")
    with pytest.raises(IntegrityError, match="transition not allowed"):
        db.execute("UPDATE bookings SET status = 'approved' WHERE id = ?", (booking["id"],))


def test_create_and_approve_answer_exactly_what_a_later_read_shows(client, db, world):
    # Both answer from the row their own write returned rather than reading it back.
    created = client.post("/api/bookings", json=booking_body(world.hospital),
                          headers=world.headers["patient"])
    assert created.status_code == 201, created.json
    path = f"/api/bookings/{created.json['id']}"
    assert client.get(path, headers=world.headers["patient"]).json == created.json
    approved = approve(client, world, created.json)
    assert approved.status_code == 200, approved.json
    read = client.get(path, headers=world.headers["patient"]).json
    assert read == approved.json and read["status"] == "approved"
    assert counters(db, world.hospital["id"])["available"] == 4  # held during its window
