"""The one process that runs the periodic jobs: ``scripts/scheduler`` (``python -m app.ops.scheduler``).

gunicorn workers never run jobs. This process does, and only one of it runs
the jobs of a database at a time:

- SQLite: it holds ``<database>.scheduler.lock`` exclusively (flock), so a second
  instance exits at once with a message. It also holds the service lock shared,
  so ``restore-database`` will not swap the database under a running job.
- PostgreSQL: schedulers may run on several hosts. Each holds a connection that
  asks for one session advisory lock; the one that gets it runs every job, the
  others stand by and ask again every STANDBY_POLL_SECONDS. The lock vanishes
  with its session, so when the running scheduler dies (or its host does) a
  standby takes over; no job ever runs in two schedulers at once.

Every job is ``fn(conn, *, now, config) -> str``; ``run_job`` gives it a
connection of its own, records the run in job_runs (start, finish, status,
message) and logs the outcome. APScheduler runs each job with max_instances=1
(a job never overlaps itself), coalesce (a backlog of missed runs is one run)
and a misfire grace time (a run delayed longer than that is skipped, not run
late).
"""
import argparse
import importlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from app import files
from app.db import connect_from_config, transaction
from app.ops import locks, queries
from app.timeutil import to_iso, utcnow

log = logging.getLogger("rapidcare.jobs")

MAX_MESSAGE_CHARS = 2000

# pg_advisory_lock key of "the scheduler of this database" ("RCsched").
SCHEDULER_LOCK_KEY = 0x5243736368656400
STANDBY_POLL_SECONDS = 5


@dataclass(frozen=True)
class JobSpec:
    name: str
    target: str  # "module:function", imported when the scheduler starts
    trigger: str  # an APScheduler trigger: "cron" (in TIMEZONE) or "interval"
    trigger_args: dict = field(default_factory=dict)
    misfire_grace_seconds: int = 900


# Every periodic job, in one place. Cron times are in the configured TIMEZONE.
JOBS = [
    JobSpec("backup", "app.ops.backup:run_backup", "cron", {"hour": 3, "minute": 30}, 3 * 3600),
    JobSpec("integrity-check", "app.ops.jobs:check_integrity", "interval", {"hours": 1}, 30 * 60),
    JobSpec("blood-request-expiry", "app.blood.jobs:expire_blood_requests", "interval", {"minutes": 15}, 10 * 60),
    JobSpec("payment-reconciliation", "app.reconciliation.jobs:reconcile_daily", "cron",
            {"hour": 2, "minute": 0}, 3 * 3600),
    JobSpec("idempotency-key-purge", "app.payments.jobs:purge_idempotency_keys", "interval", {"hours": 1}, 30 * 60),
    # Hourly, so a WAL grown by a burst of writes is truncated within the hour once quiet.
    JobSpec("database-maintenance", "app.ops.maintenance:run_maintenance", "cron", {"minute": 45}, 30 * 60),
    JobSpec("mail-delivery", "app.mail.jobs:deliver_mail", "interval", {"minutes": 1}, 10 * 60),
    JobSpec("booking-overstay", "app.bookings.jobs:notify_overstays", "interval", {"minutes": 15}, 10 * 60),
    # Every minute: an audit row is tamper-evident from its first seal on (app.audit.chain).
    JobSpec("audit-seal", "app.audit.jobs:seal_audit_chains", "interval", {"minutes": 1}, 10 * 60),
]


def resolve(target):
    module_name, _, function_name = target.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def run_job(spec, config, *, clock=utcnow):
    """Run one job on its own connection and record it in job_runs; returns (status, message)."""
    function = resolve(spec.target)
    conn = connect_from_config(config)
    try:
        started = clock()
        with transaction(conn):
            run_id = queries.insert_job_run(conn, job_name=spec.name, started_at=to_iso(started))
        try:
            message, status = str(function(conn, now=started, config=config)), "succeeded"
        except Exception as error:  # any failure is recorded; the scheduler goes on
            log.exception("job %s failed", spec.name)
            message, status = f"{type(error).__name__}: {error}", "failed"
        if conn.in_transaction:
            conn.rollback()  # whatever a failed job left open is not ours to commit
        finished = clock()
        with transaction(conn):
            queries.finish_job_run(conn, run_id, finished_at=to_iso(finished), status=status,
                                   message=message[:MAX_MESSAGE_CHARS])
    finally:
        conn.close()
    log.log(logging.INFO if status == "succeeded" else logging.ERROR, json.dumps({
        "job": spec.name, "status": status, "seconds": round((finished - started).total_seconds(), 3),
        "message": message[:MAX_MESSAGE_CHARS],
    }))
    return status, message


