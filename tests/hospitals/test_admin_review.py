"""Admin approval workflow: list by status, approve, reject, suspend; audited; guarded."""
import json

import pytest
from freezegun import freeze_time

from app.db import IntegrityError
from tests.factories import build_world
from tests.hospitals.helpers import ROLES


def audit_rows(db, action=None):
    rows = db.execute("SELECT * FROM admin_audit_log ORDER BY id").fetchall()
    return [r for r in rows if action is None or r["action"] == action]


@freeze_time("2026-04-01 09:30:00")
def test_admin_approves_a_pending_hospital(client, make, db):
    admin = make.admin()
    hospital = make.hospital(status="pending")
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/approve",
                   headers={**make.auth(admin), "User-Agent": "ops-console"})
    assert r.status_code == 200
    assert r.json["status"] == "approved" and r.json["approvedBy"] == admin["id"]
    assert r.json["approvedAt"].startswith("2026-04-01T09:30:00")
    [entry] = audit_rows(db)
    assert (entry["actor_id"], entry["action"], entry["target_type"], entry["target_id"]) == (
        admin["id"], "hospital.approve", "hospital", hospital["id"])
    assert json.loads(entry["details"])["from"] == "pending"
    assert entry["ip_address"] == "127.0.0.1"
    # now public
    assert client.get(f"/api/hospitals/{hospital['id']}").status_code == 200


@pytest.mark.parametrize("status", ["approved", "rejected", "suspended"])
def test_approving_a_non_pending_hospital_is_409_and_changes_nothing(client, make, db, status):
    admin = make.admin()
    hospital = make.hospital(status=status)
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/approve", headers=make.auth(admin))
    assert r.status_code == 409 and status in r.json["message"]
    row = db.execute("SELECT * FROM hospitals WHERE id = ?", (hospital["id"],)).fetchone()
    assert row == hospital and audit_rows(db) == []


def test_reject_records_the_reason(client, make, db):
    admin = make.admin()
    hospital = make.hospital(status="pending")
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/reject",
                   json={"reason": "  Registration number does not match  "},
                   headers=make.auth(admin))
    assert r.status_code == 200
    assert r.json["status"] == "rejected"
    assert r.json["rejectionReason"] == "Registration number does not match"
    [entry] = audit_rows(db, "hospital.reject")
    assert json.loads(entry["details"])["reason"] == "Registration number does not match"
    assert client.get(f"/api/hospitals/{hospital['id']}").status_code == 404


def test_suspend_hides_an_approved_hospital(client, world, db):
    r = client.put(f"/api/admin/hospitals/{world.hospital['id']}/suspend",
                   json={"reason": "Unlicensed ICU"}, headers=world.headers["admin"])
    assert r.status_code == 200
    assert r.json["status"] == "suspended" and r.json["suspensionReason"] == "Unlicensed ICU"
    assert world.hospital["id"] not in [h["id"] for h in client.get("/api/hospitals").json]
    assert client.get(f"/api/hospitals/{world.hospital['id']}").status_code == 404
    assert client.get(f"/api/hospital-resources/{world.hospital['id']}").status_code == 404
    assert len(audit_rows(db, "hospital.suspend")) == 1


@pytest.mark.parametrize("action, status", [("reject", "approved"), ("reject", "rejected"),
                                            ("reject", "suspended"), ("suspend", "pending"),
                                            ("suspend", "rejected"), ("suspend", "suspended")])
def test_transitions_from_the_wrong_status_are_409(client, make, db, action, status):
    admin = make.admin()
    hospital = make.hospital(status=status)
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/{action}", json={"reason": "why"},
                   headers=make.auth(admin))
    assert r.status_code == 409
    assert db.execute("SELECT status FROM hospitals WHERE id = ?",
                      (hospital["id"],)).fetchone()["status"] == status
    assert audit_rows(db) == []


@pytest.mark.parametrize("action", ["reject", "suspend"])
@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": None},
                                  {"reason": 5}, {"reason": "x" * 1001},
                                  {"reason": "ok", "status": "approved"}])
