"""CSRF protection of every console form, signed-out ones (sign-in) included.

The token is the login's own (app/auth/session.py stores it in the signed session
cookie at login and the API checks it in X-CSRF-Token); the console sends it in a
hidden form field instead, and checks it here on every POST. A visitor who is not
signed in gets a token of their own for the sign-in form; signing in replaces it.
"""
import hmac
import secrets

from flask import request, session

from app.console import bp
from app.errors import Forbidden

FIELD = "csrf_token"
SESSION_KEY = "csrf_token"  # where app/auth/session.py keeps the login's token
REFUSED = "This form has expired or did not come from the console. Reload the page and try again."


def form_token():
    """The token for a form on this page (templates call it as ``csrf_token()``)."""
    if SESSION_KEY not in session:
        session[SESSION_KEY] = secrets.token_urlsafe(32)
    return session[SESSION_KEY]


@bp.before_request
def check_form_token():
    if request.method != "POST":
        return
    expected = session.get(SESSION_KEY) or ""
    sent = request.form.get(FIELD) or ""
    if not expected or not hmac.compare_digest(expected, sent):
        raise Forbidden(REFUSED)


@bp.app_context_processor
def _template_helpers():
    return {"csrf_token": form_token}
