"""Operations' scheduled jobs (the backup job lives beside the backup code: app.ops.backup)."""
from app.audit import chain
from app.ops import checks


class IntegrityCheckFailed(RuntimeError):
    """The database reported damage; the run is recorded as failed with the details."""


def check_integrity(conn, *, now, config):
    """Hourly PRAGMA quick_check (O(pages), skips index contents; the backup runs the full
    check), then the audit chains: seal what is new, verify every link (recorded for health)."""
    problems = checks.integrity_problems(conn, quick=True)
    if problems:
        raise IntegrityCheckFailed("quick_check: " + "; ".join(problems))
    chain.seal_now(conn, now=now)
    result = chain.verify_and_record(conn, now=now)
    if not result["ok"]:
        raise IntegrityCheckFailed(chain.summary_line(result))
    return "quick_check ok; " + chain.summary_line(result)
