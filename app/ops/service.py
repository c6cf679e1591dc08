"""Monitoring: what the health, migrations and metrics endpoints report."""
import os
import time

from app import migrator
from app.audit import chain as audit_chain
from app.bookings.queries import count_per_status as count_bookings_per_status
from app.db import slow_queries
from app.mail import health as mail_health
from app.ops import checks, invariants, metrics, postgres_health, queries
from app.ops.backup import latest_backup
from app.ops.scheduler import JOBS
from app.timeutil import from_iso, to_iso
from app.vocabulary import BOOKING_STATUSES

# A failed job's message in its warning: enough for the reason, not a traceback.
MAX_REASON_CHARS = 200


def _file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def migration_status(conn, config):
    rows = migrator.status(conn, config["MIGRATIONS_DIR"])
    applied = [row for row in rows if row["applied"]]
    pending = [row for row in rows if not row["applied"]]
    return {"applied": applied, "pending": pending, "up_to_date": not pending}


def last_backup(config, now):
    backup = latest_backup(config["BACKUP_DIR"])
    if backup is None:
        return None
    return {"file": backup.path.name, "created_at": to_iso(backup.created_at),
            "age_seconds": int((now - backup.created_at).total_seconds()),
            "size_bytes": backup.size}


def job_summaries(conn):
    """The last run of every scheduled job (and of any other job that has run)."""
    latest = {row["job_name"]: row for row in queries.latest_job_runs(conn)}
    names = [spec.name for spec in JOBS] + sorted(set(latest) - {spec.name for spec in JOBS})
    scheduled = {spec.name for spec in JOBS}
    return [{"name": name, "scheduled": name in scheduled, "last_run": latest.get(name)}
            for name in names]


def _sqlite_facts(conn, config):
    database = config["DATABASE"]
    started = time.monotonic()
    quick_check = checks.integrity_problems(conn, quick=True)
    quick_check_ms = round((time.monotonic() - started) * 1000, 1)
    return {
        "backend": "sqlite",
        "path": database,
        "journal_mode": queries.pragma_value(conn, "journal_mode"),
        "foreign_keys": bool(queries.pragma_value(conn, "foreign_keys")),
        "quick_check": "ok" if not quick_check else "; ".join(quick_check),
        "quick_check_ms": quick_check_ms,
        "size_bytes": _file_size(database),
        "wal_size_bytes": _file_size(f"{database}-wal"),
        "page_size": queries.pragma_value(conn, "page_size"),
        "page_count": queries.pragma_value(conn, "page_count"),
        "freelist_count": queries.pragma_value(conn, "freelist_count"),
    }


def health_findings(*, config, now, migrations, backup, jobs, wal_size_bytes, quick_check_ms):
    """(warnings, notes): what needs an operator's attention, each with its reason, and
    what is only worth knowing. The thresholds are HEALTH_* settings."""
    warnings, notes = [], []
    if migrations["pending"]:
        warnings.append(f"{len(migrations['pending'])} migration(s) pending")

    max_age_hours = config["HEALTH_BACKUP_MAX_AGE_HOURS"]
    if backup is not None:
        if backup["age_seconds"] > max_age_hours * 3600:
            warnings.append(f"the last backup is {backup['age_seconds'] // 3600} hours old (more than "
                            f"HEALTH_BACKUP_MAX_AGE_HOURS={max_age_hours})")
    else:
        # A new database has had no chance of a backup yet: that is no fault until
        # the backup job has had its day.
        created = migrations["applied"][0]["appliedAt"] if migrations["applied"] else None
        age_hours = (now - from_iso(created)).total_seconds() / 3600 if created else 0
        if age_hours > max_age_hours:
            warnings.append(f"no backup yet, {int(age_hours)} hours after the database was created "
                            f"(more than HEALTH_BACKUP_MAX_AGE_HOURS={max_age_hours})")
        else:
            notes.append("no backup yet (the backup job makes one daily at 03:30; "
                         "scripts/backup-database makes one now)")

    for job in jobs:
        run = job["last_run"]
        if run is not None and run["status"] == "failed":
            warnings.append(f"the last run of job {job['name']} failed at {run['finished_at']}: "
                            f"{(run['message'] or 'no message')[:MAX_REASON_CHARS]}")

    wal_limit_mb = config["HEALTH_WAL_WARN_MB"]
    if wal_size_bytes > wal_limit_mb * 1024 * 1024:
        warnings.append(f"the WAL is {wal_size_bytes / 1024 / 1024:.1f} MB (more than "
                        f"HEALTH_WAL_WARN_MB={wal_limit_mb}): checkpoints are not keeping up; "
                        f"`flask db maintenance` truncates it when the database is quiet")
    slow_ms = config["HEALTH_INTEGRITY_CHECK_WARN_MS"]
    if quick_check_ms > slow_ms:
        warnings.append(f"quick_check took {quick_check_ms} ms (more than "
                        f"HEALTH_INTEGRITY_CHECK_WARN_MS={slow_ms})")
    return warnings, notes


