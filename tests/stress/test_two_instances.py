"""Several app servers, one database: the concurrency proofs on PostgreSQL against two
separate gunicorn instances (two masters, two ports, one database).

Each request of a race goes to the two instances in turn (``TwoInstances.url``), so
the racing transactions come from different masters' workers and meet only in
PostgreSQL: no overbooking, no wallet double spend, refunds never above what was
paid, one effect per Idempotency-Key, the booking rate limit.
"""
import itertools

import pytest

from tests.bookings.helpers import booking_body, future
from tests.bookings.test_concurrency import fire
from tests.factories import Factory
from tests.live_server import LiveServer
from tests.stress import scenarios

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]


class TwoInstances:
    """Two running LiveServers on one database; each read of ``url`` names the next one."""

    def __init__(self, first, second):
        self.first, self.second = first, second
        self._urls = itertools.cycle([first.url, second.url])

    @property
    def url(self):
        return next(self._urls)

    def connect(self):
        return self.first.connect()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    env = {"RAPIDCARE_BOOKING_RATE_LIMIT": "3/300"}
    first = LiveServer(tmp_path_factory.mktemp("first"), workers=2, env=env)
    second = LiveServer(tmp_path_factory.mktemp("second"), workers=2, env=env,
                        database_url=first.database_url)
    with first, second:
        yield TwoInstances(first, second)


def test_the_two_instances_share_one_database_and_nothing_else(pair):
    assert pair.first.database_url == pair.second.database_url
    assert pair.first.process.pid != pair.second.process.pid
    assert {pair.url, pair.url} == {pair.first.url, pair.second.url}


def test_approvals_from_both_instances_never_overbook(pair):
    assert scenarios.approvals_vs_capacity(pair, capacity=4, bookings=16, threads=16) == []


def test_wallet_debits_from_both_instances_never_overdraw(pair):
    assert scenarios.concurrent_wallet_debits(pair, payments=8, affordable=3, threads=8) == []


def test_refunds_from_both_instances_never_exceed_the_payment(pair):
    assert scenarios.concurrent_refunds(pair, parts=3, requests_sent=8, threads=8) == []


def test_one_idempotency_key_has_one_effect_across_instances(pair):
    assert scenarios.idempotent_payment_race(pair, requests_sent=8, threads=8) == []


def test_the_booking_rate_limit_holds_across_instances(pair):
    conn = pair.connect()
    try:
        make = Factory(conn)
        hospital = make.hospital(resources={"beds": 5}, prices={"beds": 150000})
        patient = make.user()
        codes = fire(pair, [("POST", "/api/bookings", make.auth(patient),
                             booking_body(hospital, scheduledDate=future(days=2 + i)))
                            for i in range(12)])
        made = conn.execute("SELECT count(*) AS n FROM bookings WHERE user_id = ?",
                            (patient["id"],)).fetchone()["n"]
    finally:
        conn.close()
    assert sorted(codes) == [201] * 3 + [429] * 9, codes
    assert made == 3
