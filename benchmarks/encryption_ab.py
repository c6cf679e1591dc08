"""Field encryption's cost (issue #18 item 7): my-bookings and booking creation with the
personal fields sealed against the same data in plaintext, in one session.

    .venv/bin/python -m benchmarks.encryption_ab --bookings 200000 --duration 10

Two temporary SQLite databases get the same ``--bookings`` rows (the same random
draws), one sealed (as the service stores them, blind index included) and one in
plaintext (as before migration 0120); each is served by gunicorn (``--workers`` sync
workers, as scripts/serve), the plaintext one with RAPIDCARE_ENCRYPT_FIELDS=false, so
its creates store plaintext too. Each scenario runs ``--duration`` seconds per
variant, alternating variants ``--rounds`` times, from ``--threads`` client threads
on 127.0.0.1; the figure is the median round. Any non-2xx answer fails the run.

Beside req/s it prints the gunicorn workers' CPU time per request (utime + stime from
/proc, as benchmarks/cpu_per_request.py): the client threads share the two cores, so
req/s moves by ±10 % between rounds of the same variant, while the workers' CPU per
request is what encryption adds to and moves far less. ``--keep DIR`` leaves the two
databases in DIR (about 1.6 GB each at 1M bookings); ``--reuse DIR`` runs on them
again without loading (their users' tokens are made anew).
"""
import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from itertools import count

import requests

from app import migrator
from app.config import DEFAULTS, TEST_OVERRIDES
from app.crypto import fields, keys
from app.db import connect, transaction
from app.timeutil import to_iso, utcnow
from benchmarks.logging_ab import cpu_seconds
from tests.factories import Factory
from tests.live_server import LiveServer

FIRST = ["Rahima", "Karim", "Fatema", "Anwar", "Nasrin", "Rafiq", "Sultana", "Jamal"]
LAST = ["Begum", "Uddin", "Khan", "Hossain", "Akter", "Rahman", "Islam", "Chowdhury"]
USERS = 200


def reuse(path):
    """The users' sign-in headers and the hospital of a database ``load`` built. The
    bookings an earlier run's create scenario left pending are cancelled first: the
    scenario books the same days again, one open booking per user and day."""
    conn = connect(path)
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"])
    with transaction(conn):
        conn.execute("UPDATE bookings SET status = 'cancelled', updated_at = ? "
                     "WHERE status = 'pending'", (to_iso(utcnow()),))
    make = Factory(conn)
    users = conn.execute("SELECT id FROM users WHERE role = 'user' ORDER BY id").fetchall()
    hospital = conn.execute("SELECT * FROM hospitals ORDER BY id LIMIT 1").fetchone()
    headers = [make.auth(dict(user)) for user in users[:USERS]]
    conn.close()
    return headers, dict(hospital)


def load(path, n, sealed, seed=7):
    conn = connect(path)
    migrator.upgrade(conn, DEFAULTS["MIGRATIONS_DIR"])
    make = Factory(conn)
    hospital = make.hospital(resources={"beds": 50}, prices={"beds": 150000})
    users = [make.user() for _ in range(USERS)]
    headers = [make.auth(user) for user in users]
    rng = random.Random(seed)
    now = utcnow()
    batch, batch_tokens = [], []
    for i in range(1, n + 1):
        created = now - timedelta(minutes=n - i)
        scheduled = created + timedelta(days=2)
        ref = f"RC-2020-{i:06d}" if i < 10**6 else f"RC-2019-{i - 10**6 + 1:06d}"
        values = {
            "booking_reference": ref, "user_id": users[i % USERS]["id"],
            "hospital_id": hospital["id"], "resource_type": "beds",
            "patient_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "patient_age": rng.randrange(96), "patient_gender": rng.choice(["male", "female"]),
            "medical_condition": "Observation after a fall", "urgency": "medium",
            "emergency_contact_name": "Next of kin",
            "emergency_contact_phone": f"+88018{rng.randrange(10**8):08d}",
            "emergency_contact_relationship": "sibling", "notes": None,
            "scheduled_date": to_iso(scheduled), "scheduled_end": to_iso(scheduled + timedelta(days=1)),
            "scheduled_day": scheduled.date().isoformat(), "estimated_duration_hours": 24,
            "status": "cancelled", "status_changed_by": users[i % USERS]["id"],
            "created_at": to_iso(created), "updated_at": to_iso(created),
        }
        if sealed:
            batch_tokens.append((i, values["patient_name"]))
            values = fields.seal_row("bookings", values, ref)
        batch.append({"id": i, **values})
        if len(batch) == 20000 or i == n:
            _write(conn, batch, batch_tokens)
            batch, batch_tokens = [], []
    conn.close()
    return headers, hospital


def _write(conn, rows, tokens):
    columns = ", ".join(rows[0])
    placeholders = ", ".join(f":{c}" for c in rows[0])
    with transaction(conn):
        # 'cancelled' straight away: the status triggers run on UPDATE, not INSERT; these
        # rows only have to be there (and be read) for the scenarios
        conn.executemany(f"INSERT INTO bookings ({columns}) VALUES ({placeholders})", rows)
        conn.executemany(
            "INSERT INTO booking_name_tokens (booking_id, key_id, token_hmac) VALUES (?, ?, ?)",
            [(booking_id, key, digest) for booking_id, name in tokens
             for key, digest in fields.index_entries(name)])


