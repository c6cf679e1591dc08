"""bcrypt password hashing. bcrypt reads at most 72 bytes, so longer passwords are
refused by the schemas (422) rather than silently truncated."""
from functools import lru_cache

import bcrypt

MAX_PASSWORD_BYTES = 72


def hash_password(password, rounds):
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@lru_cache(maxsize=None)
def dummy_hash(rounds):
    """What an unknown email's password is checked against: a hash of the configured
    cost, so the check takes as long as a real account's and the answer's timing does
    not tell whether the email has an account. Made once per process and cost."""
    return hash_password("not-a-real-password", rounds)


def check_password(password, password_hash):
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES:
        # No account can have such a password (registration refuses it), and bcrypt
        # raises on it instead of comparing: it is simply wrong.
        return False
    return bcrypt.checkpw(encoded, password_hash.encode())
