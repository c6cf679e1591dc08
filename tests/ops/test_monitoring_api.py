"""/api/health/detailed, /api/monitoring/migrations and /metrics per role, and the local-scrape rule."""
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families

from app import migrator
from app.config import DEFAULTS
from app.ops.backup import run_backup
from app.ops.scheduler import JOBS, run_job
from tests.live_server import LiveServer

REMOTE = {"REMOTE_ADDR": "198.51.100.7"}  # not this host: the local-scrape rule does not apply
NOW = datetime(2025, 3, 10, 4, 30, 15, tzinfo=timezone.utc)


@pytest.fixture
def people(make):
    hospital = make.hospital(resources={"beds": 5})
    return {
        "anonymous": None,
        "patient": make.user(),
        "authority": make.authority(hospital),
        "admin": make.admin(),
    }


def headers_for(make, person):
    return make.auth(person) if person is not None else {}


def samples(text):
    """{(metric sample name, sorted label items): value}"""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


ROLE_EXPECTATIONS = [("anonymous", 401), ("patient", 403), ("authority", 403), ("admin", 200)]


@pytest.mark.parametrize("path", ["/api/health/detailed", "/api/monitoring/migrations", "/metrics"])
@pytest.mark.parametrize("role, expected", ROLE_EXPECTATIONS)
def test_monitoring_endpoints_are_for_admins(client, make, people, path, role, expected):
    r = client.get(path, headers=headers_for(make, people[role]), environ_base=REMOTE)
    assert r.status_code == expected
    if expected != 200:
        assert r.json["code"] == expected  # the one error body
    else:
        assert r.data  # a body for the admin


def test_plain_health_stays_public(client):
    r = client.get("/api/health", environ_base=REMOTE)
    assert r.status_code == 200 and r.json == {"status": "ok", "database": "ok"}


def test_detailed_health_reports_the_database(client, make, people):
    patient = people["patient"]
    hospital = make.hospital(resources={"beds": 3})
    make.booking(patient, hospital)
    make.booking(patient, hospital, status="approved", scheduled_in=timedelta(days=3))

    r = client.get("/api/health/detailed", headers=make.auth(people["admin"]))

    assert r.status_code == 200
    body = r.json
    database = body["database"]
    if database["backend"] == "postgresql":  # server facts (tests/test_postgres.py has more)
        assert database["sizeBytes"] > 0 and database["serverVersion"]
    else:
        assert database["backend"] == "sqlite"
        assert database["journalMode"] == "wal" and database["foreignKeys"] is True
        assert database["quickCheck"] == "ok"
        assert database["sizeBytes"] == database["pageSize"] * database["pageCount"] > 0
        assert database["walSizeBytes"] >= 0
    assert body["rowCounts"]["bookings"] == 2 and body["rowCounts"]["users"] == 3
    assert body["rowCounts"]["hospitals"] == 2
    known = [m.version for m in migrator.discover(DEFAULTS["MIGRATIONS_DIR"])]
    assert body["migrations"] == {
        "applied": len(known), "pending": [], "latestApplied": max(known), "upToDate": True}
    # A new database has had no chance of a backup: information, not a fault (issue #19).
    assert body["lastBackup"] is None and body["notes"] == [
        "no backup yet (the backup job makes one daily at 03:30; scripts/backup-database makes one now)"]
    assert body["status"] == "ok" and body["warnings"] == []
    assert database["backend"] == "postgresql" or database["quickCheckMs"] >= 0
    assert [job["name"] for job in body["jobs"]] == [spec.name for spec in JOBS]
    assert all(job["scheduled"] and job["lastRun"] is None for job in body["jobs"])


def test_detailed_health_shows_the_last_backup_and_job_results(app, client, db, make, people,
                                                              backend):
    with freeze_time(NOW):
        run_job(next(s for s in JOBS if s.name == "integrity-check"), app.config)
        run_backup(db, now=NOW, config=app.config)
    with freeze_time(NOW + timedelta(hours=2)):
        r = client.get("/api/health/detailed", headers=make.auth(people["admin"]))
    body = r.json
    suffix = ".pgdump" if backend == "postgres" else ".sqlite.gz"  # pg_dump on PostgreSQL
    assert body["lastBackup"]["file"] == f"database_backup_20250310_043015{suffix}"
    assert body["lastBackup"]["ageSeconds"] == 7200 and body["lastBackup"]["sizeBytes"] > 0
    jobs = {job["name"]: job for job in body["jobs"]}
    assert jobs["integrity-check"]["lastRun"]["status"] == "succeeded"
    # the integrity job verifies the audit chains too (issue #18), recorded for this page
    assert jobs["integrity-check"]["lastRun"]["message"].startswith("quick_check ok; audit chains ok")
    assert body["auditChain"]["status"] == "ok" and body["auditChain"]["problem"] is None
    assert jobs["backup"]["lastRun"] is None  # called directly, not through the scheduler
    assert body["status"] == "ok" and body["warnings"] == []

    with freeze_time(NOW + timedelta(days=2)):
        stale = client.get("/api/health/detailed", headers=make.auth(people["admin"])).json
    assert stale["status"] == "degraded" and stale["warnings"] == [
        "the last backup is 48 hours old (more than HEALTH_BACKUP_MAX_AGE_HOURS=26)"]