def drive(threads, duration, make_request, worker_pids):
    """(requests per second, the workers' CPU µs per request) from ``threads`` threads
    for ``duration`` seconds."""
    done, failures = [0] * threads, []
    stop = time.monotonic() + duration

    def worker(slot):
        session = requests.Session()
        while time.monotonic() < stop:
            response = make_request(session)
            if not 200 <= response.status_code < 300:
                failures.append((response.status_code, response.text[:200]))
                return
            done[slot] += 1

    started, cpu_before = time.monotonic(), cpu_seconds(worker_pids)
    pool = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if failures:
        raise SystemExit(f"failed: {failures[:3]}")
    elapsed, cpu = time.monotonic() - started, cpu_seconds(worker_pids) - cpu_before
    return sum(done) / elapsed, cpu / max(1, sum(done)) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=200_000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--keep", metavar="DIR", help="build the databases in DIR and leave them")
    kept.add_argument("--reuse", metavar="DIR", help="run on the databases --keep left in DIR")
    args = parser.parse_args()
    fields.install(keys.parse(TEST_OVERRIDES["ENCRYPTION_KEYS"], "benchmark"))
    workdir = args.reuse or args.keep or tempfile.mkdtemp(prefix="rapidcare-encryption-ab-")
    os.makedirs(workdir, exist_ok=True)
    servers, pools = {}, {}
    for variant in ("sealed", "plaintext"):
        path = f"{workdir}/{variant}.sqlite3"
        started = time.monotonic()
        if args.reuse:
            pools[variant] = reuse(path)
        else:
            pools[variant] = load(path, args.bookings, variant == "sealed")
            print(f"{variant}: {args.bookings} bookings loaded in "
                  f"{time.monotonic() - started:.0f} s", flush=True)
        env = {"RAPIDCARE_ENCRYPTION_KEYS": TEST_OVERRIDES["ENCRYPTION_KEYS"],
               "RAPIDCARE_LOG_LEVEL": "WARNING",
               "RAPIDCARE_ENCRYPT_FIELDS": "true" if variant == "sealed" else "false"}
        os.makedirs(f"{workdir}/{variant}", exist_ok=True)
        servers[variant] = LiveServer(f"{workdir}/{variant}", workers=args.workers,
                                      database=path, env=env)
    days = {variant: count(1) for variant in servers}

    def my_bookings(variant):
        headers, _ = pools[variant]
        url = servers[variant].url + "/api/bookings/my-bookings"
        return lambda session: session.get(url, headers=random.choice(headers))

    def create(variant):
        headers, hospital = pools[variant]
        url = servers[variant].url + "/api/bookings"

        def one(session):
            n = next(days[variant])
            when = utcnow().replace(hour=4, minute=0, second=0, microsecond=0) + timedelta(
                days=1 + n // len(headers) % 360)
            return session.post(url, headers=headers[n % len(headers)], json={
                "hospitalId": hospital["id"], "resourceType": "beds", "patientName": "Rahima Begum",
                "patientAge": 67, "patientGender": "female",
                "medicalCondition": "Pneumonia, needs oxygen support", "urgency": "high",
                "emergencyContactName": "Karim Uddin", "emergencyContactPhone": "+8801711000000",
                "emergencyContactRelationship": "son", "scheduledDate": when.isoformat(),
                "estimatedDuration": 24, "notes": "Wheelchair access needed"})
        return one

    results = {}
    try:
        for server in servers.values():
            server.start()
        for scenario, factory in (("my-bookings", my_bookings), ("create booking", create)):
            for round_ in range(args.rounds):
                for variant in (("sealed", "plaintext") if round_ % 2 == 0
                                else ("plaintext", "sealed")):
                    rate, cpu = drive(args.threads, args.duration, factory(variant),
                                      servers[variant].worker_pids())
                    results.setdefault((scenario, variant), []).append((rate, cpu))
                    print(f"  {scenario:15} {variant:9} round {round_ + 1}: {rate:8.1f} req/s"
                          f" {cpu:7.0f} µs worker CPU/request", flush=True)
    finally:
        for server in servers.values():
            server.stop()
        if not (args.keep or args.reuse):
            shutil.rmtree(workdir)  # two databases of ~1.6 GB each at 1M bookings
    print(f"\n{args.workers} workers, {args.threads} client threads, "
          f"{args.duration:g} s x {args.rounds} rounds (medians)")
    print(f"{'scenario':16} {'req/s plain':>12} {'sealed':>8} {'ratio':>7}"
          f" {'µs CPU plain':>13} {'sealed':>7} {'plain/sealed':>13}")
    for scenario in ("my-bookings", "create booking"):
        plain = [statistics.median(x) for x in zip(*results[(scenario, "plaintext")])]
        sealed = [statistics.median(x) for x in zip(*results[(scenario, "sealed")])]
        print(f"{scenario:16} {plain[0]:12.1f} {sealed[0]:8.1f} {sealed[0] / plain[0]:7.1%}"
              f" {plain[1]:13.0f} {sealed[1]:7.0f} {plain[1] / sealed[1]:13.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
