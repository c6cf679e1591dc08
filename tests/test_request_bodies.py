"""Hostile and mistaken request bodies (issue #12, items 3, 4, 9 and 11).

The table-driven tests walk the service's own OpenAPI document, so every JSON
operation, present and future, is covered without naming it here.
"""
import re

import pytest

from app.extensions.json import MAX_JSON_DEPTH
from tests.openapi_walk import concrete, operations

JSON = "application/json"

# Bodies the JSON parser used to crash on (500), or let through to bcrypt/sqlite3.
HOSTILE_BODIES = {
    "nested far deeper than the recursion limit": b"[" * 5000 + b"]" * 5000,
    "nested just past our depth limit": b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    "an integer literal over 4,300 digits": b'{"amount": ' + b"7" * 5000 + b"}",
    "a lone high surrogate": b'{"name": "\\ud800"}',
    "a lone low surrogate as a key": b'{"\\udc00": 1}',
    "NaN, which is not JSON": b'{"amount": NaN}',
}


def _takes_a_json_body(operation):
    body = operation.get("requestBody")
    return bool(body) and JSON in body["content"]


@pytest.fixture
def json_operations(client):
    found = list(operations(client.get("/openapi.json").json, _takes_a_json_body))
    assert len(found) > 25  # the walk found the API, not an empty document
    return found


@pytest.fixture
def callers(make):
    """A caller of each role: every JSON operation parses its body for one of them."""
    hospital = make.hospital()
    return [make.auth(make.user()), make.auth(make.authority(hospital)), make.auth(make.admin())]


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_every_json_operation_answers_hostile_json_with_400_invalid_json_body(
        client, json_operations, callers, body):
    for method, path in json_operations:
        answers = []
        for headers in callers:
            response = client.open(concrete(path), method=method, data=body,
                                   headers={**headers, "Content-Type": JSON,
                                            "Idempotency-Key": "hostile-json-1"})
            assert response.status_code < 500, (method, path, response.json)
            assert response.json["code"] == response.status_code
            answers.append((response.status_code, response.json.get("message", "")))
        assert any(code == 400 and message.startswith("Invalid JSON body: ")
                   for code, message in answers), (method, path, answers)


def test_login_with_a_lone_surrogate_in_the_password_is_400_not_500(client, make):
    user = make.user()
    body = '{"email": "%s", "password": "demo-pass\\ud800word"}' % user["email"]
    response = client.post("/api/auth/login", data=body, content_type=JSON)
    assert response.status_code == 400
    assert response.json["message"].startswith("Invalid JSON body: ")


def test_lone_surrogate_in_a_stored_text_field_is_400_not_500(client, make):
    user = make.user()
    response = client.put("/api/auth/profile", headers=make.auth(user),
                          data=b'{"name": "R\\udfffahim"}', content_type=JSON)
    assert response.status_code == 400
    assert response.json["message"].startswith("Invalid JSON body: ")


def test_malformed_json_message_gives_the_real_reason(client):
    response = client.post("/api/auth/login", data=b'{"email": "a@b.example",', content_type=JSON)
    assert response.status_code == 400
    assert response.json["code"] == 400 and response.json["status"] == "Bad Request"
    assert response.json["message"].startswith("Invalid JSON body: ")
    assert "browser" not in response.json["message"]  # not Werkzeug's generic sentence


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_body_with_another_content_type_is_415_naming_the_expected_one(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/auth/login",
                           data=b'{"email": "a@b.example", "password": "x"}', headers=headers)
    assert response.status_code == 415
    assert response.json == {"code": 415, "status": "Unsupported Media Type",
                             "message": "Expected Content-Type: application/json"}


HUGE = "1e999999999"


