"""Operations' scheduled jobs (the backup job lives beside the backup code: app.ops.backup)."""
from app.ops import checks


class IntegrityCheckFailed(RuntimeError):
    """The database reported damage; the run is recorded as failed with the details."""


def check_integrity(conn, *, now, config):
    """Hourly PRAGMA quick_check (O(pages), skips index contents; the backup runs the full check)."""
    problems = checks.integrity_problems(conn, quick=True)
    if problems:
        raise IntegrityCheckFailed("quick_check: " + "; ".join(problems))
    return "quick_check ok"
