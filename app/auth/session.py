"""Who is calling: a bearer token or a flask-login cookie session, plus CSRF for cookies.

Each login creates one session record (its api_tokens row, app/auth/queries.py).
The bearer token is that row's secret; the cookie session holds only the row's id
(and a check value derived from the token's hash). Either one is honoured only
while the row is unrevoked and unexpired and its user active, so logout by either
means, a password change, a status change and expiry end both, and the cookie
lives exactly as long as the token (TOKEN_TTL_HOURS).

A request that carries ``Authorization: Bearer …`` is authenticated by that token
alone (a cookie sent alongside is ignored). Cookie-authenticated unsafe requests
must echo the session's CSRF token (returned by login as ``csrfToken``) in
``X-CSRF-Token``.
"""
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import request, session
from flask_login import login_user

from app.auth import api_keys, queries
from app.auth.passwords import dummy_hash
from app.auth.tokens import bearer_from_header, hash_token
from app.db import get_db, set_actor
from app.errors import Forbidden
from app.extensions.login import CookieSessionInterface, LoginManager
from app.timeutil import to_iso, utcnow

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "X-CSRF-Token"
# Views that never act as the logged-in user (they create or replace a session, or
# act only on the mailed token they carry), and the gateway's server-to-server
# callback, which carries no cookie.
CSRF_EXEMPT_ENDPOINTS = {"auth.Register", "auth.Login", "auth.VerifyEmail", "auth.ForgotPassword",
                         "auth.ResetPassword", "payments.SslcommerzIpn"}
# Blueprints whose HTML forms carry this same token in a form field, checked by the
# blueprint itself on every POST, signed-out forms included (app/console/csrf.py).
CSRF_FORM_BLUEPRINTS = {"console"}


login_manager = LoginManager()


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller, as services see it."""

    id: int
    name: str
    email: str
    role: str
    hospital_id: int | None
    session_id: int | None = None  # the login's session record (api_tokens row)
    cookie_check: str | None = None  # cookie sessions only: see cookie_check()
    # A hospital system's API key (app/auth/api_keys.py): no person (``id`` None),
    # acting as its hospital's staff on the few operations a key may call.
    api_key_id: int | None = None
    hospital_status: str | None = None

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self):
        """What flask-login keeps in the signed cookie: the login, not the user."""
        return f"{self.session_id}:{self.cookie_check}"


def cookie_check(token_hash):
    """Ties a cookie to its exact session record: record ids are not secret and SQLite
    may reuse the id of a deleted row, while the token hash never leaves the server."""
    return hashlib.sha256(f"cookie:{token_hash}".encode()).hexdigest()[:32]


def _from_row(row, **extra):
    return CurrentUser(
        id=row["id"], name=row["name"], email=row["email"], role=row["role"],
        hospital_id=row["hospital_id"], session_id=row["session_id"], **extra,
    )


def _signed_in(user):
    """The caller is known: from here on the request's database connection acts for
    them (PostgreSQL row-level security; until now it acted for nobody)."""
    set_actor(get_db(), user_id=user.id, role=user.role, hospital_id=user.hospital_id)
    return user


def _live_session(session_id):
    return queries.get_user_by_session_id(get_db(), session_id, to_iso(utcnow()))


@login_manager.user_loader
def load_session_user(cookie_value):
    if bearer_from_header(request.headers.get("Authorization")):
        return None  # the bearer token decides (request_loader below)
    session_id, _, check = cookie_value.partition(":")
    if not session_id.isdigit():
        return None
    row = _live_session(int(session_id))
    if row is None or not hmac.compare_digest(cookie_check(row["token_hash"]), check):
        return None
    return _signed_in(_from_row(row, cookie_check=check))


def _key_caller(key):
    return CurrentUser(id=None, name=f"API key {key['name']}", email="",
                       role="hospital-authority", hospital_id=key["hospital_id"],
                       api_key_id=key["id"], hospital_status=key["hospital_status"])


@login_manager.request_loader
def load_bearer_user(req):
    token = bearer_from_header(req.headers.get("Authorization"))
    if token is None or len(token) > 512:
        return None
    if api_keys.looks_like_api_key(token):
        key = api_keys.find_live_key(get_db(), token)
        if key is not None:
            return _signed_in(_key_caller(key))
        # not a live key: a login token may begin with "rc_" too (one in 2^18)
    row = queries.get_user_by_token(get_db(), hash_token(token), to_iso(utcnow()))
    if row is None:
        return None
    return _signed_in(_from_row(row))


def start_cookie_session(session_id):
    """Attach a cookie session to the login's session record; returns its CSRF token.

    The cookie is permanent, with the record's lifetime (init_app), so a browser
    drops it when the token expires; the server checks the record's expiry anyway."""
    row = _live_session(session_id)
    login_user(_from_row(row, cookie_check=cookie_check(row["token_hash"])))
    session.permanent = True
    session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def check_csrf():
    """before_request: cookie-authenticated unsafe requests must carry the CSRF token."""
    if request.method not in UNSAFE_METHODS or request.url_rule is None:
        return  # safe method, or no route at all (the 404/405 says more than a 403)
    if request.endpoint in CSRF_EXEMPT_ENDPOINTS or request.blueprint in CSRF_FORM_BLUEPRINTS:
        return
    if bearer_from_header(request.headers.get("Authorization")):
        return  # browsers never attach bearer tokens on their own: no CSRF exposure
    if "_user_id" not in session:
        return  # not cookie-authenticated; the view's own auth check answers
    expected = session.get("csrf_token") or ""
    sent = request.headers.get(CSRF_HEADER) or ""
    if not expected or not hmac.compare_digest(expected, sent):
        raise Forbidden(f"Missing or invalid {CSRF_HEADER} header for a cookie session.")


def init_app(app):
    # The cookie session lives as long as the login's token. Flask re-sends the cookie
    # (with a new expiry) only when the session's content changes, not on every request.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(app.config["TOKEN_TTL_HOURS"]))
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    # Made now rather than at the first login for an unknown email, which would
    # otherwise take twice as long as any other failed login.
    dummy_hash(app.config["BCRYPT_ROUNDS"])
    app.session_interface = CookieSessionInterface()
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.before_request(check_csrf)
    app.before_request(api_keys.check_api_key_request)  # a key's scope and rate limit