@pytest.mark.parametrize("field, request_for", [
    ("amount", lambda make, ids: ("POST", "/api/wallet/topup", make.auth(make.user()),
                                  {"amount": HUGE})),
    ("amount", lambda make, ids: ("POST", "/api/payments/1/refund", make.auth(make.admin()),
                                  {"amount": HUGE, "reason": "refund"})),
    ("amount", lambda make, ids: ("POST", f"/api/admin/wallets/{ids['user']}/adjust",
                                  make.auth(make.admin()), {"amount": HUGE, "reason": "fix"})),
    ("amount", lambda make, ids: ("POST", f"/api/admin/wallets/{ids['user']}/adjust",
                                  make.auth(make.admin()), {"amount": "-" + HUGE, "reason": "fix"})),
    ("basePrice", lambda make, ids: ("PUT", f"/api/pricing/hospitals/{ids['hospital']}/beds",
                                     make.auth(make.admin()), {"basePrice": HUGE})),
    ("emergencyMultiplier", lambda make, ids: (
        "PUT", f"/api/pricing/hospitals/{ids['hospital']}/beds", make.auth(make.admin()),
        {"basePrice": "100.00", "emergencyMultiplier": HUGE})),
], ids=["top-up", "refund", "admin adjust", "admin adjust negative", "basePrice",
        "emergencyMultiplier"])
def test_money_with_a_huge_exponent_is_a_422_on_its_field(client, make, field, request_for):
    ids = {"user": make.user()["id"], "hospital": make.hospital()["id"]}
    method, path, headers, body = request_for(make, ids)
    response = client.open(path, method=method, json=body,
                           headers={**headers, "Idempotency-Key": "huge-exponent-1"})
    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]


# -- item 9: required bodies are required ---------------------------------------------------

def _counts(db):
    return db.execute("SELECT (SELECT count(*) FROM payment_config) AS config, "
                      "(SELECT count(*) FROM admin_audit_log) AS audit").fetchone()


@pytest.mark.parametrize("body", [None, b"", b"{}", b'{"gateway": "sslcommerz"}'],
                         ids=["no body", "empty body", "empty object", "only the gateway"])
def test_payment_config_without_a_change_is_422_and_writes_nothing(client, make, db, body):
    before = _counts(db)
    response = client.put("/api/admin/payment-config", headers=make.auth(make.admin()),
                          data=body, content_type=JSON if body is not None else None)
    assert response.status_code == 422, response.json
    assert response.json["code"] == 422 and response.json["errors"]["json"]
    assert _counts(db) == before


@pytest.mark.parametrize("body", [None, b"{}"], ids=["no body", "empty object"])
def test_profile_update_without_a_field_is_422(client, make, body):
    response = client.put("/api/auth/profile", headers=make.auth(make.user()),
                          data=body, content_type=JSON if body is not None else None)
    assert response.status_code == 422
    assert response.json["errors"]["json"]["_schema"]


def test_reconciliation_trigger_without_a_body_is_422_and_runs_nothing(client, make, db):
    response = client.post("/api/reconciliation/daily/trigger", headers=make.auth(make.admin()))
    assert response.status_code == 422
    assert response.json["message"] == "A JSON body is required."
    assert db.execute("SELECT count(*) AS n FROM reconciliation_runs").fetchone()["n"] == 0


def test_openapi_states_what_the_service_enforces(client):
    spec = client.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    paths = spec["paths"]

    page = next(p for p in paths["/api/bookings/my-bookings"]["get"]["parameters"]
                if p["name"] == "page")
    assert page["schema"]["maximum"] == 1_000_000_000
    assert schemas["Register"]["properties"]["password"]["minLength"] == 8
    assert schemas["ChangePassword"]["properties"]["newPassword"]["minLength"] == 8
    assert re.fullmatch(schemas["HospitalCreate"]["properties"]["name"]["pattern"], "Rahim")
    assert not re.fullmatch(schemas["HospitalCreate"]["properties"]["name"]["pattern"], "R\x01")
    for name in ("ProfileUpdate", "HospitalUpdate"):
        assert schemas[name]["minProperties"] == 1, name
    assert {"required": ["isActive"]} in schemas["PaymentConfigUpdate"]["anyOf"]
    assert {"required": ["total"]} in schemas["ResourceUpdate"]["anyOf"]
    assert {"required": ["platformFeeBp"]} in schemas["PaymentPolicyUpdate"]["anyOf"]
    end_date = next(p for p in paths["/api/bookings/search"]["get"]["parameters"]
                    if p["name"] == "endDate")
    assert "startDate" in end_date["description"]
    assert paths["/api/reconciliation/daily/trigger"]["post"]["requestBody"]["required"] is True
    assert paths["/api/bookings/{booking_id}"]["delete"]["requestBody"]["required"] is False

