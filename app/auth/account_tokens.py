"""Email verification and password reset: tokens mailed to the account's address.

A token is random, mailed once and stored only as its sha256 hash (like the
bearer tokens), expires (EMAIL_VERIFICATION_TTL_HOURS, PASSWORD_RESET_TTL_MINUTES)
and is spent by one guarded UPDATE (``used_at IS NULL AND expires_at > now``), so
two requests with the same token, on any workers, cannot both use it. Unknown,
used and expired tokens get one and the same 400: the answer says nothing about
which, nor whether the token ever existed.

Forgot-password answers 202 with one body whether or not the address has an
account, and does the same work either way but for two small inserts (no bcrypt
on either path), so neither the answer nor its time tells them apart. Requests
that mail a token are rate limited per address (whether or not it has an account)
and per IP, counted inside the same write transaction (ACCOUNT_MAIL_RATE_LIMIT).
"""
from datetime import timedelta

# service imports this module too (registration mails a verification link); the
# module, not its names, so whichever is imported first works.
from app.auth import queries, service
from app.auth.passwords import hash_password
from app.auth.tokens import hash_token, new_token
from app.config import parse_rate_limit
from app.db import transaction
from app.errors import BadRequest, Conflict, Forbidden, TooManyRequests
from app.mail import notices, templates
from app.mail.outbox import enqueue
from app.timeutil import from_iso, to_iso

INVALID_TOKEN = "This link is invalid or has expired. Ask for a new one."
FORGOT_PASSWORD_ANSWER = ("If an account uses this address, a link to reset its password "
                          "is on its way. It works once and expires soon.")
# Per IP, this many times the per-address limit (one office or one NAT has many users).
IP_FACTOR = 4


def _link(config, path, token):
    return f"{str(config['PUBLIC_BASE_URL']).rstrip('/')}/{path}?token={token}"


def _issue(conn, user_id, purpose, now, ttl):
    token, token_hash = new_token()
    queries.insert_account_token(conn, user_id=user_id, purpose=purpose, token_hash=token_hash,
                                 now=to_iso(now), expires_at=to_iso(now + ttl))
    return token


def issue_verification(conn, user, *, now, config):
    """Inside the caller's transaction: a verification token and its mail."""
    ttl_hours = int(config["EMAIL_VERIFICATION_TTL_HOURS"])
    token = _issue(conn, user["id"], "verify_email", now, timedelta(hours=ttl_hours))
    enqueue(conn, user=user, now=now, essential=True, mail=templates.verification(
        name=user["name"], link=_link(config, "verify-email", token), token=token,
        ttl_hours=ttl_hours))


def _count_mail_request(conn, purpose, email, ip_address, now, config):
    """Refuse past ACCOUNT_MAIL_RATE_LIMIT (per address; IP_FACTOR times that per IP),
    else record this request. Inside the caller's write transaction. :raise 429:"""
    limit = parse_rate_limit(config["ACCOUNT_MAIL_RATE_LIMIT"], "ACCOUNT_MAIL_RATE_LIMIT")
    if limit is not None:
        count, seconds = limit
        since = to_iso(now - timedelta(seconds=seconds))
        checks = [(queries.account_mail_requests_for_email(conn, email, since), count)]
        if ip_address:
            checks.append((queries.account_mail_requests_for_ip(conn, ip_address, since),
                           IP_FACTOR * count))
        for row, allowed in checks:
            if row["n"] >= allowed:
                unblocked_at = from_iso(row["oldest"]) + timedelta(seconds=seconds)
                raise TooManyRequests("Too many requests for this address; try again later.",
                                      retry_after=(unblocked_at - now).total_seconds())
    queries.insert_account_mail_request(conn, purpose=purpose, email=email,
                                        ip_address=ip_address, now=to_iso(now))


def request_password_reset(conn, *, email, ip_address, now, config):
    """Mail a reset link if ``email`` belongs to an active account; the caller's
    answer is the same either way. :raise 429: past the rate limit."""
    with transaction(conn):
        _count_mail_request(conn, "reset_password", email, ip_address, now, config)
        user = queries.get_user_by_email(conn, email)
        if user is None or user["status"] != "active":
            return
        ttl_minutes = int(config["PASSWORD_RESET_TTL_MINUTES"])
        token = _issue(conn, user["id"], "reset_password", now, timedelta(minutes=ttl_minutes))
        enqueue(conn, user=user, now=now, essential=True, mail=templates.password_reset(
            name=user["name"], link=_link(config, "reset-password", token), token=token,
            ttl_minutes=ttl_minutes))


def reset_password(conn, *, token, new_password, now, config):
    """Spend a reset token: new password, every login of the user ended (bearer tokens
    and cookie sessions), every other reset link retired, a notice mailed.
    :raise 400: unknown, used or expired token (one body)."""
    new_hash = hash_password(new_password, config["BCRYPT_ROUNDS"])  # slow: outside the lock
    with transaction(conn):
        spent = queries.use_account_token(conn, token_hash=hash_token(token),
                                          purpose="reset_password", now=to_iso(now))
        if spent is None:
            raise BadRequest(INVALID_TOKEN)
        user_id = spent["user_id"]
        queries.update_password_hash(conn, user_id, new_hash, to_iso(now))
        queries.retire_account_tokens(conn, user_id=user_id, purpose="reset_password",
                                      now=to_iso(now))
        # The link reached the account's mailbox: that proves the address too.
        queries.mark_email_verified(conn, user_id, to_iso(now))
        service.end_sessions(conn, user_id, now)
        notices.password_changed(conn, user_id, now=now, tz_name=config["TIMEZONE"],
                                 by_reset=True)


def verify_email(conn, *, token, now):
    """Spend a verification token: the account's address is verified.
    :raise 400: unknown, used or expired token (one body)."""
    with transaction(conn):
        spent = queries.use_account_token(conn, token_hash=hash_token(token),
                                          purpose="verify_email", now=to_iso(now))
        if spent is None:
            raise BadRequest(INVALID_TOKEN)
        queries.retire_account_tokens(conn, user_id=spent["user_id"], purpose="verify_email",
                                      now=to_iso(now))
        queries.mark_email_verified(conn, spent["user_id"], to_iso(now))


def resend_verification(conn, *, user_id, ip_address, now, config):
    """A new verification mail for the caller. :raise 409: already verified. :raise 429:"""
    with transaction(conn):
        user = queries.get_user(conn, user_id)
        if user["email_verified"]:
            raise Conflict("Your email address is already verified.")
        _count_mail_request(conn, "verify_email", user["email"], ip_address, now, config)
        issue_verification(conn, user, now=now, config=config)


def require_verified_email(conn, user_id, config, action):
    """REQUIRE_VERIFIED_EMAIL: :raise 403: saying why, for an unverified address."""
    if config["REQUIRE_VERIFIED_EMAIL"] and not queries.get_user(conn, user_id)["email_verified"]:
        raise Forbidden(f"Verify your email address before {action}: open the link we mailed "
                        "you, or ask for a new one (POST /api/auth/verify-email/resend).")
