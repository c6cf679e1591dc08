"""The thorough stress run: the races of tests/stress at larger sizes, repeated.

    .venv/bin/python -m benchmarks.stress              # defaults: about a minute
    .venv/bin/python -m benchmarks.stress --rounds 10  # longer

Each scenario (tests/stress/scenarios.py) arranges its data, fires its racing
requests at a real gunicorn service (4 sync workers) from many threads, and then
checks its expected outcome and every invariant in SQL (app.ops.invariants).
Exit status 1 if any round of any scenario found a problem.
"""
import argparse
import sys
import tempfile
import time

from tests.live_server import LiveServer
from tests.stress import scenarios


def plan(size):
    """(name, function, arguments) at ``size`` times the fast tests' scale."""
    return [
        ("guarded SQL allocation vs capacity", "sql", scenarios.sql_allocations_vs_capacity,
         {"capacity": 25 * size, "bookings": 150 * size, "processes": 4}),
        ("concurrent approvals vs capacity", "http", scenarios.approvals_vs_capacity,
         {"capacity": 10 * size, "bookings": 60 * size, "threads": 32}),
        ("concurrent wallet debits", "http", scenarios.concurrent_wallet_debits,
         {"payments": 12 * size, "affordable": 5 * size, "threads": 24}),
        ("concurrent refunds on one payment", "http", scenarios.concurrent_refunds,
         {"parts": 4, "requests_sent": 16 * size, "threads": 16}),
        ("one idempotency key, many requests", "http", scenarios.idempotent_payment_race,
         {"requests_sent": 16 * size, "threads": 16}),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stress", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="repetitions of every scenario")
    parser.add_argument("--size", type=int, default=5, help="scale factor of the data")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)

    failed = False
    with tempfile.TemporaryDirectory(prefix="rapidcare-stress-") as workdir:
        with LiveServer(workdir, workers=args.workers) as server:
            for name, kind, scenario, kwargs in plan(args.size):
                for round_number in range(1, args.rounds + 1):
                    started = time.perf_counter()
                    target = server
                    problems = scenario(target, **kwargs)
                    took = time.perf_counter() - started
                    verdict = "ok      " if not problems else "FAILED  "
                    print(f"{verdict}{name} round {round_number}/{args.rounds} "
                          f"({kwargs}) {took:.1f} s", flush=True)
                    for problem in problems:
                        print(f"    - {problem}", flush=True)
                    failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
