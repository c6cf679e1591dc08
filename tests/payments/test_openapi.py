"""Every payment, wallet and reconciliation endpoint of API.md is in /openapi.json."""
import pytest

ENDPOINTS = [
    ("post", "/api/payments/process"),
    ("post", "/api/payments/sslcommerz/ipn"),
    ("get", "/api/payments/{payment_id}/receipt"),
    ("get", "/api/payments/history"),
    ("post", "/api/payments/{payment_id}/refund"),
    ("get", "/api/wallet"),
    ("get", "/api/wallet/transactions"),
    ("post", "/api/wallet/topup"),
    ("post", "/api/admin/wallets/{user_id}/adjust"),
    ("get", "/api/reconciliation/history"),
    ("get", "/api/reconciliation/discrepancies"),
    ("post", "/api/reconciliation/daily/trigger"),
    ("put", "/api/reconciliation/discrepancies/{discrepancy_id}/resolve"),
]


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_endpoint_is_documented_with_a_summary(spec, method, path):
    operation = spec["paths"][path][method]
    assert operation["summary"] and operation["responses"]


@pytest.mark.parametrize("path", ["/api/payments/process", "/api/wallet/topup",
                                  "/api/payments/{payment_id}/refund",
                                  "/api/admin/wallets/{user_id}/adjust"])
def test_idempotency_key_is_a_required_documented_header(spec, path):
    operation = spec["paths"][path]["post"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is True
    assert header["schema"]["maxLength"] == 255
    assert "400" in operation["responses"]


def test_insufficient_balance_body_is_documented(spec):
    response = spec["paths"]["/api/payments/process"]["post"]["responses"]["402"]
    schema_name = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"required", "balance", "shortfall"} <= set(
        spec["components"]["schemas"][schema_name]["properties"])


def test_ipn_is_form_encoded_and_needs_no_token(spec):
    operation = spec["paths"]["/api/payments/sslcommerz/ipn"]["post"]
    assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"] or \
        "multipart/form-data" in operation["requestBody"]["content"]
    assert "security" not in operation


def test_the_ipn_endpoint_is_the_csrf_exempt_one(app):
    from app.auth.session import CSRF_EXEMPT_ENDPOINTS

    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()
                 if rule.rule == "/api/payments/sslcommerz/ipn"}
    assert endpoints == {"payments.SslcommerzIpn"} <= CSRF_EXEMPT_ENDPOINTS


def test_the_adjustment_amount_is_documented_as_a_string(spec):
    body = spec["paths"]["/api/admin/wallets/{user_id}/adjust"]["post"]["requestBody"]
    name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    amount = spec["components"]["schemas"][name]["properties"]["amount"]
    assert amount["type"] == "string" and "JSON number" in amount["description"]
