"""bcrypt password hashing. bcrypt reads at most 72 bytes, so longer passwords are
refused by the schemas (422) rather than silently truncated."""
import bcrypt

MAX_PASSWORD_BYTES = 72

# Compared against when the email is unknown, so a login takes the same time either way.
_DUMMY_HASH = bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(4)).decode()


def hash_password(password, rounds):
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def check_password(password, password_hash):
    encoded = password.encode()
    if len(encoded) > MAX_PASSWORD_BYTES:
        # No account can have such a password (registration refuses it), and bcrypt
        # raises on it instead of comparing: it is simply wrong.
        return False
    return bcrypt.checkpw(encoded, (password_hash or _DUMMY_HASH).encode())
