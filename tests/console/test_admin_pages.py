"""The admin pages through the test client: hospital review, users, reconciliation,
wallet adjustments (once per form), health."""
import re

import pytest

from app.db import transaction
from app.ops.backup import run_backup
from app.reconciliation import queries as reconciliation_queries
from app.timeutil import to_iso, utcnow
from tests.console.helpers import send, signed_in, text


@pytest.fixture
def admin(client, world):
    return signed_in(client, world.admin)


def _hospital_status(db, hospital):
    return db.execute("SELECT status FROM hospitals WHERE id = ?", (hospital["id"],)).fetchone()["status"]


def test_pending_hospitals_are_listed_and_approved(admin, world, db):
    pending = world.make.hospital(status="pending", name="Khulna Care")
    page = text(admin.get("/console/admin/hospitals"))
    assert "Khulna Care" in page
    assert world.hospital["name"] not in page  # approved: another tab

    response = send(admin, f"/console/admin/hospitals/{pending['id']}/approve",
                    {"return_status": "pending"}, follow=True)
    assert "Khulna Care is now approved." in text(response)
    assert _hospital_status(db, pending) == "approved"
    audit = db.execute("SELECT action FROM admin_audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert audit["action"] == "hospital.approve"


def test_rejecting_needs_a_reason(admin, world, db):
    pending = world.make.hospital(status="pending")
    response = send(admin, f"/console/admin/hospitals/{pending['id']}/reject", {}, follow=True)
    assert "reason: Missing data for required field." in text(response)
    assert _hospital_status(db, pending) == "pending"
    send(admin, f"/console/admin/hospitals/{pending['id']}/reject", {"reason": "licence expired"})
    assert _hospital_status(db, pending) == "rejected"
    assert "licence expired" in text(admin.get("/console/admin/hospitals?status=rejected"))


def test_suspending_an_approved_hospital(admin, world, db):
    response = send(admin, f"/console/admin/hospitals/{world.hospital['id']}/suspend",
                    {"reason": "inspection", "return_status": "approved"})
    assert response.headers["Location"].endswith("/console/admin/hospitals?status=approved")
    assert _hospital_status(db, world.hospital) == "suspended"


def test_a_move_the_lifecycle_refuses_is_shown(admin, world, db):
    response = send(admin, f"/console/admin/hospitals/{world.hospital['id']}/approve", follow=True)
    assert "Only a pending hospital can be approved; this one is approved." in text(response)


@pytest.mark.parametrize("path", ["/console/admin/hospitals/999999/approve",
                                  "/console/admin/hospitals/1/reinstate"])
def test_unknown_hospitals_and_actions_are_404(admin, path):
    assert send(admin, path, {"reason": "x"}).status_code == 404


@pytest.mark.parametrize("query", ["status=bogus", "role=superuser", "hospitalId=0"])
def test_a_bad_filter_is_a_422_page(admin, query):
    path = "/console/admin/hospitals" if query.startswith("status") else "/console/admin/users"
    response = admin.get(f"{path}?{query}")
    assert response.status_code == 422
    assert "Invalid filter." in text(response)


def test_users_are_listed_and_their_status_set(admin, world, db):
    page = text(admin.get("/console/admin/users?role=user"))
    assert world.patient["email"] in page
    assert world.authority["email"] not in page
    response = send(admin, f"/console/admin/users/{world.patient['id']}/status",
                    {"status": "suspended", "reason": "fraud report"}, follow=True)
    assert f"{world.patient['email']} is now suspended." in text(response)
    assert db.execute("SELECT status FROM users WHERE id = ?",
                      (world.patient["id"],)).fetchone()["status"] == "suspended"


def test_an_admin_cannot_change_their_own_status(admin, world):
    response = send(admin, f"/console/admin/users/{world.admin['id']}/status",
                    {"status": "inactive"}, follow=True)
    assert "You cannot change your own account status." in text(response)


def _discrepancy(db):
    now = to_iso(utcnow())
    with transaction(db):
        run_id = reconciliation_queries.insert_run(db, run_date="2026-01-01", triggered_by=None,
                                                   now=now)["id"]
        reconciliation_queries.insert_discrepancy(
            db, run_id=run_id, kind="wallet_mismatch", severity="high", entity_type="user",
            entity_id=7, details='{"expected": "10.00"}', now=now)
    return db.execute("SELECT id FROM reconciliation_discrepancies").fetchone()["id"]


def test_open_discrepancies_are_resolved_with_notes(admin, db):
    discrepancy_id = _discrepancy(db)
    page = text(admin.get("/console/admin/reconciliation"))
    assert "wallet_mismatch" in page and "2026-01-01" in page
    response = send(admin, f"/console/admin/discrepancies/{discrepancy_id}/resolve",
                    {"notes": "ledger replayed"}, follow=True)
    assert f"Discrepancy {discrepancy_id} resolved." in text(response)
    assert "None open." in text(response)
    again = send(admin, f"/console/admin/discrepancies/{discrepancy_id}/resolve",
                 {"notes": "twice"}, follow=True)
    assert "already resolved" in text(again)


def _adjust_form(admin):
    page = text(admin.get("/console/admin/wallets"))
    return re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)


