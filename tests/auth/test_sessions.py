"""One session record per login (issue #12, item 2): the bearer token and the cookie
session of a login are ended together (logout by either, password change, expiry),
and the cookie lives exactly as long as the token."""
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

import pytest
from freezegun import freeze_time

from app.db import transaction
from app.timeutil import to_iso, utcnow
from tests.factories import PASSWORD

TTL_HOURS = 2  # not the default (24), so a cookie lifetime that ignores it shows


@pytest.fixture
def app_config(app_config):
    return {**app_config, "TOKEN_TTL_HOURS": TTL_HOURS}


def login(client, user):
    r = client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
    assert r.status_code == 200
    return r.json


def session_cookie(client):
    return client.get_cookie("session").value


def with_cookie(app, value):
    """A client that has nothing but a copy of someone's session cookie."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_copied_cookie_is_refused_after_logout_for_reads_and_csrf_writes(app, client, make):
    user = make.user()
    csrf = login(client, user)["csrfToken"]
    copy = with_cookie(app, session_cookie(client))
    assert copy.get("/api/auth/profile").status_code == 200  # the copy works until logout
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert copy.get("/api/auth/profile").status_code == 401
    write = copy.put("/api/auth/profile", json={"name": "Hijacked"}, headers={"X-CSRF-Token": csrf})
    assert write.status_code == 401
    assert make.conn.execute("SELECT name FROM users WHERE id = ?",
                             (user["id"],)).fetchone()["name"] == user["name"]


def test_bearer_logout_ends_the_cookie_session_of_the_same_login_only(app, client, make):
    user = make.user()
    token = login(client, user)["token"]
    other_login = app.test_client()
    login(other_login, user)
    assert client.get("/api/auth/profile").status_code == 200
    assert app.test_client().post("/api/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/api/auth/profile").status_code == 401
    assert other_login.get("/api/auth/profile").status_code == 200


def test_cookie_logout_ends_the_bearer_token_of_the_same_login(app, client, make):
    user = make.user()
    body = login(client, user)
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": body["csrfToken"]}).status_code == 204
    assert app.test_client().get("/api/auth/profile", headers=bearer(body["token"])).status_code == 401


def test_password_change_by_bearer_keeps_that_logins_cookie_and_ends_the_others(app, client, make):
    user = make.user()
    token = login(client, user)["token"]
    other = app.test_client()
    login(other, user)
    r = app.test_client().put("/api/auth/change-password", headers=bearer(token),
                              json={"currentPassword": PASSWORD, "newPassword": "brand-new-pass-2"})
    assert r.status_code == 204
    assert client.get("/api/auth/profile").status_code == 200
    assert other.get("/api/auth/profile").status_code == 401


def set_cookie_expiry(response):
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    return parsedate_to_datetime(SimpleCookie(header)["session"]["expires"])


def test_cookie_expires_with_the_token(client, make):
    user = make.user()
    with freeze_time("2026-03-01 10:00:00") as clock:
        r = client.post("/api/auth/login", json={"email": user["email"], "password": PASSWORD})
        expected = datetime(2026, 3, 1, 10, tzinfo=timezone.utc) + timedelta(hours=TTL_HOURS)
        assert set_cookie_expiry(r) == expected
        assert datetime.fromisoformat(r.json["expiresAt"].replace("Z", "+00:00")) == expected
        clock.tick(timedelta(minutes=30))
        later = client.get("/api/auth/profile")
        assert later.status_code == 200
        assert not any(h.startswith("session=") for h in later.headers.getlist("Set-Cookie"))


def test_cookie_is_refused_once_the_login_has_expired(app, client, make):
    user = make.user()
    with freeze_time("2026-03-01 10:00:00") as clock:
        login(client, user)
        cookie = session_cookie(client)
        # sent by hand: the test client's cookie jar would drop an expired cookie itself
        by_hand = app.test_client(use_cookies=False)
        headers = {"Cookie": f"session={cookie}"}
        clock.tick(timedelta(hours=TTL_HOURS, seconds=-1))
        assert by_hand.get("/api/auth/profile", headers=headers).status_code == 200
        clock.tick(timedelta(seconds=2))
        assert by_hand.get("/api/auth/profile", headers=headers).status_code == 401


def test_cookie_is_refused_when_its_session_record_has_expired(client, make):
    user = make.user()
    login(client, user)
    with transaction(make.conn):
        make.conn.execute("UPDATE api_tokens SET expires_at = ? WHERE user_id = ?",
                          (to_iso(utcnow() - timedelta(seconds=1)), user["id"]))
    assert client.get("/api/auth/profile").status_code == 401
