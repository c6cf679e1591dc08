"""Account rules: registration, login with throttling, sessions, profile, passwords."""
from datetime import timedelta
from typing import NamedTuple

from app.auth import account_tokens, queries
from app.auth.passwords import check_password, dummy_hash, hash_password
from app.auth.tokens import new_token
from app.db import transaction
from app.errors import Conflict, Forbidden, TooManyRequests, Unauthorized, Unprocessable
from app.mail import notices
from app.timeutil import from_iso, to_iso

SELF_SERVICE_ROLES = ("user", "hospital-authority")
INVALID_LOGIN = "Invalid email or password."


class Login(NamedTuple):
    user: dict
    token: str  # the bearer token, shown to the client once
    session_id: int  # the login's session record, which the cookie session points at
    expires_at: object  # datetime


def register(conn, *, name, email, password, phone, role, now, config):
    """A new account, and the mail with its verification link (same transaction)."""
    if role not in SELF_SERVICE_ROLES:
        raise Unprocessable(errors={"role": ["Must be one of: user, hospital-authority."]})
    password_hash = hash_password(password, config["BCRYPT_ROUNDS"])  # slow: outside the write lock
    with transaction(conn):
        if queries.get_user_by_email(conn, email):
            raise Conflict("An account with this email already exists.")
        user_id = queries.insert_user(
            conn, name=name, email=email, password_hash=password_hash,
            phone=phone, role=role, now=to_iso(now),
        )
        user = queries.get_user(conn, user_id)
        account_tokens.issue_verification(conn, user, now=now, config=config)
    return user


def create_admin(conn, *, name, email, password, bcrypt_rounds, now):
    """Only the CLI calls this: admins are never created over HTTP."""
    password_hash = hash_password(password, bcrypt_rounds)
    with transaction(conn):
        if queries.get_user_by_email(conn, email):
            raise Conflict(f"An account with email {email} already exists.")
        user_id = queries.insert_user(
            conn, name=name, email=email, password_hash=password_hash,
            phone=None, role="admin", now=to_iso(now),
        )
    return queries.get_user(conn, user_id)


def _throttle_check(conn, email, ip_address, now, max_failures, window_seconds):
    since = to_iso(now - timedelta(seconds=window_seconds))
    checks = [(queries.recent_failures_for_email(conn, email, since), max_failures)]
    if ip_address:
        checks.append((queries.recent_failures_for_ip(conn, ip_address, since), 4 * max_failures))
    for row, limit in checks:
        if row["failures"] >= limit:
            unblocked_at = from_iso(row["oldest"]) + timedelta(seconds=window_seconds)
            raise TooManyRequests(
                "Too many failed logins; try again later.",
                retry_after=(unblocked_at - now).total_seconds(),
            )


def _claim_login_attempt(conn, email, ip_address, now, config):
    """Count the recent failures and record this attempt as one, in one write
    transaction: concurrent logins (other gunicorn workers included) queue on it,
    so no more than the limit ever get as far as a password check. The attempt
    becomes a success only once the password is right. :raise 429:"""
    with transaction(conn):
        _throttle_check(
            conn, email, ip_address, now,
            int(config["LOGIN_MAX_FAILURES"]), int(config["LOGIN_FAILURE_WINDOW_SECONDS"]),
        )
        return queries.insert_failed_login_attempt(
            conn, email=email, ip_address=ip_address, now=to_iso(now)
        )


def login(conn, *, email, password, ip_address, now, config, roles=None):
    """Check credentials and create the login's session record (the bearer token's
    row, which the cookie session points at too). Returns a Login.

    Unknown email, wrong password and an inactive account all answer the same 401,
    so the endpoint cannot be used to find out which emails have accounts.
    ``roles``: the roles this sign-in is for (the staff console's); any other
    account gets a 403 once its password is right, and no session.

    :raise 401: wrong credentials or an inactive account.
    :raise 403: right credentials, a role not in ``roles``.
    :raise 429: too many failed attempts.
    """
    attempt_id = _claim_login_attempt(conn, email, ip_address, now, config)
    user = queries.get_user_by_email(conn, email)
    password_hash = user["password_hash"] if user else dummy_hash(config["BCRYPT_ROUNDS"])
    password_ok = check_password(password, password_hash)
    if not (user and password_ok and user["status"] == "active"):
        raise Unauthorized(INVALID_LOGIN)  # the attempt stays recorded as a failure
    if roles is not None and user["role"] not in roles:
        # The password was right: not a guess, so it does not count towards throttling.
        with transaction(conn):
            queries.mark_login_succeeded(conn, attempt_id)
        raise Forbidden(f"A {user['role']} account cannot sign in here.")
    token, token_hash = new_token()
    expires_at = now + timedelta(hours=int(config["TOKEN_TTL_HOURS"]))
    with transaction(conn):
        queries.mark_login_succeeded(conn, attempt_id)
        session_id = queries.insert_token(
            conn, user_id=user["id"], token_hash=token_hash,
            now=to_iso(now), expires_at=to_iso(expires_at),
        )
        queries.touch_last_login(conn, user["id"], to_iso(now))
    return Login(queries.get_user(conn, user["id"]), token, session_id, expires_at)


def logout(conn, *, session_id, now):
    """End one login: its bearer token and its cookie session alike."""
    with transaction(conn):
        queries.revoke_token(conn, session_id, to_iso(now))


def end_sessions(conn, user_id, now, *, keep_session_id=None):
    """End every login of the user (bearer tokens and cookie sessions), but the one
    kept. The one way to do it: a password change, leaving status active and a future
    password reset call it inside the transaction that makes the change."""
    queries.revoke_user_tokens(conn, user_id, to_iso(now), except_session_id=keep_session_id)


def update_profile(conn, user_id, changes, now):
    with transaction(conn):
        current = queries.get_user(conn, user_id)
        queries.update_profile(
            conn, user_id,
            name=changes.get("name", current["name"]),
            phone=changes.get("phone", current["phone"]),
            email_notifications=changes.get("email_notifications", current["email_notifications"]),
            now=to_iso(now),
        )
    return queries.get_user(conn, user_id)


def change_password(conn, *, user_id, current_password, new_password, keep_session_id,
                    bcrypt_rounds, now, tz_name):
    """Set a new password, end every other login of the user and mail them a notice."""
    user = queries.get_user_with_hash(conn, user_id)
    if not check_password(current_password, user["password_hash"]):
        raise Unprocessable(errors={"currentPassword": ["Incorrect password."]})
    new_hash = hash_password(new_password, bcrypt_rounds)
    with transaction(conn):
        queries.update_password_hash(conn, user_id, new_hash, to_iso(now))
        end_sessions(conn, user_id, now, keep_session_id=keep_session_id)
        notices.password_changed(conn, user_id, now=now, tz_name=tz_name, by_reset=False)
