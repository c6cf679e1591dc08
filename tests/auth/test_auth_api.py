"""/api/auth per role and with hostile input."""
from datetime import timedelta

import pytest
from freezegun import freeze_time

from tests.factories import PASSWORD

REGISTER = {"name": "Nadia Rahman", "email": "nadia@example.test", "password": "long-enough-1"}


def login(client, email, password=PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def test_register_creates_a_user(client, db):
    r = client.post("/api/auth/register", json={**REGISTER, "phone": "+8801711111111"})
    assert r.status_code == 201
    assert r.json["role"] == "user" and r.json["email"] == "nadia@example.test"
    assert "password" not in r.json and "password_hash" not in str(r.json)
    stored = db.execute("SELECT password_hash FROM users WHERE id = ?", (r.json["id"],)).fetchone()
    assert stored["password_hash"].startswith("$2") and "long-enough-1" not in stored["password_hash"]


def test_register_as_hospital_authority(client):
    r = client.post("/api/auth/register", json={**REGISTER, "role": "hospital-authority"})
    assert r.status_code == 201 and r.json["role"] == "hospital-authority"
    assert r.json["hospitalId"] is None


def test_register_duplicate_email_is_409_case_insensitively(client):
    assert client.post("/api/auth/register", json=REGISTER).status_code == 201
    r = client.post("/api/auth/register", json={**REGISTER, "email": "NADIA@example.test"})
    assert r.status_code == 409 and r.json["code"] == 409


@pytest.mark.parametrize(
    "body, field",
    [
        ({**REGISTER, "role": "admin"}, "role"),
        ({**REGISTER, "status": "active"}, "status"),
        ({**REGISTER, "hospitalId": 1}, "hospitalId"),
        ({k: v for k, v in REGISTER.items() if k != "email"}, "email"),
        ({k: v for k, v in REGISTER.items() if k != "password"}, "password"),
        ({**REGISTER, "email": "not-an-email"}, "email"),
        ({**REGISTER, "email": 42}, "email"),
        ({**REGISTER, "password": "short"}, "password"),
        ({**REGISTER, "password": "é" * 40}, "password"),  # 80 bytes > bcrypt's 72
        ({**REGISTER, "name": "   "}, "name"),
        ({**REGISTER, "name": "x" * 5000}, "name"),
        ({**REGISTER, "name": ["a"]}, "name"),
        ({**REGISTER, "phone": "call me"}, "phone"),
    ],
)
def test_register_rejects_bad_input_with_422_and_writes_nothing(client, db, body, field):
    r = client.post("/api/auth/register", json=body)
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]["json"]
    assert db.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == 0


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", '"text"', "null"])
def test_malformed_or_non_object_json_is_a_4xx(client, payload):
    r = client.post("/api/auth/register", data=payload, content_type="application/json")
    assert r.status_code in (400, 422) and r.json["code"] == r.status_code


def test_oversized_body_is_413(client):
    r = client.post("/api/auth/register", json={**REGISTER, "name": "x" * 100_000})
    assert r.status_code == 413 and r.json["code"] == 413


def test_login_returns_token_user_and_csrf(client, make):
    user = make.user()
    r = login(client, user["email"])
    assert r.status_code == 200
    assert r.json["user"]["id"] == user["id"] and r.json["token"] and r.json["csrfToken"]
    profile = client.get("/api/auth/profile", headers={"Authorization": f"Bearer {r.json['token']}"})
    assert profile.json["id"] == user["id"]


def test_token_is_stored_hashed(client, make, db):
    user = make.user()
    token = login(client, user["email"]).json["token"]
    hashes = [r["token_hash"] for r in db.execute("SELECT token_hash FROM api_tokens")]
    assert token not in hashes and len(hashes) == 1


def test_same_401_for_unknown_email_wrong_password_and_inactive_account(client, make):
    inactive = make.user(status="inactive")
    active = make.user()
    responses = [
        login(client, "nobody@example.test"),
        login(client, active["email"], "wrong-password"),
        login(client, inactive["email"]),
    ]
    assert {r.status_code for r in responses} == {401}
    assert len({str(r.json) for r in responses}) == 1


def test_login_is_throttled_after_repeated_failures(client, make, app):
    user = make.user()
    with freeze_time("2026-03-01 10:00:00") as clock:
        for _ in range(app.config["LOGIN_MAX_FAILURES"]):
            assert login(client, user["email"], "wrong-password").status_code == 401
        throttled = login(client, user["email"])  # even the right password waits
        assert throttled.status_code == 429
        assert 0 < int(throttled.headers["Retry-After"]) <= app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
        clock.tick(timedelta(seconds=app.config["LOGIN_FAILURE_WINDOW_SECONDS"] + 1))
        assert login(client, user["email"]).status_code == 200


def test_successful_login_resets_the_failure_count(client, make, app):
    user = make.user()
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        login(client, user["email"], "wrong-password")
    assert login(client, user["email"]).status_code == 200
    assert login(client, user["email"], "wrong-password").status_code == 401
    assert login(client, user["email"]).status_code == 200