def _ledger(db, user):
    return db.execute("SELECT count(*) AS n FROM balance_transactions WHERE user_id = ?",
                      (user["id"],)).fetchone()["n"]


def test_a_wallet_adjustment_moves_money_once_per_form(admin, world, db):
    key = _adjust_form(admin)
    form = {"idempotency_key": key, "userId": str(world.patient["id"]), "amount": "250.50",
            "reason": "goodwill"}
    first = send(admin, "/console/admin/wallets/adjust", form, follow=True)
    assert "250.50 BDT adjusted; balance now 250.50" in text(first)
    second = send(admin, "/console/admin/wallets/adjust", form, follow=True)
    assert "this form was already sent: nothing was done twice" in text(second)
    assert _ledger(db, world.patient) == 1
    balance = db.execute("SELECT balance_minor FROM user_balance WHERE user_id = ?",
                         (world.patient["id"],)).fetchone()["balance_minor"]
    assert balance == 25050

    changed = send(admin, "/console/admin/wallets/adjust", {**form, "amount": "999.00"},
                   follow=True)
    assert "already used with a different request" in text(changed)
    assert _ledger(db, world.patient) == 1
    assert _adjust_form(admin) != key  # every page load gets a fresh key


def test_a_debit_below_zero_is_refused_and_stays_refused(admin, world, db):
    form = {"idempotency_key": _adjust_form(admin), "userId": str(world.patient["id"]),
            "amount": "-10.00", "reason": "correction"}
    response = send(admin, "/console/admin/wallets/adjust", form, follow=True)
    assert "The adjustment would take the balance below zero." in text(response)
    replay = send(admin, "/console/admin/wallets/adjust", form, follow=True)
    assert "below zero. (this form was already sent" in text(replay)
    assert _ledger(db, world.patient) == 0


@pytest.mark.parametrize("form, message", [
    ({"userId": "abc", "amount": "1.00", "reason": "x"}, "userId: must be a whole number"),
    ({"userId": "1", "amount": "1.001", "reason": "x"}, "amount: At most two decimal places."),
    ({"userId": "1", "amount": "0", "reason": "x"}, "amount: Must not be zero."),
    ({"userId": "1", "amount": "5.00"}, "reason: Missing data for required field."),
    ({"userId": "999999", "amount": "5.00", "reason": "x"}, "User not found."),
])
def test_bad_adjustments_are_refused(admin, world, db, form, message):
    response = send(admin, "/console/admin/wallets/adjust",
                    {**form, "idempotency_key": _adjust_form(admin)}, follow=True)
    assert message in text(response)


@pytest.mark.parametrize("key", [None, "", "has space", "x" * 256])
def test_an_adjustment_without_a_valid_key_is_a_400(admin, world, key):
    form = {"userId": str(world.patient["id"]), "amount": "5.00", "reason": "x"}
    if key is not None:
        form["idempotency_key"] = key
    response = send(admin, "/console/admin/wallets/adjust", form)
    assert response.status_code == 400
    assert "no valid idempotency key" in text(response)


def test_health_shows_status_and_the_last_backup(admin, app, db):
    page = text(admin.get("/console/admin/health"))
    assert "No backup yet." in page
    assert re.search(r'<ul class="notes"><li>no backup yet', page)  # a note on a new database, not a warning
    run_backup(db, now=utcnow(), config=app.config)  # the backend's own backup
    page = text(admin.get("/console/admin/health"))
    assert "database_backup_" in re.search(r'id="last-backup">(.*?)</dl>', page, re.S).group(1)
