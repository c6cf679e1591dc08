"""Idempotency-Key for unsafe money calls (process, top-up, refund, admin adjustment).

Contract (also in the README and in each operation's OpenAPI description):

- The header is required on these endpoints: 1-255 visible ASCII characters.
  Missing or malformed -> 400.
- A key is scoped to (user, endpoint) and remembered for IDEMPOTENCY_KEY_TTL_HOURS
  together with a fingerprint: sha256 of the canonical JSON (sorted keys, no
  whitespace) of the request body and the path arguments.
- The first request that claims a key runs; its response (2xx, 4xx refusals
  such as 402/409, and 502 gateway failures) is stored, and every later request
  with the same key and the same body gets exactly that status and body back
  (header ``Idempotent-Replayed: true``) without running again. A refusal is an
  outcome: after fixing its cause (e.g. topping up after a 402), use a new key.
- The same key with a different body or path -> 409.
- While the first request is still running, the same key -> 409 "in progress"
  with ``Retry-After: 1``; retry and you get the stored response. The claim is
  one INSERT in its own BEGIN IMMEDIATE transaction, so of N concurrent requests
  exactly one runs.
- The effect and its claim commit together: the service looks for an effect
  on the claim (``recorded_effect``) first thing inside the transaction that
  would commit the effect, and writes the new effect's id there
  (``record_effect``) inside that same transaction. Whoever runs under a claim
  whose effect already committed answers from it instead of running again: the
  payment, the ledger entry, the refund (a gateway refund still 'pending' is
  sent again under its own reference, which the gateway treats as the same
  refund); a gateway session whose page was lost with its worker answers 502.
- A request that crashed (500) or answered 503 (database busy, gateway not
  configured) before its effect committed had no effect: its claim is
  released and the key may be retried. One that failed after its effect
  committed keeps its claim, marked released: the next request with the key
  takes it over at once and answers from the effect. A claim left by a killed
  worker (no answer after IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS) is taken over the
  same way: the request taking it over answers from the effect if the dead one
  committed it, and runs if it did not.
- Body validation (422) happens before the claim, so a rejected body does not
  use the key up.

Decorator order on a MethodView method (the one exception to the house order,
because it must see the serialized HTTP response):

    @blp.arguments(Schema)
    @idempotent
    @blp.response(200, ResultSchema)
    @blp.alt_response(...)
    @login_required
"""
import hashlib
import json
import logging
import re
from datetime import timedelta

from flask import current_app, g, jsonify, request
from flask_login import current_user

from app.config import DEFAULTS
from app.db import DatabaseError, get_db, retry, transaction
from app.errors import BadRequest, Conflict, DomainError, error_body
from app.extensions.api import with_doc
from app.timeutil import from_iso, to_iso, utcnow

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# A claim with no response after this long belongs to a request that died
# (a killed worker); gateway calls time out well within it. The service reads
# IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS; this is the default for direct callers.
CLAIM_TIMEOUT_SECONDS = DEFAULTS["IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS"]
EFFECT_KINDS = ("transaction", "refund", "ledger_entry")

HEADER_DOC = {
    "in": "header",
    "name": HEADER,
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": (
        "Unique per intended operation (e.g. a UUID). Same key + same body replays the first "
        "response with no second effect; same key + different body is 409; a key still in "
        "progress is 409 with Retry-After. Missing or malformed: 400. Remembered for "
        "IDEMPOTENCY_KEY_TTL_HOURS."
    ),
}


