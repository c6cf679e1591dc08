"""Password checks at the configured bcrypt cost (issue #12, item 5)."""
import bcrypt
import pytest

from app.auth.passwords import dummy_hash

ROUNDS = 5  # not the test default (4), so a hash of a fixed cost cannot pass by chance


@pytest.fixture
def app_config(app_config):
    return {**app_config, "BCRYPT_ROUNDS": ROUNDS}


def cost(password_hash):
    return int(password_hash.split(b"$")[2])


def test_dummy_hash_has_the_configured_cost():
    assert cost(dummy_hash(ROUNDS).encode()) == ROUNDS
    assert cost(dummy_hash(12).encode()) == 12


def test_unknown_email_is_checked_against_a_hash_of_the_configured_cost(client, monkeypatch):
    account = {"name": "Real Person", "email": "real@example.test", "password": "long-enough-1"}
    assert client.post("/api/auth/register", json=account).status_code == 201
    checked = []
    real_checkpw = bcrypt.checkpw

    def recording_checkpw(password, password_hash):
        checked.append(password_hash)
        return real_checkpw(password, password_hash)

    monkeypatch.setattr(bcrypt, "checkpw", recording_checkpw)
    for email in ("real@example.test", "nobody@example.test"):
        r = client.post("/api/auth/login", json={"email": email, "password": "wrong-password-1"})
        assert r.status_code == 401
    real_account, unknown_email = checked
    assert cost(real_account) == cost(unknown_email) == ROUNDS
