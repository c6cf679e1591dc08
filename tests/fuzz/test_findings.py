"""Regression tests for what the fuzzer found (one test per finding, fast: test client)."""
import jsonschema_rs

from app.errors import error_body
from tests.factories import PASSWORD

LONG_PASSWORD = "ü" * 40  # 80 bytes: past bcrypt's 72-byte limit, inside the schema's 1024


def test_login_with_a_password_longer_than_bcrypt_reads_is_401_not_500(client, make):
    """bcrypt 5 raises ValueError for > 72 bytes; login answered 500."""
    user = make.user()
    for email in (user["email"], "nobody@example.test"):
        response = client.post("/api/auth/login", json={"email": email, "password": LONG_PASSWORD})
        assert response.status_code == 401
        assert response.json["message"] == "Invalid email or password."


def test_change_password_with_an_overlong_current_password_is_422_not_500(client, make):
    user = make.user()
    response = client.put("/api/auth/change-password", headers=make.auth(user),
                          json={"currentPassword": LONG_PASSWORD, "newPassword": "another-pass-1"})
    assert response.status_code == 422
    assert "currentPassword" in response.json["errors"]
    # and the real password still works
    assert client.post("/api/auth/login",
                       json={"email": user["email"], "password": PASSWORD}).status_code == 200


def test_published_error_schema_accepts_error_bodies_with_extra_fields(client):
    """402 (required/balance/shortfall) and the 503 health answer (database) add
    top-level fields; the documented Error schema used to forbid any."""
    spec = client.get("/openapi.json").json
    validator = jsonschema_rs.validator_for(
        {**spec["components"]["schemas"]["Error"], "components": spec["components"]}
    )
    assert validator.is_valid(error_body(402, "Insufficient balance.", extra={
        "required": "1500.00", "balance": "100.00", "shortfall": "1400.00"}))
    assert validator.is_valid(error_body(503, "Database unreachable.", extra={"database": "unreachable"}))
    assert not validator.is_valid({"code": "not a number"})
