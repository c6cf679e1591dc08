"""App plumbing: configuration, the one error body, OpenAPI, CLI, health, real gunicorn."""
import json
import logging
import sqlite3

import pytest
import requests

from app import create_app
from app.config import TEST_OVERRIDES, ConfigError
from tests.live_server import LiveServer


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("RAPIDCARE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"ENV": "production", "DATABASE": str(tmp_path / "x.sqlite3")})


def test_environment_variables_override_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("RAPIDCARE_MAX_PAGE_SIZE", "7")
    monkeypatch.setenv("RAPIDCARE_TIMEZONE", "UTC")
    monkeypatch.setenv("RAPIDCARE_SECRET_KEY", "s3cret")
    # production also needs its encryption key (README "Encryption at rest")
    monkeypatch.setenv("RAPIDCARE_ENCRYPTION_KEYS", TEST_OVERRIDES["ENCRYPTION_KEYS"])
    app = create_app({"DATABASE": str(tmp_path / "x.sqlite3")})
    assert app.config["MAX_PAGE_SIZE"] == 7 and app.config["TIMEZONE"] == "UTC"
    assert app.config["SECRET_KEY"] == "s3cret" and app.config["ENV"] == "production"


def test_unknown_env_mode_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        create_app({"ENV": "staging", "SECRET_KEY": "x", "DATABASE": str(tmp_path / "x.sqlite3")})


@pytest.mark.parametrize(
    "method, path, code",
    [("GET", "/api/nothing-here", 404), ("DELETE", "/api/health", 405),
     ("POST", "/api/auth/login", 422)],
)
def test_http_errors_use_the_one_body(client, method, path, code):
    r = client.open(path, method=method, json={} if method == "POST" else None)
    assert r.status_code == code
    assert r.json["code"] == code and r.json["status"] and "message" in r.json


@pytest.mark.own_app
def test_unhandled_exception_is_500_in_the_one_body_without_details(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom():
        raise KeyError("secret-internal-detail")

    r = app.test_client().get("/boom")
    assert r.status_code == 500
    assert r.json == {"code": 500, "status": "Internal Server Error", "message": "Internal server error"}


@pytest.mark.own_app
def test_integrity_error_is_409(app):
    @app.get("/conflict")
    def conflict():
        raise sqlite3.IntegrityError("UNIQUE constraint failed: users.email")

    r = app.test_client().get("/conflict")
    assert r.status_code == 409 and r.json["code"] == 409


@pytest.mark.own_app
def test_locked_database_is_503_with_retry_after(app):
    @app.get("/locked")
    def locked():
        raise sqlite3.OperationalError("database is locked")

    r = app.test_client().get("/locked")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"


def test_health_ok(client):
    assert client.get("/api/health").json == {"status": "ok", "database": "ok"}


def test_health_is_503_when_database_unreachable(app_config, tmp_path):
    if app_config.get("DATABASE_URL"):  # no server listens on port 9
        app_config = {**app_config, "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/none",
                      "POSTGRES_POOL_TIMEOUT_SECONDS": 1}
    app = create_app({**app_config, "DATABASE": str(tmp_path / "missing-dir" / "no" / "db.sqlite3")})
    # the directory is created on connect, so make the path a directory to break it
    (tmp_path / "missing-dir" / "no" / "db.sqlite3").mkdir(parents=True)
    r = app.test_client().get("/api/health")
    assert r.status_code == 503 and r.json["code"] == 503 and r.json["database"] == "unreachable"


def test_openapi_documents_auth_and_docs_page_renders(client):
    spec = client.get("/openapi.json").json
    for path in ["/api/auth/register", "/api/auth/login", "/api/auth/logout",
                 "/api/auth/profile", "/api/auth/change-password", "/api/health"]:
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/api/auth/profile"]["get"]["security"] == [{"bearerAuth": []}]
    page = client.get("/docs")
    assert page.status_code == 200 and b"swagger" in page.data.lower()


def test_db_cli_status_and_upgrade(app):
    runner = app.test_cli_runner()
    assert "0 migration(s) applied" in runner.invoke(args=["db", "upgrade"]).output
    assert "0001_initial_schema: applied" in runner.invoke(args=["db", "status"]).output


def test_seed_demo_is_repeatable(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = db.execute(
        "SELECT (SELECT count(*) FROM hospitals WHERE status = 'approved') AS h, "
        "(SELECT count(*) FROM users) AS u, (SELECT count(*) FROM hospital_pricing) AS p"
    ).fetchone()
    assert counts["h"] >= 3 and counts["u"] >= 4 and counts["p"] >= 9
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert db.execute(
        "SELECT (SELECT count(*) FROM hospitals WHERE status = 'approved') AS h, "
        "(SELECT count(*) FROM users) AS u, (SELECT count(*) FROM hospital_pricing) AS p"
    ).fetchone() == counts


@pytest.mark.slow
def test_real_gunicorn_workers_serve_login_and_profile(tmp_path):
    with LiveServer(tmp_path, workers=2) as server:
        email = "live@example.test"
        r = requests.post(server.url + "/api/auth/register",
                          json={"name": "Live", "email": email, "password": "live-password-1"}, timeout=10)
        assert r.status_code == 201
        token = requests.post(server.url + "/api/auth/login",
                              json={"email": email, "password": "live-password-1"}, timeout=10).json()["token"]
        for _ in range(10):  # served by whichever worker takes the request
            p = requests.get(server.url + "/api/auth/profile",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert p.status_code == 200 and p.json()["email"] == email
        if server.database_url is None:  # the file the workers wrote is in WAL mode
            conn = sqlite3.connect(server.database)
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            conn.close()


def test_request_log_line_at_info_and_none_above(app, client, caplog):
    caplog.set_level(logging.INFO, logger="rapidcare.request")
    client.get("/api/health")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "rapidcare.request"]
    assert lines == [{"method": "GET", "route": "/api/health", "status": 200,
                      "duration_ms": lines[0]["duration_ms"], "user_id": None}]
    assert lines[0]["duration_ms"] >= 0
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="rapidcare.request")
    client.get("/api/health")
    assert not [r for r in caplog.records if r.name == "rapidcare.request"]
