"""Signing in and out, who may open which page, and CSRF on every form."""
import pytest

from tests.console.helpers import form_token, send, session_token, sign_in, signed_in, text


def test_staff_sign_in_lands_on_the_queue(client, world):
    response = sign_in(client, world.authority)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/queue")
    assert "Triage queue" in text(client.get("/console/queue"))


def test_admin_sign_in_lands_on_hospitals(client, world):
    response = sign_in(client, world.admin)
    assert response.headers["Location"].endswith("/console/admin/hospitals")


def test_a_patient_is_refused_with_a_clear_message_and_no_session(client, world, db):
    response = sign_in(client, world.patient)
    assert response.status_code == 403
    assert "Patient accounts cannot sign in here" in text(response)
    assert client.get("/console/queue").status_code == 302  # still signed out
    # no login was created for the patient, and the right password is not a failed guess
    rows = db.execute("SELECT count(*) AS n FROM api_tokens WHERE user_id = ?",
                      (world.patient["id"],)).fetchone()
    assert rows["n"] == 1  # only the factory's bearer token of the world fixture
    attempt = db.execute("SELECT succeeded FROM login_attempts WHERE email = ?",
                         (world.patient["email"],)).fetchone()
    assert attempt["succeeded"] == 1


def test_a_wrong_password_is_refused(client, world):
    response = sign_in(client, world.authority, password="not-the-password")
    assert response.status_code == 401
    assert "Invalid email or password." in text(response)
    assert client.get("/console/queue").status_code == 302


@pytest.mark.parametrize("email", ["", "not-an-email", "x" * 300 + "@example.test"])
def test_a_malformed_email_is_a_422_page(client, email):
    page = client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={
        "csrf_token": form_token(page), "email": email, "password": "whatever"})
    assert response.status_code == 422
    assert "email" in text(response).lower()


def test_sign_in_without_the_form_token_is_refused(client, world):
    client.get("/console/sign-in")
    response = client.post("/console/sign-in", data={
        "email": world.authority["email"], "password": "correct-horse-1"})
    assert response.status_code == 403
    assert "This form has expired" in text(response)
    assert client.get("/console/queue").status_code == 302


def test_signing_in_replaces_the_signed_out_token(client, world):
    before = form_token(client.get("/console/sign-in"))
    signed_in(client, world.authority)
    assert session_token(client) != before


def test_sign_out_ends_the_login(client, world, db):
    signed_in(client, world.authority)
    response = send(client, "/console/sign-out")
    assert response.status_code == 302
    assert client.get("/console/queue").status_code == 302
    revoked = db.execute(
        "SELECT revoked_at FROM api_tokens WHERE user_id = ? ORDER BY id DESC LIMIT 1",
        (world.authority["id"],)).fetchone()
    assert revoked["revoked_at"] is not None


STAFF_PAGES = ["/console/queue", "/console/board", "/console/bookings", "/console/notifications",
               "/console/occupancy"]
ADMIN_PAGES = ["/console/admin/hospitals", "/console/admin/users",
               "/console/admin/reconciliation", "/console/admin/wallets", "/console/admin/health"]


@pytest.mark.parametrize("path", STAFF_PAGES + ADMIN_PAGES)
def test_signed_out_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/sign-in")


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_staff_pages_open_for_staff_only(client, world, path):
    assert signed_in(client, world.authority).get(path).status_code == 200
    admin_client = client.application.test_client()
    signed_in(admin_client, world.admin)
    response = admin_client.get(path)
    assert response.status_code == 403
    assert "This page is for hospital staff." in text(response)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_open_for_admins_only(client, world, path):
    assert signed_in(client, world.admin).get(path).status_code == 200
    staff_client = client.application.test_client()
    signed_in(staff_client, world.authority)
    assert staff_client.get(path).status_code == 403


def test_a_patient_with_an_api_cookie_session_gets_no_console_page(client, world):
    login = client.post("/api/auth/login", json={"email": world.patient["email"],
                                                 "password": "correct-horse-1"})
    assert login.status_code == 200
    home = client.get("/console/")
    assert home.status_code == 403
    assert "Patient accounts cannot sign in here" in text(home)
    assert client.get("/console/queue").status_code == 403


def test_api_cookie_requests_still_need_the_csrf_header(client, world):
    # The console checks its own form token; the API's header check is unchanged.
    login = client.post("/api/auth/login", json={"email": world.authority["email"],
                                                 "password": "correct-horse-1"})
    assert login.status_code == 200
    response = client.put("/api/auth/profile", json={"name": "New name"})
    assert response.status_code == 403
    response = client.put("/api/auth/profile", json={"name": "New name"},
                          headers={"X-CSRF-Token": login.get_json()["csrfToken"]})
    assert response.status_code == 200


def test_a_patient_with_a_wrong_password_learns_nothing_about_the_role(client, world):
    response = sign_in(client, world.patient, password="not-the-password")
    assert response.status_code == 401
    assert "Invalid email or password." in text(response)
    assert "Patient" not in text(response)
