"""Signing in to the console through the Flask test client, and sending its forms."""
import re

from tests.factories import PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(page):
    """The CSRF token a rendered page put in its forms."""
    return CSRF_FIELD.search(page.get_data(as_text=True)).group(1)


def sign_in(client, user, password=PASSWORD):
    """The sign-in form filled and sent, as a browser would: the response."""
    page = client.get("/console/sign-in")
    return client.post("/console/sign-in", data={
        "csrf_token": form_token(page), "email": user["email"], "password": password,
    })


def session_token(client):
    """The signed-in session's CSRF token (what every page's forms carry)."""
    with client.session_transaction() as session:
        return session["csrf_token"]


def signed_in(client, user):
    response = sign_in(client, user)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def send(client, path, data=None, *, follow=False):
    """POST a console form with the session's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": session_token(client)},
                       follow_redirects=follow)


def text(response):
    return response.get_data(as_text=True)
