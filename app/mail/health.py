"""What the outbox tells an operator: detailed health and /metrics read it from here."""
from datetime import timedelta

from app.mail import queries
from app.timeutil import from_iso, to_iso

STATUSES = ("pending", "sending", "sent", "failed")
# A due message still unsent after this long means delivery is stuck (the scheduler
# is not running, or the SMTP server keeps refusing): worth a warning.
STUCK_AFTER_SECONDS = 3600
# Messages given up on within this window are reported.
FAILED_WINDOW = timedelta(hours=24)


def summary(conn, *, now):
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({row["status"]: row["n"] for row in queries.count_by_status(conn)})
    oldest = queries.oldest_due_pending(conn, now=to_iso(now))
    failed_recently = queries.failures_since(conn, to_iso(now - FAILED_WINDOW))["n"]
    latest = queries.latest_error(conn)
    return {
        "messages": counts,
        "oldest_unsent_age_seconds": (int((now - from_iso(oldest)).total_seconds())
                                      if oldest else None),
        "failed_last_day": failed_recently,
        # Errors are recorded as an exception class and SMTP code only: no addresses.
        "latest_error": None if latest is None else {
            "message_id": latest["id"], "status": latest["status"],
            "attempts": latest["attempts"], "error": latest["last_error"],
            "at": latest["updated_at"],
        },
    }


def warnings(mail):
    found = []
    if mail["failed_last_day"]:
        found.append(f"{mail['failed_last_day']} mail message(s) could not be delivered in the "
                     "last 24 hours")
    age = mail["oldest_unsent_age_seconds"]
    if age is not None and age > STUCK_AFTER_SECONDS:
        found.append(f"mail is not going out: the oldest unsent message is {age // 60} minutes old")
    return found