def build_scheduler(config, jobs=JOBS):
    """A BlockingScheduler with every job added (not started). Imports every job now,
    so a missing module fails at start rather than at 2 in the morning."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=ZoneInfo(config["TIMEZONE"]))
    for spec in jobs:
        resolve(spec.target)
        scheduler.add_job(
            run_job, spec.trigger, args=(spec, config), id=spec.name, name=spec.name,
            max_instances=1, coalesce=True, misfire_grace_time=spec.misfire_grace_seconds,
            **spec.trigger_args,
        )
    return scheduler


def describe(scheduler):
    now = datetime.now(scheduler.timezone)
    for job in scheduler.get_jobs():
        next_run = job.trigger.get_next_fire_time(None, now)
        yield f"{job.id}: {job.trigger} (next {next_run:%Y-%m-%d %H:%M %Z})"


def _database_ready(config):
    if config.get("DATABASE_URL"):
        # Not the service's role: on an unmigrated database it may not exist yet.
        conn = connect_from_config(config, as_owner=True)
        try:
            found = conn.execute("SELECT to_regclass('job_runs') IS NOT NULL AS found").fetchone()["found"]
        finally:
            conn.close()
        return None if found else "the database is not migrated; run `flask db upgrade`"
    database = config["DATABASE"]
    if not os.path.isfile(database):
        return f"no database at {database} (scripts/serve or `flask db upgrade` creates it)"
    conn = connect_from_config(config)
    try:
        found = conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'job_runs'").fetchone()
    finally:
        conn.close()
    return None if found else f"{database} is not migrated; run `flask db upgrade`"


def main(argv=None):
    from app.config import standalone_config

    parser = argparse.ArgumentParser(
        prog="scheduler", description="Run the periodic jobs (one scheduler per database)."
    )
    parser.add_argument("--list", action="store_true", help="show the jobs and their schedule")
    parser.add_argument("--run", metavar="JOB", choices=[spec.name for spec in JOBS],
                        help="run one job now (recorded in job_runs), then exit")
    args = parser.parse_args(argv)
    files.owner_only_umask()  # backups, mail files, the database: owner-only (app/files.py)
    config = standalone_config()
    logging.basicConfig(
        level=config["LOG_LEVEL"], stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.list:
        for line in describe(build_scheduler(config)):
            print(line)
        return 0

    if config.get("DATABASE_URL"):
        return _main_postgres(args, config)
    database = config["DATABASE"]
    lock_path = locks.scheduler_lock_path(database)
    try:
        scheduler_lock = locks.acquire(lock_path, exclusive=True)
    except locks.LockHeld:
        owner = locks.read_owner(lock_path) or "unknown"
        print(f"scheduler REFUSED: another scheduler (pid {owner}) is already running for "
              f"{database} ({lock_path} is locked)", file=sys.stderr)
        return 1
    locks.write_owner(scheduler_lock)
    problem = _database_ready(config)
    if problem:
        print(f"scheduler REFUSED: {problem}", file=sys.stderr)
        return 1
    try:
        service_lock = locks.acquire(locks.service_lock_path(database), exclusive=False,
                                     wait_seconds=60)
    except locks.LockHeld:
        print("scheduler REFUSED: a database restore is in progress", file=sys.stderr)
        return 1

    try:
        return _run(args, config, database)
    finally:
        service_lock.close()
        scheduler_lock.close()


def _main_postgres(args, config):
    """The PostgreSQL form of main(): stand by until this scheduler holds the advisory lock."""
    problem = _database_ready(config)
    if problem:
        print(f"scheduler REFUSED: {problem}", file=sys.stderr)
        return 1
    holder = connect_from_config(config)  # the lock lives as long as this session
    try:
        announced = False
        while not holder.execute("SELECT pg_try_advisory_lock(?) AS got",
                                 (SCHEDULER_LOCK_KEY,)).fetchone()["got"]:
            if args.run:
                print("scheduler REFUSED: another scheduler holds this database's scheduler lock",
                      file=sys.stderr)
                return 1
            if not announced:
                print("scheduler: standing by (another scheduler runs the jobs of this database)",
                      flush=True)
                announced = True
            time.sleep(STANDBY_POLL_SECONDS)
        return _run(args, config, "the PostgreSQL database")
    finally:
        holder.close()


def _run(args, config, database):
    """Once this process is the database's one scheduler: tidy up, then run a job or all of them."""
    from app.config import PROJECT_ROOT

    for path in files.restrict_service_files(config, instance_path=PROJECT_ROOT / "instance"):
        log.warning("%s was readable by others; now owner-only", path)
    conn = connect_from_config(config)
    try:
        with transaction(conn):
            interrupted = queries.fail_unfinished_job_runs(
                conn, finished_at=to_iso(utcnow()), message="interrupted: the scheduler stopped")
    finally:
        conn.close()
    if interrupted:
        log.warning("marked %d interrupted job run(s) as failed", interrupted)

    if args.run:
        spec = next(spec for spec in JOBS if spec.name == args.run)
        status, message = run_job(spec, config)
        print(f"{spec.name} {status}: {message}")
        return 0 if status == "succeeded" else 1

    scheduler = build_scheduler(config)
    # Stop taking new runs; a job already running finishes before the process exits.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.shutdown(wait=False))
    print(f"scheduler: started for {database} (pid {os.getpid()}, TIMEZONE "
          f"{config['TIMEZONE']})", flush=True)
    for line in describe(scheduler):
        print(f"scheduler:   {line}", flush=True)
    scheduler.start()
    print("scheduler: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
