"""Machine access for hospital systems: API keys (issue #16 item 10).

A key is ``rc_`` + 43 URL-safe characters (32 random bytes, 256 bits), sent as
``Authorization: Bearer rc_…`` like a login token. Its first characters (``prefix``)
are stored in clear to tell keys apart in lists; the key itself only as its SHA-256.

Why a plain SHA-256 and not bcrypt (as for passwords): a password is short and
guessable, so its hash must be slow to make guessing expensive. A key is 256
random bits: no guess will ever find it, however fast the hash, so slowness buys
nothing and would cost CPU on every machine request. A deterministic hash also lets
the key be found by one indexed lookup (UNIQUE key_hash), where a salted bcrypt
hash would have to be tried against every key in turn.

A key acts as its hospital's staff, on a narrow set of operations only
(``ALLOWED``): setting and reading its resource counts, reading its pending queue
and booking list. Any other endpoint answers 403, another hospital's 404 (as for
staff). A revoked key is refused at once (401 on every endpoint, public ones
included: it is looked up on every request);
a key of a suspended hospital is refused (403). Requests are counted per key
against API_KEY_RATE_LIMIT ("N/S", a fixed window per key; 429 with Retry-After).
"""
import hashlib
import re
import secrets
from datetime import timedelta

from flask import current_app, request
from flask_login import current_user

from app.auth.tokens import bearer_from_header
from app.config import parse_rate_limit
from app.db import get_db, retry, transaction
from app.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from app.hospitals import queries
from app.timeutil import from_iso, to_iso, utcnow

KEY_PREFIX = "rc_"
KEY_PATTERN = re.compile(r"^rc_[A-Za-z0-9_-]{43}$")
VISIBLE_CHARS = 11  # "rc_" and 8 characters of the secret: 48 bits, enough to tell keys apart

# (endpoint, method) a key may call. Everything else is 403 for a key.
ALLOWED = {
    ("resources.Resources", "GET"),  # its hospital's live counts
    ("resources.Resource", "PUT"),  # set its hospital's counts (audited with the key as actor)
    ("bookings.PendingQueue", "GET"),  # the triage queue
    ("bookings.HospitalHistory", "GET"),  # the hospital's booking list
}


def new_api_key():
    """(key for the client, its visible prefix, its hash for the database)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:VISIBLE_CHARS], hash_api_key(key)


def hash_api_key(key):
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(token):
    return token.startswith(KEY_PREFIX)


def find_live_key(conn, token):
    """The unrevoked key ``token`` is (with its hospital's status), or None: unknown,
    revoked or malformed."""
    if not KEY_PATTERN.match(token):
        return None
    return queries.get_live_api_key_by_hash(conn, hash_api_key(token))


def _count_use(conn, key_id, now, config):
    """:raise 429: past API_KEY_RATE_LIMIT in the key's current window."""
    limit = parse_rate_limit(config["API_KEY_RATE_LIMIT"], "API_KEY_RATE_LIMIT")
    seconds = limit[1] if limit else 1

    def count():
        with transaction(conn):
            return queries.count_api_key_use(
                conn, key_id, now=to_iso(now), window_floor=to_iso(now - timedelta(seconds=seconds)))

    row = retry.run_before_the_view(conn, count, config, what="API key count")
    if row is None:
        return  # revoked this instant: the next request is refused (401)
    if limit is not None and row["window_count"] > limit[0]:
        ends = from_iso(row["window_started_at"]) + timedelta(seconds=seconds)
        raise TooManyRequests(
            f"This API key made more than {limit[0]} requests in {seconds} s; retry later.",
            retry_after=(ends - now).total_seconds())


def check_api_key_request():
    """before_request: a key-authenticated request is refused unless its hospital is
    not suspended, it is within the key's rate limit, and it calls an allowed endpoint
    of its own hospital. A bearer ``rc_…`` that is no live key is 401 everywhere."""
    req = request._get_current_object()
    if req.url_rule is None:
        return  # no route: the 404/405 answers
    token = bearer_from_header(req.headers.get("Authorization"))
    if token is None or not looks_like_api_key(token):
        return  # not a key: every other request is left exactly as it was
    caller = current_user._get_current_object()
    if not caller.is_authenticated:
        # Even on a public endpoint: a system whose key was revoked learns it at once.
        raise Unauthorized("Unknown or revoked API key.")
    if caller.api_key_id is None:
        return  # a login token that happens to begin with "rc_"
    if caller.hospital_status == "suspended":
        raise Forbidden("This hospital is suspended: its API keys are refused.")
    _count_use(get_db(), caller.api_key_id, utcnow(), current_app.config)
    if (req.endpoint, req.method) not in ALLOWED:
        raise Forbidden("An API key may only set and read its hospital's resource counts and "
                        "read its booking queue.")
    hospital_id = (req.view_args or {}).get("hospital_id")
    if hospital_id is not None and hospital_id != caller.hospital_id:
        raise NotFound("Hospital not found.")
