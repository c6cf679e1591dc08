"""Opaque bearer tokens: random, shown to the client once, stored only as a sha256 hash."""
import hashlib
import secrets


def new_token():
    """(token for the client, hash for the database)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_from_header(header_value):
    """The token in ``Authorization: Bearer <token>``, or None."""
    if not header_value:
        return None
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
