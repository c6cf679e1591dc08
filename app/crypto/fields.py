"""Sealing and opening personal fields: the ONE place that encrypts and decrypts.

A sealed value is text: ``enc1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>``,
AES-256-GCM with a fresh 96-bit random nonce per value. Its associated data is
``rapidcare|<table>|<column>|<row key>``, so a ciphertext copied into another
column or another row does not open (the GCM tag fails). The row key is a value
fixed before the INSERT and never changed afterwards:

- bookings: ``booking_reference`` (unique, taken inside the creating transaction
  before the INSERT, immutable: no statement updates it);
- blood_requests and blood_donor_matches: ``record_key``, a random uuid the service
  draws before the INSERT (neither has anything else that is known before its INSERT).

A booking's patient fields, written together at creation and never changed one by
one, are sealed together: one JSON object in the column ``personal`` (migration
0142), so reading a booking opens one value instead of eight (issue #18 item 7:
a page of 20 bookings opened 160 values). The hospital's notes, which staff write
later, stay a sealed column of their own. Bookings from before 0142 keep their
fields in the old columns, one sealed value each, and are read that way until
``flask keys reencrypt`` moves them into ``personal``.

Values that do not start with ``enc1:`` are legacy plaintext from before
migration 0120: read as they are, until ``flask keys rotate`` seals them.

A value that cannot be opened (its key is gone, or it was moved or edited) is
logged and shown as ``UNREADABLE`` (``None`` for numbers); the rest of the row
and the service keep working.

Blind index (booking search by patient name): HMAC-SHA256 of each normalized name
token under a key derived from a ring key for that one purpose (HMAC(key,
"rapidcare blind index v1")), so the index never reveals the AES key and vice versa.
"""
import base64
import hashlib
import hmac
import logging
import os
import re
import unicodedata

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

PREFIX = "enc1"
UNREADABLE = "[unreadable]"

# The personal columns of each table, and the column that binds a value to its row.
FIELDS = {
    "bookings": ("patient_name", "patient_age", "patient_gender", "medical_condition",
                 "emergency_contact_name", "emergency_contact_phone",
                 "emergency_contact_relationship", "notes", "authority_notes"),
    "blood_requests": ("patient_name", "contact_phone", "medical_condition", "notes"),
    "blood_donor_matches": ("phone",),  # how the requester calls the donor back
}
ROW_KEY = {"bookings": "booking_reference", "blood_requests": "record_key",
           "blood_donor_matches": "record_key"}
INTEGER_FIELDS = {"patient_age"}
# Fields sealed together as one JSON object: table -> (its column, the fields inside).
ENVELOPES = {"bookings": ("personal", FIELDS["bookings"][:-1])}  # all but authority_notes


def sealed_columns(table):
    """The columns of ``table`` that hold sealed values (what rotation re-seals)."""
    column, inside = ENVELOPES.get(table, (None, ()))
    return ((column,) if column else ()) + tuple(c for c in FIELDS[table] if c not in inside)


def legacy_columns(table):
    """The columns that held an envelope's fields one by one, on rows from before it."""
    return ENVELOPES.get(table, (None, ()))[1]

_ring = None
_reload = None
_ciphers = {}
_index_keys = {}


class FieldIntegrityError(Exception):
    pass


def install(ring, reload=None):
    """Use ``ring`` (app.crypto.keys.KeyRing) for this process (create_app, scripts).
    ``reload()``: the ring read again (from its key file), tried once when a value names
    a key this process does not know yet (``flask keys rotate`` ran since it started)."""
    global _ring, _reload
    _ring, _reload = ring, reload
    _ciphers.clear()
    _index_keys.clear()


def ring():
    if _ring is None:
        raise RuntimeError("no encryption key ring installed (app.crypto.fields.install)")
    return _ring


def _cipher(key_id):
    if key_id not in _ciphers:
        _ciphers[key_id] = AESGCM(ring().keys[key_id])
    return _ciphers[key_id]


def _aad(table, column, row_key):
    return f"rapidcare|{table}|{column}|{row_key}".encode()


def is_sealed(stored):
    return isinstance(stored, str) and stored.startswith(PREFIX + ":")


def key_id_of(stored):
    """The key id a stored value is sealed with; None for NULL or legacy plaintext."""
    return stored.split(":", 2)[1] if is_sealed(stored) else None


def seal(table, column, row_key, value, *, key_id=None):
    """The text to store for ``value`` (None stays None)."""
    if value is None:
        return None
    text = str(value)
    current = ring()
    if not current.enabled:
        return text  # the benchmark's baseline: plaintext, as before encryption
    key_id = key_id or current.current
    nonce = os.urandom(12)
    sealed = _cipher(key_id).encrypt(nonce, text.encode(), _aad(table, column, row_key))
    return f"{PREFIX}:{key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def open_value(table, column, row_key, stored):
    """The plaintext of a stored value. Raises FieldIntegrityError if it cannot be opened."""
    if not is_sealed(stored):
        return stored  # NULL or legacy plaintext
    _, key_id, encoded = stored.split(":", 2)
    if key_id not in ring().keys and _reload is not None:
        install(_reload(), _reload)
    if key_id not in ring().keys:
        raise FieldIntegrityError(f"key {key_id} is not in the key ring")
    try:
        blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        plain = _cipher(key_id).decrypt(blob[:12], blob[12:], _aad(table, column, row_key))
    except (InvalidTag, ValueError) as error:
        raise FieldIntegrityError("authentication failed (moved, edited or corrupt)") from error
    return plain.decode()