def test_reject_and_suspend_need_a_reason(client, make, db, action, body):
    admin = make.admin()
    hospital = make.hospital(status="pending" if action == "reject" else "approved")
    r = client.put(f"/api/admin/hospitals/{hospital['id']}/{action}", json=body,
                   headers=make.auth(admin))
    assert r.status_code == 422, r.json
    assert db.execute("SELECT * FROM hospitals WHERE id = ?", (hospital["id"],)).fetchone() == hospital


@pytest.mark.parametrize("action", ["approve", "reject", "suspend"])
def test_unknown_hospital_is_404(client, make, action):
    r = client.put(f"/api/admin/hospitals/424242/{action}", json={"reason": "x"},
                   headers=make.auth(make.admin()))
    assert r.status_code == 404


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
@pytest.mark.parametrize("action", ["approve", "reject", "suspend"])
def test_only_admins_review(client, make, db, role, action):
    world = build_world(make, status="pending")
    body = {"reason": "x"} if action != "approve" else None
    r = client.put(f"/api/admin/hospitals/{world.hospital['id']}/{action}", json=body,
                   headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)
    assert db.execute("SELECT status FROM hospitals WHERE id = ?",
                      (world.hospital["id"],)).fetchone()["status"] == "pending"


def test_admin_lists_hospitals_by_status_oldest_first(client, make):
    admin = make.admin()
    pending = [make.hospital(status="pending") for _ in range(3)]
    make.hospital(status="approved")
    make.hospital(status="rejected")
    r = client.get("/api/admin/hospitals?status=pending&page_size=2", headers=make.auth(admin))
    assert r.status_code == 200
    assert [h["id"] for h in r.json] == [h["id"] for h in pending[:2]]
    assert json.loads(r.headers["X-Pagination"])["total"] == 3
    page2 = client.get("/api/admin/hospitals?status=pending&page_size=2&page=2",
                       headers=make.auth(admin))
    assert [h["id"] for h in page2.json] == [pending[2]["id"]]
    everything = client.get("/api/admin/hospitals", headers=make.auth(admin))
    assert json.loads(everything.headers["X-Pagination"])["total"] == 5


@pytest.mark.parametrize("query", ["status=deleted", "status=", "page_size=0", "page_size=-1",
                                   "page_size=abc", "page_size=1.5", "page=0", "page_size=20000",
                                   "page=99999999999999999999"])
def test_admin_hospital_list_bad_query_is_422(client, make, query):
    r = client.get(f"/api/admin/hospitals?{query}", headers=make.auth(make.admin()))
    assert r.status_code == 422, r.json


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_admin_hospital_list_is_admin_only(client, world, role):
    r = client.get("/api/admin/hospitals", headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)


@pytest.mark.parametrize(
    "old, new, allowed",
    [("pending", "approved", True), ("pending", "rejected", True), ("rejected", "pending", True),
     ("approved", "suspended", True), ("approved", "pending", False),
     # issue #16: reinstating is the one way out of suspended (migration 0061)
     ("suspended", "approved", True), ("suspended", "rejected", False),
     ("rejected", "approved", False),
     ("pending", "suspended", False), ("suspended", "pending", False)],
)
def test_status_transition_trigger(db, make, old, new, allowed):
    hospital = make.hospital(status=old)
    update = "UPDATE hospitals SET status = ? WHERE id = ?"
    if allowed:
        db.execute(update, (new, hospital["id"]))
        assert db.execute("SELECT status FROM hospitals WHERE id = ?",
                          (hospital["id"],)).fetchone()["status"] == new
    else:
        with pytest.raises(IntegrityError, match="transition not allowed"):
            db.execute(update, (new, hospital["id"]))


def test_admin_audit_log_is_append_only(client, make, db):
    admin = make.admin()
    hospital = make.hospital(status="pending")
    client.put(f"/api/admin/hospitals/{hospital['id']}/approve", headers=make.auth(admin))
    with pytest.raises(IntegrityError):
        db.execute("UPDATE admin_audit_log SET action = 'nothing'")
    with pytest.raises(IntegrityError):
        db.execute("DELETE FROM admin_audit_log")