def detailed_health(conn, config, *, now):
    """Everything an operator checks first; ``status`` is "failing" when the database
    itself is unwell, "degraded" when something needs attention (see ``warnings``);
    ``notes`` need none."""
    if conn.dialect == "postgres":
        database = postgres_health.facts(conn)
        failing, database_warnings = False, postgres_health.warnings(database)
        wal_size_bytes, quick_check_ms = 0, 0  # SQLite's thresholds; PostgreSQL has its own above
    else:
        database = _sqlite_facts(conn, config)
        failing = (database["quick_check"] != "ok" or database["journal_mode"] != "wal"
                   or not database["foreign_keys"])
        database_warnings = []
        wal_size_bytes, quick_check_ms = database["wal_size_bytes"], database["quick_check_ms"]
    migrations = migration_status(conn, config)
    backup = last_backup(config, now)
    jobs = job_summaries(conn)

    warnings, notes = health_findings(
        config=config, now=now, migrations=migrations, backup=backup, jobs=jobs,
        wal_size_bytes=wal_size_bytes, quick_check_ms=quick_check_ms,
    )
    warnings = database_warnings + warnings
    mail = mail_health.summary(conn, now=now)
    warnings.extend(mail_health.warnings(mail))
    broken = invariants.broken_checks(conn, invariants.HEALTH_CHECKS)
    if broken:
        warnings.append(f"{len(broken)} invariant(s) broken: {', '.join(broken)}")
    # The last `flask audit verify` / integrity job (verifying every link here would cost O(rows)).
    audit = audit_chain.latest_check(conn)
    if audit is not None and audit["status"] != "ok":
        warnings.append(f"audit chain broken: {audit['problem']}")
    return {
        "status": "failing" if failing else ("degraded" if warnings else "ok"),
        "checked_at": to_iso(now),
        "warnings": warnings,
        "notes": notes,
        "database": database,
        "row_counts": {table: queries.row_count(conn, table) for table in queries.MONITORED_TABLES},
        "last_backup": backup,
        "jobs": jobs,
        "mail": mail,
        "audit_chain": audit,
        "migrations": {
            "applied": len(migrations["applied"]),
            "pending": [row["version"] for row in migrations["pending"]],
            "latest_applied": migrations["applied"][-1]["version"] if migrations["applied"] else None,
            "up_to_date": migrations["up_to_date"],
        },
        "slow_queries": slow_queries.slowest_recent(),
    }


def metrics_text(conn, config, *, now):
    """The /metrics body: request metrics of every worker plus database gauges."""
    database = config["DATABASE"]
    bookings = dict.fromkeys(BOOKING_STATUSES, 0)
    bookings.update({row["status"]: row["n"] for row in count_bookings_per_status(conn)})
    if conn.dialect == "postgres":
        sizes = {("main",): queries.postgres_database_size(conn)}
    else:
        sizes = {("main",): _file_size(database), ("wal",): _file_size(f"{database}-wal")}
    gauges = [
        ("rapidcare_database_size_bytes", "Size of the database files", ("file",), sizes),
        ("rapidcare_bookings", "Bookings by status", ("status",),
         {(status,): count for status, count in bookings.items()}),
    ]
    backup = latest_backup(config["BACKUP_DIR"])
    if backup is not None:
        gauges.append(("rapidcare_backup_last_timestamp_seconds",
                       "When the newest backup was taken (Unix time)", (),
                       {(): backup.created_at.timestamp()}))
        gauges.append(("rapidcare_backup_last_age_seconds", "Age of the newest backup", (),
                       {(): (now - backup.created_at).total_seconds()}))
    mail = mail_health.summary(conn, now=now)
    gauges.append(("rapidcare_mail_messages", "Outgoing mail in the outbox by status", ("status",),
                   {(status,): n for status, n in mail["messages"].items()}))
    gauges.append(("rapidcare_mail_failed_last_24h",
                   "Messages given up on (permanent refusal or too many attempts) in the last 24 hours",
                   (), {(): mail["failed_last_day"]}))
    gauges.append(("rapidcare_mail_oldest_unsent_age_seconds",
                   "Age of the oldest due message not yet sent (0 when none)", (),
                   {(): mail["oldest_unsent_age_seconds"] or 0}))
    successes = queries.latest_successful_job_runs(conn)
    if successes:
        gauges.append(("rapidcare_job_last_success_timestamp_seconds",
                       "When each job last succeeded (Unix time)", ("job",),
                       {(row["job_name"],): from_iso(row["finished_at"]).timestamp()
                        for row in successes}))
    return metrics.render(gauges)