def test_a_failed_job_is_a_warning(app, client, db, make, people):
    with db:
        db.execute("INSERT INTO job_runs (job_name, started_at, finished_at, status, message) "
                   "VALUES ('integrity-check', '2025-03-10T04:00:00.000000+00:00', "
                   "'2025-03-10T04:00:01.000000+00:00', 'failed', 'quick_check: page 7 is never used')")
    body = client.get("/api/health/detailed", headers=make.auth(people["admin"])).json
    jobs = {job["name"]: job for job in body["jobs"]}
    assert jobs["integrity-check"]["lastRun"]["message"] == "quick_check: page 7 is never used"
    assert ("the last run of job integrity-check failed at 2025-03-10T04:00:01.000000+00:00: "
            "quick_check: page 7 is never used") in body["warnings"]
    assert body["status"] == "degraded"


def test_broken_invariants_are_a_warning(client, db, make, people):
    admin = make.auth(people["admin"])
    before = client.get("/api/health/detailed", headers=admin).json
    assert not any("invariant" in warning for warning in before["warnings"])
    make.booking(people["patient"], {"id": people["authority"]["hospital_id"]}, status="approved")
    with db:  # damage the service cannot cause: every bed marked occupied while a booking
        # holds one in two days, and a balance written behind its back
        db.execute("UPDATE hospital_resources SET occupied = total, available = 0")
        db.execute("INSERT INTO user_balance (user_id, balance_minor, updated_at) "
                   "VALUES (?, 500, '2025-03-10T04:00:00+00:00')", (people["patient"]["id"],))
    body = client.get("/api/health/detailed", headers=admin).json
    assert "2 invariant(s) broken: schedule_within_capacity, balance_equals_ledger" in body["warnings"]
    assert body["status"] == "degraded"


def test_migrations_endpoint_lists_applied_and_pending(app, client, make, people, tmp_path):
    migrations = tmp_path / "migrations"
    shutil.copytree(app.config["MIGRATIONS_DIR"], migrations)
    (migrations / "9999_later.py").write_text('"""Later."""\n\ndef up(conn):\n    pass\n')
    app.config["MIGRATIONS_DIR"] = str(migrations)

    r = client.get("/api/monitoring/migrations", headers=make.auth(people["admin"]))

    assert r.status_code == 200
    known = [m.version for m in migrator.discover(app.config["MIGRATIONS_DIR"]) if m.version != 9999]
    assert [m["version"] for m in r.json["applied"]] == known
    first = r.json["applied"][0]
    assert first["version"] == 1 and first["name"] == "initial_schema"
    assert all(isinstance(m["executionMs"], int) and m["appliedAt"] for m in r.json["applied"])
    assert r.json["pending"] == [{"version": 9999, "name": "later", "appliedAt": None, "executionMs": None}]
    assert r.json["upToDate"] is False
    detailed = client.get("/api/health/detailed", headers=make.auth(people["admin"])).json
    assert detailed["migrations"]["pending"] == [9999] and "1 migration(s) pending" in detailed["warnings"]


@pytest.mark.parametrize("remote_addr, headers, allow_local, expected", [
    ("127.0.0.1", {}, True, 200),
    ("::1", {}, True, 200),
    ("127.0.0.1", {}, False, 401),
    ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, True, 401),  # through a local proxy
    ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, True, 401),
    ("127.0.0.1", {"X-Real-IP": "203.0.113.9"}, True, 401),
    ("198.51.100.7", {}, True, 401),
    ("10.0.0.5", {}, True, 401),
])
def test_local_scrape_rule(app, client, remote_addr, headers, allow_local, expected):
    app.config["METRICS_ALLOW_LOCAL"] = allow_local
    r = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote_addr})
    assert r.status_code == expected


