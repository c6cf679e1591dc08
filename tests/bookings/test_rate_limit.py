"""BOOKING_RATE_LIMIT: counted in the database, in the insert's transaction."""
from datetime import timedelta

import pytest
from freezegun import freeze_time

from app import create_app
from app.config import ConfigError, parse_rate_limit
from app.timeutil import utcnow
from tests.bookings.helpers import booking_body, future


@pytest.fixture
def app_config(app_config):
    return {**app_config, "BOOKING_RATE_LIMIT": "3/300"}


def post(client, world, days, who="patient"):
    return client.post("/api/bookings", json=booking_body(world.hospital, scheduledDate=future(days=days)),
                       headers=world.headers[who])


def test_fourth_booking_within_the_window_is_429_until_the_window_passes(client, db, world):
    with freeze_time(utcnow()) as clock:
        for days in (2, 3, 4):
            assert post(client, world, days).status_code == 201
            clock.tick(timedelta(seconds=10))
        limited = post(client, world, 5)
        assert limited.status_code == 429 and limited.json["code"] == 429
        # the oldest of the three leaves the window 300 s after it was made, 30 s ago
        assert int(limited.headers["Retry-After"]) == 270
        assert post(client, world, 5, who="other_patient").status_code == 201  # per user
        clock.tick(timedelta(seconds=269))
        assert post(client, world, 5).status_code == 429
        clock.tick(timedelta(seconds=2))
        assert post(client, world, 5).status_code == 201
    assert db.execute("SELECT count(*) AS n FROM bookings WHERE user_id = ?",
                      (world.patient["id"],)).fetchone()["n"] == 4


def test_refused_requests_do_not_count(client, world):
    for _ in range(5):
        assert client.post("/api/bookings", json=booking_body({"id": 99999}),
                           headers=world.headers["patient"]).status_code == 404
    assert post(client, world, 2).status_code == 201


@pytest.mark.parametrize("value, parsed", [("3/300", (3, 300)), ("0", None), (0, None),
                                           (" 10/60 ", (10, 60))])
def test_parse_rate_limit(value, parsed):
    assert parse_rate_limit(value, "BOOKING_RATE_LIMIT") == parsed


@pytest.mark.parametrize("value", ["", "3", "3/0", "0/300", "-1/5", "a/b", "3/300/1", None])
def test_a_malformed_limit_refuses_to_start(app_config, value):
    with pytest.raises(ConfigError, match="BOOKING_RATE_LIMIT"):
        create_app({**app_config, "BOOKING_RATE_LIMIT": value})
