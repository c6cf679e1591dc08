"""Every endpoint of the contract (../shared/API.md) is served and in /openapi.json.

The list is the contract's tables, copied here so CI does not depend on the file
beside the repository. Path parameters are compared by position, not by name.
"""
import re

import pytest

CONTRACT = [
    ("POST", "/api/auth/register"), ("POST", "/api/auth/login"), ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/profile"), ("PUT", "/api/auth/profile"), ("PUT", "/api/auth/change-password"),
    ("GET", "/api/hospitals"), ("GET", "/api/hospitals/{id}"), ("POST", "/api/hospitals"),
    ("GET", "/api/hospitals/my-hospital"), ("PUT", "/api/hospitals/my-hospital"),
    ("GET", "/api/admin/hospitals"), ("PUT", "/api/admin/hospitals/{id}/approve"),
    ("PUT", "/api/admin/hospitals/{id}/reject"), ("PUT", "/api/admin/hospitals/{id}/suspend"),
    ("GET", "/api/admin/users"), ("PUT", "/api/admin/users/{id}/status"), ("GET", "/api/admin/stats"),
    ("GET", "/api/hospital-resources/{hospitalId}"),
    ("PUT", "/api/hospital-resources/{hospitalId}/{resourceType}"),
    ("GET", "/api/hospital-resources/{hospitalId}/{resourceType}/availability"),
    ("GET", "/api/hospital-resources/{hospitalId}/audit-log"),
    ("GET", "/api/hospital-resources/{hospitalId}/utilization"),
    ("GET", "/api/pricing/hospitals/{id}"), ("PUT", "/api/pricing/hospitals/{id}/{resourceType}"),
    ("POST", "/api/pricing/calculate"),
    ("POST", "/api/bookings"), ("GET", "/api/bookings/my-bookings"), ("GET", "/api/bookings/{id}"),
    ("GET", "/api/bookings/{id}/history"), ("GET", "/api/bookings/reference/{reference}"),
    ("GET", "/api/bookings/search"), ("PUT", "/api/bookings/{id}/approve"),
    ("PUT", "/api/bookings/{id}/decline"), ("PUT", "/api/bookings/{id}/complete"),
    ("DELETE", "/api/bookings/{id}"), ("GET", "/api/bookings/hospital/{hospitalId}/pending"),
    ("GET", "/api/bookings/hospital/{hospitalId}/history"),
    ("GET", "/api/bookings/hospital/{hospitalId}/statistics"),
    ("GET", "/api/bookings/notifications"), ("PUT", "/api/bookings/notifications/{id}/read"),
    ("PUT", "/api/bookings/notifications/read-all"),
    ("POST", "/api/payments/process"), ("POST", "/api/payments/sslcommerz/ipn"),
    ("GET", "/api/payments/{id}/receipt"), ("GET", "/api/payments/history"),
    ("POST", "/api/payments/{id}/refund"), ("GET", "/api/wallet"), ("GET", "/api/wallet/transactions"),
    ("POST", "/api/wallet/topup"), ("POST", "/api/admin/wallets/{userId}/adjust"),
    ("GET", "/api/reconciliation/history"), ("GET", "/api/reconciliation/discrepancies"),
    ("POST", "/api/reconciliation/daily/trigger"),
    ("PUT", "/api/reconciliation/discrepancies/{id}/resolve"),
    ("POST", "/api/blood/request"), ("GET", "/api/blood/requests"), ("GET", "/api/blood/my-requests"),
    ("GET", "/api/blood/requests/{id}"), ("GET", "/api/blood/requests/compatible"),
    ("POST", "/api/blood/requests/{id}/match"), ("PUT", "/api/blood/requests/{id}/status"),
    ("GET", "/api/health"), ("GET", "/api/health/detailed"), ("GET", "/api/monitoring/migrations"),
    ("GET", "/metrics"),
]


def shape(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture
def documented(client):
    spec = client.get("/openapi.json").json
    return {(method.upper(), shape(path)) for path, item in spec["paths"].items() for method in item}


@pytest.mark.parametrize("method, path", CONTRACT, ids=[f"{m} {p}" for m, p in CONTRACT])
def test_contract_endpoint_is_documented(documented, method, path):
    assert (method, shape(path)) in documented


@pytest.mark.parametrize("method, path", CONTRACT, ids=[f"{m} {p}" for m, p in CONTRACT])
def test_contract_endpoint_is_routed(app, method, path):
    """Literal routes win over /{id} (the original's defect 1): each path reaches its own view."""
    concrete = re.sub(r"\{[^}]+\}", lambda m: "beds" if m.group(0) == "{resourceType}" else "1", path)
    adapter = app.url_map.bind("localhost")
    endpoint, _ = adapter.match(concrete, method=method)
    assert endpoint
    documented_rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    rule_shape = re.sub(r"<[^>]+>", "{}", documented_rule.rule)
    assert rule_shape == shape(path), f"{method} {path} is served by {documented_rule.rule}"