def _unreadable(table, column, row_key, error, names):
    """What a value that cannot be opened reads as, logged: UNREADABLE for each of
    ``names`` (None for numbers). One damaged value must not take the page down."""
    log.error("integrity: %s.%s of row %s cannot be decrypted: %s", table, column, row_key, error)
    return {name: None if name in INTEGER_FIELDS else UNREADABLE for name in names}


def _open_one(table, column, row_key, stored, strict):
    """open_value; unless ``strict``, an unreadable value reads as UNREADABLE."""
    try:
        value = open_value(table, column, row_key, stored)
    except FieldIntegrityError as error:
        if strict:
            raise
        return _unreadable(table, column, row_key, error, (column,))[column]
    if value is not None and column in INTEGER_FIELDS:
        return int(value)
    return value


def open_field(table, column, row_key, stored):
    """One stored value opened; an unreadable one becomes UNREADABLE (see _open_one)."""
    return _open_one(table, column, row_key, stored, strict=False)


def _open_envelope(table, column, inside, row_key, stored, strict):
    try:
        together = orjson.loads(open_value(table, column, row_key, stored))
    except (FieldIntegrityError, orjson.JSONDecodeError) as error:
        if strict:
            raise FieldIntegrityError(str(error)) from error
        return _unreadable(table, column, row_key, error, inside)
    return {name: together.get(name) for name in inside}


def seal_row(table, values, row_key):
    """A copy of ``values`` as it is stored: the table's personal fields it holds sealed,
    those of an envelope together in the envelope's column (their own columns None).
    With encryption off (the benchmark's baseline) every field stays in its own column,
    in plaintext, as before encryption."""
    if table in ENVELOPES:
        column, inside = ENVELOPES[table]
        envelope = None
        if ring().enabled:
            together = {name: values[name] for name in inside if values.get(name) is not None}
            envelope = seal(table, column, row_key, orjson.dumps(together).decode())
            values = {**values, **{name: None for name in inside if name in values}}
        values = {**values, column: envelope}
    return {key: seal(table, key, row_key, value) if key in FIELDS[table] else value
            for key, value in values.items()}


def open_row(table, row, *, strict=False):
    """A copy of a row (dict) with its personal fields opened and its envelope column
    (if any) replaced by the fields inside; None stays None. ``strict``: a value that
    cannot be opened raises FieldIntegrityError instead of reading UNREADABLE."""
    if row is None:
        return None
    opened = dict(row)
    row_key = opened.get(ROW_KEY[table])
    column, inside = ENVELOPES.get(table, (None, ()))
    stored_together = opened.pop(column, None) if column else None
    if stored_together is not None:
        opened.update(_open_envelope(table, column, inside, row_key, stored_together, strict))
    for name in FIELDS[table]:
        if name in opened and opened[name] is not None and (stored_together is None
                                                             or name not in inside):
            opened[name] = _open_one(table, name, row_key, opened[name], strict)
    return opened


def open_rows(table, rows):
    return [open_row(table, row) for row in rows]


# --- blind index ----------------------------------------------------------------

def name_tokens(text):
    """Normalized tokens of a name: NFKC, casefolded, punctuation dropped, split on
    whitespace; each distinct token once, in order. "O'Brien, Ánna" -> ["obrien", "ánna"]."""
    normal = unicodedata.normalize("NFKC", text or "").casefold()
    kept = "".join(ch if not unicodedata.category(ch).startswith(("P", "S")) else ""
                   for ch in normal)
    seen = []
    for token in re.split(r"\s+", kept):
        if token and token not in seen:
            seen.append(token)
    return seen


def _index_key(key_id):
    if key_id not in _index_keys:
        _index_keys[key_id] = hmac.new(ring().keys[key_id], b"rapidcare blind index v1",
                                       hashlib.sha256).digest()
    return _index_keys[key_id]


def token_hmac(token, key_id):
    return hmac.new(_index_key(key_id), token.encode(), hashlib.sha256).hexdigest()


def index_entries(name, key_id=None):
    """(key_id, token_hmac) rows for a patient name under ``key_id`` (current by default)."""
    key_id = key_id or ring().current
    return [(key_id, token_hmac(token, key_id)) for token in name_tokens(name)]


def search_hmacs(text):
    """(number of query tokens, the HMACs of every token under every ring key): a booking
    indexed under any key matches when it has all of its key's HMACs of the tokens."""
    tokens = name_tokens(text)
    return len(tokens), [token_hmac(token, key_id) for key_id in ring().keys for token in tokens]
