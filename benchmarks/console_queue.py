"""Server time of the console's triage queue page with 200 pending bookings.

    .venv/bin/python -m benchmarks.console_queue [--pending 200] [--requests 200]

Builds a temporary migrated database with one approved hospital, its authority and
``--pending`` pending bookings (all on the one queue page: QUEUE_PAGE_SIZE is 200),
signs in through the console's form and times GET /console/queue in process
(Flask's test client: the whole request through the app, with no network and no
client in between), as gunicorn's worker would spend it. Request logging is off,
as in the benchmark's "logging off" runs. Target (issue #20): under 100 ms.
Wall time and the process's CPU time per request are both printed: on a shared
machine the wall time's tail is other processes' load.
"""
import argparse
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from app import create_app, migrator
from app.config import DEFAULTS, TEST_OVERRIDES
from app.db import close_db, connect
from app.vocabulary import URGENCIES
from tests.factories import PASSWORD, Factory

TARGET_MS = 100


def build(directory, pending):
    database = str(Path(directory) / "console-queue.sqlite3")
    conn = connect(database)
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"], log=lambda _line: None)
    make = Factory(conn)
    hospital = make.hospital(resources={"beds": 500, "icu": 50}, prices={"beds": 150000})
    authority = make.authority(hospital)
    patients = [make.user() for _ in range(pending)]
    for n, patient in enumerate(patients):
        make.booking(patient, hospital, urgency=URGENCIES[n % len(URGENCIES)],
                     scheduled_in=timedelta(days=1 + n % 30))
    conn.close()
    return database, authority


def signed_in_client(app, authority):
    client = app.test_client()
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/console/sign-in", data={
        "csrf_token": token, "email": authority["email"], "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rapidcare-console-bench-") as directory:
        database, authority = build(directory, args.pending)
        app = create_app({**TEST_OVERRIDES, "DATABASE": database, "LOG_LEVEL": "WARNING",
                          "BACKUP_DIR": str(Path(directory) / "backups")})
        client = signed_in_client(app, authority)
        first = client.get("/console/queue")
        shown = first.get_data(as_text=True).count('class="request ')
        assert first.status_code == 200 and shown == args.pending, (first.status_code, shown)
        for _ in range(10):  # warm-up: template compilation, connection, caches
            client.get("/console/queue")
        timings, cpu = [], []
        for _ in range(args.requests):
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get("/console/queue")
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            assert response.status_code == 200
        close_db()
    timings.sort()
    p95 = timings[int(0.95 * (len(timings) - 1))]
    print(f"console queue page, {args.pending} pending bookings shown, "
          f"{len(first.data) // 1024} KiB of HTML, {args.requests} requests in process:")
    print(f"  median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
          f"max {timings[-1]:.1f} ms (target: under {TARGET_MS} ms)")
    # CPU time is what the page costs; wall time on a shared machine adds others' load.
    print(f"  CPU per request: median {statistics.median(cpu):.1f} ms")


if __name__ == "__main__":
    main()
