"""Every booking endpoint of API.md is in the OpenAPI document, secured and summarised."""
from tests.bookings.helpers import booking_body
from tests.factories import PASSWORD

ENDPOINTS = [
    ("post", "/api/bookings"),
    ("get", "/api/bookings/my-bookings"),
    ("get", "/api/bookings/{booking_id}"),
    ("delete", "/api/bookings/{booking_id}"),
    ("get", "/api/bookings/{booking_id}/history"),
    ("get", "/api/bookings/reference/{reference}"),
    ("get", "/api/bookings/search"),
    ("put", "/api/bookings/{booking_id}/approve"),
    ("put", "/api/bookings/{booking_id}/decline"),
    ("put", "/api/bookings/{booking_id}/complete"),
    ("get", "/api/bookings/hospital/{hospital_id}/pending"),
    ("get", "/api/bookings/hospital/{hospital_id}/history"),
    ("get", "/api/bookings/hospital/{hospital_id}/statistics"),
    ("get", "/api/bookings/notifications"),
    ("put", "/api/bookings/notifications/{notification_id}/read"),
    ("put", "/api/bookings/notifications/read-all"),
]


def test_every_booking_endpoint_is_documented(client):
    paths = client.get("/openapi.json").json["paths"]
    for method, path in ENDPOINTS:
        operation = paths[path][method]
        assert operation["summary"], (method, path)
        assert operation["security"] == [{"bearerAuth": []}], (method, path)
    create = paths["/api/bookings"]["post"]
    assert "201" in create["responses"] and "429" in create["responses"]
    search_params = {p["name"] for p in paths["/api/bookings/search"]["get"]["parameters"]}
    assert {"patientName", "bookingReference", "status", "urgency", "resourceType", "hospitalId",
            "startDate", "endDate", "page", "page_size"} <= search_params


def test_cookie_sessions_need_the_csrf_token_for_bookings(client, world):
    login = client.post("/api/auth/login", json={"email": world.patient["email"], "password": PASSWORD})
    body = booking_body(world.hospital)
    assert client.post("/api/bookings", json=body).status_code == 403
    r = client.post("/api/bookings", json=body, headers={"X-CSRF-Token": login.json["csrfToken"]})
    assert r.status_code == 201