def fingerprint(body, path_args):
    canonical = json.dumps(
        {"body": body, "path": path_args}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_key(headers):
    key = headers.get(HEADER)
    if key is None:
        raise BadRequest(f"The {HEADER} header is required.",
                         errors={"headers": {HEADER: ["Missing data for required header."]}})
    if not KEY_PATTERN.match(key):
        raise BadRequest(f"Malformed {HEADER} header.", errors={"headers": {HEADER: [
            f"1-{MAX_KEY_LENGTH} visible ASCII characters."]}})
    return key


# -- SQL ------------------------------------------------------------------------


def _get(conn, user_id, endpoint, key):
    return conn.execute(
        """
        SELECT * FROM idempotency_keys
        WHERE user_id = ? AND endpoint = ? AND idempotency_key = ?
        """,
        (user_id, endpoint, key),
    ).fetchone()


def _delete(conn, row_id):
    conn.execute("DELETE FROM idempotency_keys WHERE id = ?", (row_id,))


def _insert(conn, *, user_id, endpoint, key, request_fingerprint, now, expires_at):
    return conn.execute(
        """
        INSERT INTO idempotency_keys (user_id, endpoint, idempotency_key, request_fingerprint,
                                      created_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?)
        RETURNING id
        """,
        (user_id, endpoint, key, request_fingerprint, now, expires_at),
    ).fetchone()["id"]


def _take_over(conn, row_id, now):
    conn.execute("UPDATE idempotency_keys SET created_at = ?, released = FALSE WHERE id = ?",
                 (now, row_id))


def _delete_unless_effect(conn, row_id):
    return conn.execute(
        "DELETE FROM idempotency_keys WHERE id = ? AND effect_id IS NULL", (row_id,)
    ).rowcount


def _mark_released(conn, row_id):
    conn.execute(
        "UPDATE idempotency_keys SET released = TRUE WHERE id = ? AND response_status IS NULL",
        (row_id,),
    )


def _get_effect(conn, row_id):
    return conn.execute(
        "SELECT effect_kind, effect_id FROM idempotency_keys WHERE id = ?", (row_id,)
    ).fetchone()


def _set_effect(conn, row_id, kind, effect_id):
    return conn.execute(
        """
        UPDATE idempotency_keys SET effect_kind = ?, effect_id = ?
        WHERE id = ? AND effect_id IS NULL
        """,
        (kind, effect_id, row_id),
    ).rowcount


def _store(conn, row_id, status, body):
    conn.execute(
        """
        UPDATE idempotency_keys SET response_status = ?, response_body = ?
        WHERE id = ? AND response_status IS NULL
        """,
        (status, json.dumps(body), row_id),
    )


def delete_expired(conn, now):
    return conn.execute(
        "DELETE FROM idempotency_keys WHERE expires_at <= ?", (to_iso(now),)
    ).rowcount


# -- the claim ----------------------------------------------------------------------


def claim(conn, *, user_id, endpoint, key, request_fingerprint, now, ttl_hours,
          claim_timeout_seconds=CLAIM_TIMEOUT_SECONDS):
    """Returns ("run", row_id) for the request that must run, or ("replay", row).

    "run" on a claim taken over (timed out, or released after its effect
    committed) means: run, and answer from the recorded effect if there is one.
    """
    with transaction(conn):
        row = _get(conn, user_id, endpoint, key)
        if row is not None and from_iso(row["expires_at"]) <= now:
            _delete(conn, row["id"])
            row = None
        if row is None:
            row_id = _insert(
                conn, user_id=user_id, endpoint=endpoint, key=key,
                request_fingerprint=request_fingerprint, now=to_iso(now),
                expires_at=to_iso(now + timedelta(hours=ttl_hours)),
            )
            return "run", row_id
        if row["request_fingerprint"] != request_fingerprint:
            raise Conflict(f"This {HEADER} was already used with a different request.")
        if row["response_status"] is not None:
            return "replay", row
        timed_out = from_iso(row["created_at"]) <= now - timedelta(seconds=claim_timeout_seconds)
        if row["released"] or timed_out:
            _take_over(conn, row["id"], to_iso(now))
            return "run", row["id"]
        raise Conflict(
            f"A request with this {HEADER} is still in progress; retry shortly.",
            headers={"Retry-After": "1"},
        )


def store(conn, row_id, status, body):
    with transaction(conn):
        _store(conn, row_id, status, body)


def release(conn, row_id):
    """The request failed. With no effect committed the key is free again; with one,
    the claim stays (so the effect is never run twice) and is handed to the next
    request with the key at once."""
    try:
        with transaction(conn):
            if not _delete_unless_effect(conn, row_id):
                _mark_released(conn, row_id)
    except DatabaseError:
        # The claim is then taken over after the claim timeout; the original error matters more.
        log.warning("could not release idempotency claim %s", row_id, exc_info=True)


# -- the effect, linked to its claim inside the effect's own transaction -----------------


def current_claim():
    """The claim id of the idempotent request being served, None outside one.

    Routes pass it to the service, which calls ``recorded_effect`` and
    ``record_effect`` with it inside the transaction that commits the effect.
    """
    return g.get("idempotency_claim")


def _require_open_transaction(conn):
    if not conn.in_transaction:
        raise RuntimeError("an idempotent effect is looked up and recorded inside its transaction")


def recorded_effect(conn, claim_id, kind):
    """The id of the ``kind`` effect an earlier run under this claim committed, or None.

    Call it first inside the effect's transaction: under the write lock, a run
    that finds nothing is the only one that can commit the effect.
    """
    if claim_id is None:
        return None
    _require_open_transaction(conn)
    row = _get_effect(conn, claim_id)
    if row is None or row["effect_id"] is None:
        return None
    if row["effect_kind"] != kind:
        raise RuntimeError(f"claim {claim_id} holds a {row['effect_kind']}, not a {kind}")
    return row["effect_id"]


def record_effect(conn, claim_id, kind, effect_id):
    """Link the effect to its claim, in the transaction that commits the effect.

    :raise 409: the claim is gone (or holds another effect): the effect must not
                commit without its link, so the transaction rolls back.
    """
    if claim_id is None:
        return
    _require_open_transaction(conn)
    if kind not in EFFECT_KINDS:
        raise ValueError(f"unknown effect kind {kind!r}")
    if not _set_effect(conn, claim_id, kind, effect_id):
        raise Conflict(f"This {HEADER} is no longer held by this request; retry shortly.",
                       headers={"Retry-After": "1"})


def idempotent(view):
    """Make an unsafe view idempotent per Idempotency-Key (see the module docstring)."""

    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return view(*args, **kwargs)  # the view's own guard answers 401
        key = read_key(request.headers)
        conn = get_db()
        outcome, claimed = claim(
            conn, user_id=current_user.id, endpoint=request.endpoint, key=key,
            request_fingerprint=fingerprint(request.get_json(silent=True),
                                            request.view_args or {}),
            now=utcnow(), ttl_hours=float(current_app.config["IDEMPOTENCY_KEY_TTL_HOURS"]),
            claim_timeout_seconds=float(current_app.config["IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS"]),
        )
        if outcome == "replay":
            response = jsonify(json.loads(claimed["response_body"]))
            response.status_code = claimed["response_status"]
            response.headers[REPLAY_HEADER] = "true"
            return response
        g.idempotency_claim = claimed
        refusal = None
        try:
            # A serialization conflict (PostgreSQL) runs the view again under the same
            # claim: whatever it committed under the claim is found, never made twice.
            response = retry.run_again_after_conflicts(
                lambda: view(*args, **kwargs), retry.attempts(current_app.config),
                what="idempotent request")
            status, body = response.status_code, response.get_json()
        except DomainError as error:
            if error.code >= 500 and error.code != 502:
                release(conn, claimed)  # 503: the key may be retried (see release)
                raise
            # A refusal (4xx) or a gateway failure after something was recorded (502)
            # is an outcome too: the same key gets the same answer.
            refusal = error
            status = error.code
            body = error_body(error.code, error.message, error.errors, error.extra)
        except BaseException:
            release(conn, claimed)
            raise
        try:
            # Storing the answer writes only this claim's own row, so it is safe to run
            # again. It must be: on PostgreSQL, SERIALIZABLE can pick it as the loser of
            # a conflict with another request's claim on the same index page, and the
            # effect has committed by now, so a plain conflict would end in a 503.
            retry.run_again_after_conflicts(
                lambda: store(conn, claimed, status, body), retry.attempts(current_app.config),
                what="idempotent answer")
        except BaseException:
            release(conn, claimed)  # the effect, if any, stays linked to the claim
            raise
        if refusal is not None:
            raise refusal
        return response

    # The header in the OpenAPI operation. Blueprint.doc replaces, not extends, a list:
    # no decorator below @idempotent documents parameters of its own.
    return with_doc(view, wrapper, parameters=[HEADER_DOC])
