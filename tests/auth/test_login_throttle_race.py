"""The login throttle under parallel guesses (issue #12, item 6), over HTTP against
several gunicorn workers: the limit holds however many guesses arrive at once."""
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.auth.passwords import hash_password
from app.config import DEFAULTS
from app.db import transaction
from tests.factories import Factory
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

GUESSES = 16
# A real account's cost (the live server hashes at cost 4): each wrong guess then
# spends tens of milliseconds in bcrypt, the window the race used to slip through.
ACCOUNT_ROUNDS = 10


def fire_at_once(url, body, count):
    barrier = threading.Barrier(count)

    def one(_):
        barrier.wait()
        return requests.post(url, json=body, timeout=60).status_code

    with ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(one, range(count)))


def test_parallel_wrong_passwords_get_at_most_the_limit_of_password_checks(tmp_path):
    limit = DEFAULTS["LOGIN_MAX_FAILURES"]
    with LiveServer(tmp_path, workers=4) as server:
        conn = server.connect()
        user = Factory(conn).user()
        with transaction(conn):
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                         (hash_password("the-real-password", ACCOUNT_ROUNDS), user["id"]))
        statuses = fire_at_once(server.url + "/api/auth/login",
                                {"email": user["email"], "password": "a-wrong-guess"}, GUESSES)
        attempts = conn.execute("SELECT count(*) AS n, sum(CASE WHEN succeeded THEN 1 ELSE 0 END) AS ok"
                                " FROM login_attempts WHERE email = ?", (user["email"],)).fetchone()
        conn.close()
    assert statuses == {401: limit, 429: GUESSES - limit}
    assert (attempts["n"], attempts["ok"]) == (limit, 0)
