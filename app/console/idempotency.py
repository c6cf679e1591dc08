"""A wallet adjustment runs once per form, with the API's idempotency machinery.

The adjustment form carries a key made when the page was rendered (the API's
``Idempotency-Key``, in a hidden field): a double click, a resent form or the back
button replays the first outcome instead of moving money twice. Claims, effects
and stored outcomes are app/payments/idempotency.py's, under this console
endpoint's own name; the stored outcome is the console's summary, not an API body.
"""
import json
import uuid

from flask import current_app

from app.errors import BadRequest, DomainError, error_body
from app.payments import idempotency

ENDPOINT = "console.wallet_adjust"
FIELD = "idempotency_key"


def new_key():
    return str(uuid.uuid4())


def form_key(form):
    """:raise 400: the form has no well-formed key (it did not come from our page)."""
    key = form.get(FIELD) or ""
    if not idempotency.KEY_PATTERN.match(key):
        raise BadRequest("The form has no valid idempotency key; reload the page.")
    return key


def run_once(conn, *, user_id, key, request_body, action, now):
    """(status, summary, replayed): ``action(claim_id)`` returns the summary (a dict of
    strings) of a success; a refusal (a DomainError below 500, or a 502) is an outcome
    too, stored as the API stores it. A request with the same key and body gets the
    stored outcome back, replayed; with another body, a 409.

    :raise 409: the key was used for other values, or its first request still runs.
    """
    config = current_app.config
    outcome, claimed = idempotency.claim(
        conn, user_id=user_id, endpoint=ENDPOINT, key=key,
        request_fingerprint=idempotency.fingerprint(request_body, {}), now=now,
        ttl_hours=float(config["IDEMPOTENCY_KEY_TTL_HOURS"]),
        claim_timeout_seconds=float(config["IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS"]),
    )
    if outcome == "replay":
        return claimed["response_status"], json.loads(claimed["response_body"]), True
    try:
        status, body = 200, action(claimed)
    except DomainError as error:
        if error.code >= 500 and error.code != 502:
            idempotency.release(conn, claimed)  # nothing happened: the key may be retried
            raise
        status, body = error.code, error_body(error.code, error.message, error.errors)
    except BaseException:
        idempotency.release(conn, claimed)
        raise
    try:
        idempotency.store(conn, claimed, status, body)
    except BaseException:
        idempotency.release(conn, claimed)  # the effect, if any, stays linked to the claim
        raise
    return status, body, False
