"""Races over HTTP against several gunicorn workers, each followed by the SQL invariants
(app.ops.invariants). Fast versions; benchmarks/stress.py runs them larger.
"""
import pytest

from tests.stress import scenarios

pytestmark = pytest.mark.slow


def run(scenario, *args, **kwargs):
    assert scenario(*args, **kwargs) == []


def test_guarded_allocation_never_exceeds_capacity(tmp_path):
    """Four processes race to approve 40 bookings for 6 beds, in SQL (no endpoint needed)."""
    from tests.live_server import LiveServer

    server = LiveServer(tmp_path)
    server.migrate()
    try:
        run(scenarios.sql_allocations_vs_capacity, server, capacity=6, bookings=40)
    finally:
        server.drop()


def test_concurrent_approvals_respect_capacity(live):
    run(scenarios.approvals_vs_capacity, live, capacity=4, bookings=12, threads=12)


def test_concurrent_wallet_debits_never_overdraw(live):
    run(scenarios.concurrent_wallet_debits, live, payments=6, affordable=2, threads=6)


def test_concurrent_refunds_never_exceed_the_payment(live):
    run(scenarios.concurrent_refunds, live, parts=3, requests_sent=6, threads=6)


def test_one_idempotency_key_has_one_effect(live):
    run(scenarios.idempotent_payment_race, live, requests_sent=6, threads=6)