def test_expired_token_is_401(client, make):
    user = make.user()
    token = make.token(user, ttl=timedelta(seconds=-1))
    r = client.get("/api/auth/profile", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer    ", "Basic abc", "Bearer nope", "Bearer " + "x" * 5000])
def test_garbage_authorization_is_401(client, header):
    assert client.get("/api/auth/profile", headers={"Authorization": header}).status_code == 401


def test_profile_requires_login(client):
    r = client.get("/api/auth/profile")
    assert r.status_code == 401 and r.json["status"] == "Unauthorized"


def test_profile_update_changes_name_and_phone_only(client, make):
    user = make.user()
    headers = make.auth(user)
    r = client.put("/api/auth/profile", json={"name": "New Name", "phone": "+8801800000000"}, headers=headers)
    assert r.status_code == 200 and r.json["name"] == "New Name" and r.json["phone"] == "+8801800000000"


@pytest.mark.parametrize("field, value", [("role", "admin"), ("status", "active"), ("hospitalId", 3),
                                          ("email", "x@example.test"), ("id", 99)])
def test_profile_mass_assignment_changes_nothing(client, make, db, field, value):
    user = make.user()
    r = client.put("/api/auth/profile", json={"name": "Ok", field: value}, headers=make.auth(user))
    assert r.status_code == 422
    assert db.execute("SELECT * FROM users WHERE id = ?", (user["id"],)).fetchone() == user


def test_logout_revokes_the_token(client, make):
    user = make.user()
    token = login(client, user["email"]).json["token"]
    other = client.application.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert other.post("/api/auth/logout", headers=headers).status_code == 204
    assert other.get("/api/auth/profile", headers=headers).status_code == 401


def test_logout_ends_the_cookie_session(client, make):
    user = make.user()
    csrf = login(client, user["email"]).json["csrfToken"]
    assert client.get("/api/auth/profile").status_code == 200  # the cookie works
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/auth/profile").status_code == 401


def test_cookie_session_needs_csrf_token_for_unsafe_requests(client, make):
    user = make.user()
    csrf = login(client, user["email"]).json["csrfToken"]
    assert client.put("/api/auth/profile", json={"name": "A"}).status_code == 403
    assert client.put("/api/auth/profile", json={"name": "A"}, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.put("/api/auth/profile", json={"name": "A"}, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_change_password_revokes_other_tokens_and_sessions(client, make, app):
    user = make.user()
    cookie_client = app.test_client()
    csrf = login(cookie_client, user["email"]).json["csrfToken"]
    old_token = login(app.test_client(), user["email"]).json["token"]
    current = login(app.test_client(), user["email"]).json["token"]
    r = app.test_client().put(
        "/api/auth/change-password",
        json={"currentPassword": PASSWORD, "newPassword": "brand-new-pass-2"},
        headers={"Authorization": f"Bearer {current}"},
    )
    assert r.status_code == 204
    fresh = app.test_client()
    assert fresh.get("/api/auth/profile", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    assert fresh.get("/api/auth/profile", headers={"Authorization": f"Bearer {current}"}).status_code == 200
    assert cookie_client.get("/api/auth/profile").status_code == 401  # other cookie session void
    assert csrf
    assert login(app.test_client(), user["email"]).status_code == 401
    assert login(app.test_client(), user["email"], "brand-new-pass-2").status_code == 200


def test_change_password_keeps_the_calling_cookie_session(client, make):
    user = make.user()
    csrf = login(client, user["email"]).json["csrfToken"]
    r = client.put("/api/auth/change-password", headers={"X-CSRF-Token": csrf},
                   json={"currentPassword": PASSWORD, "newPassword": "brand-new-pass-2"})
    assert r.status_code == 204
    assert client.get("/api/auth/profile").status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"currentPassword": "wrong-one-123", "newPassword": "brand-new-pass-2"},
     {"currentPassword": PASSWORD, "newPassword": "short"},
     {"currentPassword": PASSWORD, "newPassword": "x" * 73},
     {"currentPassword": PASSWORD},
     {"newPassword": "brand-new-pass-2"}],
)
def test_change_password_bad_input_is_422_and_changes_nothing(client, make, body):
    user = make.user()
    headers = make.auth(user)
    assert client.put("/api/auth/change-password", json=body, headers=headers).status_code == 422
    assert login(client, user["email"]).status_code == 200


def test_suspended_user_token_stops_working(client, make, db):
    user = make.user()
    headers = make.auth(user)
    db.execute("UPDATE users SET status = 'suspended' WHERE id = ?", (user["id"],))
    assert client.get("/api/auth/profile", headers=headers).status_code == 401


def test_no_admin_over_http_only_by_cli(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-admin", "--email", "Root@Example.test",
                                 "--password", "admin-password-1", "--name", "Root"])
    assert result.exit_code == 0, result.output
    row = db.execute("SELECT role, email FROM users").fetchone()
    assert row == {"role": "admin", "email": "root@example.test"}
    again = runner.invoke(args=["create-admin", "--email", "root@example.test",
                                "--password", "admin-password-1", "--name", "Root"])
    assert again.exit_code != 0 and "exists" in again.output
    bad = runner.invoke(args=["create-admin", "--email", "x@example.test", "--password", "short", "--name", "X"])
    assert bad.exit_code != 0


def test_passwords_and_tokens_never_reach_the_log(client, make, caplog):
    user = make.user()
    with caplog.at_level("DEBUG"):
        token = login(client, user["email"]).json["token"]
        client.get("/api/auth/profile", headers={"Authorization": f"Bearer {token}"})
    assert caplog.records, "request logging wrote nothing"
    assert PASSWORD not in caplog.text and token not in caplog.text and user["email"] not in caplog.text
