"""/api/admin/users: admin-only listing and status changes (the original let authorities in)."""
import json

import pytest

from tests.factories import PASSWORD
from tests.hospitals.helpers import ROLES


def test_admin_lists_users_with_filters_and_pagination(client, world):
    headers = world.headers["admin"]
    everyone = client.get("/api/admin/users?page_size=100", headers=headers)
    assert everyone.status_code == 200
    assert json.loads(everyone.headers["X-Pagination"])["total"] == 5
    assert all("password" not in str(u).lower() for u in everyone.json)

    authorities = client.get("/api/admin/users?role=hospital-authority", headers=headers).json
    assert {u["id"] for u in authorities} == {world.authority["id"], world.other_authority["id"]}
    mine = client.get(f"/api/admin/users?hospitalId={world.hospital['id']}", headers=headers).json
    assert [u["id"] for u in mine] == [world.authority["id"]]

    page = client.get("/api/admin/users?page_size=2&page=2", headers=headers)
    assert [u["id"] for u in page.json] == [u["id"] for u in everyone.json[2:4]]


def test_status_filter(client, world, make):
    suspended = make.user(status="suspended")
    r = client.get("/api/admin/users?status=suspended", headers=world.headers["admin"])
    assert [u["id"] for u in r.json] == [suspended["id"]]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_admins_list_users(client, world, role):
    r = client.get("/api/admin/users", headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)


@pytest.mark.parametrize("query", ["role=superuser", "status=deleted", "hospitalId=abc",
                                   "hospitalId=0", "page_size=0", "page_size=-1",
                                   "page_size=huge", "page=0"])
def test_user_list_bad_query_is_422(client, world, query):
    assert client.get(f"/api/admin/users?{query}", headers=world.headers["admin"]).status_code == 422


@pytest.mark.parametrize("status", ["inactive", "suspended"])
def test_deactivating_a_user_revokes_tokens_and_blocks_login(client, world, db, status):
    headers = world.headers["patient"]
    assert client.get("/api/auth/profile", headers=headers).status_code == 200
    r = client.put(f"/api/admin/users/{world.patient['id']}/status",
                   json={"status": status, "reason": "chargeback fraud"},
                   headers=world.headers["admin"])
    assert r.status_code == 200 and r.json["status"] == status
    assert client.get("/api/auth/profile", headers=headers).status_code == 401
    live = db.execute("SELECT count(*) AS n FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL",
                      (world.patient["id"],)).fetchone()["n"]
    assert live == 0
    login = client.post("/api/auth/login", json={"email": world.patient["email"], "password": PASSWORD})
    assert login.status_code == 401
    [entry] = db.execute("SELECT * FROM admin_audit_log").fetchall()
    assert (entry["actor_id"], entry["action"], entry["target_type"], entry["target_id"]) == (
        world.admin["id"], "user.status", "user", world.patient["id"])
    assert json.loads(entry["details"]) == {"from": "active", "to": status,
                                            "reason": "chargeback fraud"}


def test_deactivation_ends_cookie_sessions(client, world, make):
    cookie_client = client.application.test_client()
    login = cookie_client.post("/api/auth/login",
                               json={"email": world.patient["email"], "password": PASSWORD})
    assert login.status_code == 200
    assert cookie_client.get("/api/auth/profile").status_code == 200
    client.put(f"/api/admin/users/{world.patient['id']}/status", json={"status": "inactive"},
               headers=world.headers["admin"])
    assert cookie_client.get("/api/auth/profile").status_code == 401


def test_suspension_then_reactivation_does_not_revive_old_logins(client, world):
    cookie_client = client.application.test_client()
    login = cookie_client.post("/api/auth/login",
                               json={"email": world.patient["email"], "password": PASSWORD})
    token_headers = {"Authorization": f"Bearer {login.json['token']}"}
    assert cookie_client.get("/api/auth/profile").status_code == 200
    for status in ("suspended", "active"):
        r = client.put(f"/api/admin/users/{world.patient['id']}/status", json={"status": status},
                       headers=world.headers["admin"])
        assert r.status_code == 200 and r.json["status"] == status
    assert cookie_client.get("/api/auth/profile").status_code == 401
    assert client.get("/api/auth/profile", headers=token_headers).status_code == 401
    fresh = client.post("/api/auth/login", json={"email": world.patient["email"], "password": PASSWORD})
    assert fresh.status_code == 200


def test_reactivation_lets_the_user_log_in_again(client, make, world):
    user = make.user(status="suspended")
    r = client.put(f"/api/admin/users/{user['id']}/status", json={"status": "active"},
                   headers=world.headers["admin"])
    assert r.status_code == 200 and r.json["status"] == "active"
    login = client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
    assert login.status_code == 200


def test_admin_cannot_change_their_own_status(client, world, db):
    r = client.put(f"/api/admin/users/{world.admin['id']}/status", json={"status": "inactive"},
                   headers=world.headers["admin"])
    assert r.status_code == 409
    assert client.get("/api/auth/profile", headers=world.headers["admin"]).status_code == 200
    assert db.execute("SELECT count(*) AS n FROM admin_audit_log").fetchone()["n"] == 0


def test_unknown_user_is_404(client, world):
    r = client.put("/api/admin/users/987654/status", json={"status": "inactive"},
                   headers=world.headers["admin"])
    assert r.status_code == 404


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_only_admins_change_status(client, world, db, role):
    r = client.put(f"/api/admin/users/{world.other_patient['id']}/status",
                   json={"status": "suspended"}, headers=world.headers[role])
    assert r.status_code == (401 if role == "anonymous" else 403)
    assert db.execute("SELECT status FROM users WHERE id = ?",
                      (world.other_patient["id"],)).fetchone()["status"] == "active"


@pytest.mark.parametrize("body", [{}, {"status": "deleted"}, {"status": "ACTIVE"}, {"status": None},
                                  {"status": "inactive", "role": "admin"},
                                  {"status": "inactive", "reason": "x" * 1001},
                                  {"status": "inactive", "reason": ""}])
def test_status_bad_input_is_422(client, world, db, body):
    r = client.put(f"/api/admin/users/{world.patient['id']}/status", json=body,
                   headers=world.headers["admin"])
    assert r.status_code == 422
    assert db.execute("SELECT status, role FROM users WHERE id = ?",
                      (world.patient["id"],)).fetchone() == {"status": "active", "role": "user"}
