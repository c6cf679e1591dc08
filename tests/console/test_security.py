"""Console safety: CSRF on every form, security headers, error pages, nothing inline."""
import re

import pytest

from tests.console.helpers import session_token, signed_in, text

STAFF_FORMS = ["/console/bookings/{booking}/approve", "/console/bookings/{booking}/decline",
               "/console/bookings/{booking}/complete", "/console/board/beds",
               "/console/notifications/read-all", "/console/sign-out"]
ADMIN_FORMS = ["/console/admin/hospitals/{hospital}/approve", "/console/admin/users/{user}/status",
               "/console/admin/wallets/adjust", "/console/admin/discrepancies/1/resolve",
               "/console/sign-out"]


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_every_staff_form_needs_the_session_token(client, world, db, token):
    booking = world.make.booking(world.patient, world.hospital)
    signed_in(client, world.authority)
    form = {"reason": "x", "total": "50", "return_to": "queue"}
    if token is not None:
        form["csrf_token"] = token
    for path in STAFF_FORMS:
        response = client.post(path.format(booking=booking["id"]), data=form)
        assert response.status_code == 403, path
        assert "This form has expired" in text(response)
    assert db.execute("SELECT status FROM bookings WHERE id = ?",
                      (booking["id"],)).fetchone()["status"] == "pending"
    assert db.execute("SELECT total FROM hospital_resources WHERE hospital_id = ? AND "
                      "resource_type = 'beds'", (world.hospital["id"],)).fetchone()["total"] == 10
    assert client.get("/console/queue").status_code == 200  # still signed in


def test_every_admin_form_needs_the_session_token(client, world, db):
    pending = world.make.hospital(status="pending")
    signed_in(client, world.admin)
    form = {"reason": "x", "status": "suspended", "userId": str(world.patient["id"]),
            "amount": "5.00", "notes": "x", "idempotency_key": "k-1", "csrf_token": "forged"}
    for path in ADMIN_FORMS:
        response = client.post(path.format(hospital=pending["id"], user=world.patient["id"]),
                               data=form)
        assert response.status_code == 403, path
    assert db.execute("SELECT status FROM hospitals WHERE id = ?",
                      (pending["id"],)).fetchone()["status"] == "pending"
    assert db.execute("SELECT status FROM users WHERE id = ?",
                      (world.patient["id"],)).fetchone()["status"] == "active"


def test_another_sessions_token_does_not_work(client, world, app):
    signed_in(client, world.authority)
    other = app.test_client()
    signed_in(other, world.authority)
    response = client.post("/console/board/beds", data={
        "total": "50", "reason": "x", "csrf_token": session_token(other)})
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/console/sign-in", "/console/queue", "/console/board",
                                  "/console/nope", "/console/bookings/12345"])
def test_console_pages_carry_the_security_headers(client, world, path):
    signed_in(client, world.authority)
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unknown_console_address_is_an_html_404(client):
    response = client.get("/console/nope")
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")
    assert "404 Not Found" in text(response)


def test_the_api_keeps_its_json_errors_and_headers(client):
    response = client.get("/api/bookings/123")
    assert response.status_code == 401
    assert response.is_json
    assert "Content-Security-Policy" not in response.headers


def test_static_files_are_served_and_cacheable(client):
    for name, kind in (("console.css", "text/css"), ("console.js", "javascript")):
        response = client.get(f"/console/static/{name}")
        assert response.status_code == 200
        assert kind in response.content_type
        assert "no-store" not in response.headers.get("Cache-Control", "")
        assert "Content-Security-Policy" in response.headers


def test_pages_have_nothing_inline_that_the_policy_would_block(client, world):
    world.make.booking(world.patient, world.hospital)
    signed_in(client, world.authority)
    for path in ("/console/queue", "/console/board", "/console/bookings", "/console/occupancy",
                 "/console/notifications"):
        page = text(client.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert " style=" not in page and "<style" not in page, path
        assert not re.search(r"\son[a-z]+=", page), path  # no inline event handlers
        assert "http://" not in page and "https://" not in page, path  # nothing from elsewhere


def test_every_form_field_has_a_label(client, world):
    world.make.booking(world.patient, world.hospital)
    signed_in(client, world.authority)
    for path in ("/console/queue", "/console/board"):
        page = text(client.get(path))
        ids = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page)
        assert ids
        labels = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
        assert set(ids) <= labels, set(ids) - labels
