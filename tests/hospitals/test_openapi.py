"""Every endpoint of the hospitals, resources, pricing and admin sections is documented."""
import pytest

pytestmark = pytest.mark.no_database

ENDPOINTS = [
    ("get", "/api/hospitals"),
    ("post", "/api/hospitals"),
    ("get", "/api/hospitals/{hospital_id}"),
    ("get", "/api/hospitals/my-hospital"),
    ("put", "/api/hospitals/my-hospital"),
    ("get", "/api/admin/hospitals"),
    ("put", "/api/admin/hospitals/{hospital_id}/approve"),
    ("put", "/api/admin/hospitals/{hospital_id}/reject"),
    ("put", "/api/admin/hospitals/{hospital_id}/suspend"),
    ("put", "/api/admin/hospitals/{hospital_id}/reinstate"),
    ("put", "/api/admin/hospitals/{hospital_id}"),
    ("get", "/api/hospitals/my-hospital/staff"),
    ("post", "/api/hospitals/my-hospital/staff"),
    ("delete", "/api/hospitals/my-hospital/staff/{user_id}"),
    ("get", "/api/admin/hospitals/{hospital_id}/staff"),
    ("post", "/api/admin/hospitals/{hospital_id}/staff"),
    ("delete", "/api/admin/hospitals/{hospital_id}/staff/{user_id}"),
    ("get", "/api/admin/users"),
    ("put", "/api/admin/users/{user_id}/status"),
    ("get", "/api/admin/stats"),
    ("get", "/api/admin/audit-log"),
    ("get", "/api/admin/payment-config"),
    ("put", "/api/admin/payment-config"),
    ("get", "/api/hospital-resources/{hospital_id}"),
    ("put", "/api/hospital-resources/{hospital_id}/{resource_type}"),
    ("get", "/api/hospital-resources/{hospital_id}/{resource_type}/availability"),
    ("get", "/api/hospital-resources/{hospital_id}/audit-log"),
    ("get", "/api/hospital-resources/{hospital_id}/utilization"),
    ("get", "/api/pricing/hospitals/{hospital_id}"),
    ("put", "/api/pricing/hospitals/{hospital_id}/{resource_type}"),
    ("get", "/api/pricing/hospitals/{hospital_id}/history"),
    ("get", "/api/pricing/hospitals/{hospital_id}/policy"),
    ("put", "/api/pricing/hospitals/{hospital_id}/policy"),
    ("post", "/api/pricing/calculate"),
]
PUBLIC = {("get", "/api/hospitals"), ("get", "/api/hospitals/{hospital_id}"),
          ("get", "/api/hospital-resources/{hospital_id}"),
          ("get", "/api/hospital-resources/{hospital_id}/{resource_type}/availability"),
          ("get", "/api/pricing/hospitals/{hospital_id}"),
          ("get", "/api/pricing/hospitals/{hospital_id}/policy"),
          ("post", "/api/pricing/calculate")}


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    from app import create_app
    from app.config import TEST_OVERRIDES

    # METRICS_DIR: by default "<DATABASE>-metrics", a ":memory:-metrics" folder in the cwd
    app = create_app({**TEST_OVERRIDES, "DATABASE": ":memory:",
                      "METRICS_DIR": str(tmp_path_factory.mktemp("metrics"))})
    return app.test_client().get("/openapi.json").json


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_endpoint_is_documented_with_summary_and_security(spec, method, path):
    operation = spec["paths"][path][method]
    assert operation["summary"]
    assert ("security" in operation) == ((method, path) not in PUBLIC)


def test_resource_type_is_an_enum_in_paths(spec):
    params = spec["paths"]["/api/hospital-resources/{hospital_id}/{resource_type}"]["parameters"]
    [resource_type] = [p for p in params if p["name"] == "resource_type"]
    assert resource_type["schema"]["enum"] == ["beds", "icu", "operationTheatres"]


def test_search_arguments_and_pagination_are_documented(spec):
    names = {p["name"] for p in spec["paths"]["/api/hospitals"]["get"]["parameters"]}
    assert {"q", "resourceType", "minAvailable", "page", "page_size"} <= names
