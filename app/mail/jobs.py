"""The mail domain's scheduled job (registered in app/ops/scheduler.py JOBS)."""
from app.mail.delivery import MailDeliveryFailed, deliver_due


def deliver_mail(conn, *, now, config):
    """Send the outbox's due messages. A run in which any message failed is recorded
    as failed (so detailed health warns); the messages themselves carry their state."""
    counts = deliver_due(conn, now=now, config=config)
    summary = (f"sent {counts['sent']}, retrying {counts['retrying']}, failed {counts['failed']}"
               f" (resent after an interruption: {counts['requeued']})")
    if counts["retrying"] or counts["failed"]:
        raise MailDeliveryFailed(summary)
    return summary
