"""flask-login and Flask session tweaks for bearer-token requests (no session cookie).

A bearer-token API call carries no session cookie, yet Flask and flask-login both
do work that only a cookie session needs, then discard it. Profiling the read
endpoints put the two together at ~4-5 % of a small request (commit 50d0a68,
benchmarks/RESULTS.md §5). With a session cookie, both behave exactly as stock.
"""
import flask_login
from flask import session
from flask.sessions import SecureCookieSessionInterface


class LoginManager(flask_login.LoginManager):
    """flask-login's LoginManager, minus the session-protection hash for an empty session."""

    def _session_protection_failed(self):
        # flask-login hashes the client's address and user agent on every request and
        # then ignores the hash when the session is empty (every bearer-token call);
        # skip the hashing in exactly that case.
        if not session:
            return False
        return super()._session_protection_failed()


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, minus building the itsdangerous signer for a
    request that carries no session cookie (every bearer-token API call). Flask
    builds it first and only then looks for the cookie; profiling the read
    endpoints put that at ~5 % of a small request. With a cookie, nothing changes."""

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)