def test_admin_may_scrape_from_anywhere_even_when_local_scrapes_are_off(app, client, make, people):
    app.config["METRICS_ALLOW_LOCAL"] = False
    r = client.get("/metrics", headers=make.auth(people["admin"]), environ_base=REMOTE)
    assert r.status_code == 200 and r.content_type.startswith("text/plain; version=0.0.4")


def scrape(client):
    r = client.get("/metrics")  # the test client's address is 127.0.0.1
    assert r.status_code == 200
    return samples(r.get_data(as_text=True))


def count(metrics, endpoint, status, method="GET"):
    key = ("rapidcare_http_requests_total",
           tuple(sorted({"endpoint": endpoint, "method": method, "status": status}.items())))
    return metrics.get(key, 0)


def test_metrics_count_requests_by_route_pattern_and_status(client, make, people):
    before = scrape(client)
    for _ in range(3):
        client.get("/api/health")
    client.get("/api/no/such/thing")
    client.get("/api/no/other/thing")
    client.get("/api/health/detailed", headers=make.auth(people["patient"]))
    client.post("/api/auth/login", json={"email": "x@example.test"})
    after = scrape(client)

    assert count(after, "/api/health", "200") - count(before, "/api/health", "200") == 3
    assert count(after, "unmatched", "404") - count(before, "unmatched", "404") == 2
    assert count(after, "/api/health/detailed", "403") - count(before, "/api/health/detailed", "403") == 1
    assert (count(after, "/api/auth/login", "422", "POST")
            - count(before, "/api/auth/login", "422", "POST")) == 1
    latency = ("rapidcare_http_request_duration_seconds_count",
               (("endpoint", "/api/health"), ("method", "GET"), ("status", "200")))
    assert after[latency] - before.get(latency, 0) == 3
    assert not any("/api/no/such/thing" in str(key) for key in after)  # raw paths never become labels


def test_metrics_report_bookings_by_status_and_database_size(client, make, people):
    patient = people["patient"]
    hospital = make.hospital(resources={"beds": 5})
    make.booking(patient, hospital)
    make.booking(patient, hospital, scheduled_in=timedelta(days=3))
    make.booking(patient, hospital, status="approved", scheduled_in=timedelta(days=4))
    make.booking(patient, hospital, status="cancelled", scheduled_in=timedelta(days=5))

    metrics = scrape(client)

    def bookings(status):
        return metrics[("rapidcare_bookings", (("status", status),))]

    assert (bookings("pending"), bookings("approved"), bookings("cancelled")) == (2, 1, 1)
    assert bookings("completed") == 0 and bookings("declined") == 0
    assert metrics[("rapidcare_database_size_bytes", (("file", "main"),))] > 0


def test_metrics_report_the_last_backup_and_job_successes(app, client, db):
    with freeze_time(NOW):
        run_job(next(s for s in JOBS if s.name == "integrity-check"), app.config)
        run_backup(db, now=NOW, config=app.config)
    with freeze_time(NOW + timedelta(minutes=10)):
        metrics = scrape(client)
    assert metrics[("rapidcare_backup_last_timestamp_seconds", ())] == NOW.timestamp()
    assert metrics[("rapidcare_backup_last_age_seconds", ())] == 600
    assert metrics[("rapidcare_job_last_success_timestamp_seconds",
                    (("job", "integrity-check"),))] == NOW.timestamp()


@pytest.mark.slow
def test_metrics_add_up_every_gunicorn_worker(tmp_path):
    per_client, clients = 25, 4
    with LiveServer(tmp_path, workers=4) as server:
        def hammer():
            with requests.Session() as session:
                for _ in range(per_client):
                    # A new connection each time, so the requests spread over the workers.
                    # (An anonymous 401 on a route nothing else calls: the count is ours alone.)
                    r = session.get(server.url + "/api/health/detailed", timeout=30,
                                    headers={"Connection": "close"})
                    assert r.status_code == 401

        # Which worker accepts a connection is the kernel's choice; on a busy machine one
        # worker can win a whole round, so send rounds until at least two have counted.
        sent = 0
        for _round in range(5):
            with ThreadPoolExecutor(clients) as pool:
                for future in [pool.submit(hammer) for _ in range(clients)]:
                    future.result()
            sent += per_client * clients
            files = list(Path(f"{server.database}-metrics").glob("counter_*.db"))
            if len(files) >= 2:
                break
        scraped = [samples(requests.get(server.url + "/metrics", timeout=30).text) for _ in range(8)]

    assert len(files) >= 2  # more than one worker served and counted
    # Every scrape, whichever worker answers it, sees the requests of all of them.
    assert {count(metrics, "/api/health/detailed", "401") for metrics in scraped} == {sent}
