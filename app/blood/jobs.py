"""Scheduled jobs of the blood domain (registered by the scheduler process)."""
from app.blood import queries
from app.bookings.queries import insert_blood_request_notifications
from app.db import transaction
from app.timeutil import to_iso


def expire_blood_requests(conn, *, now, config):
    """Mark every active request past its ``requiredBy`` as expired and tell its requester.

    One guarded UPDATE inside one transaction, so a request closed meanwhile
    (fulfilled, cancelled) is never touched, and running it twice is harmless.
    """
    now_iso = to_iso(now)
    with transaction(conn):
        expired = queries.expire_overdue_requests(conn, now_iso)
        insert_blood_request_notifications(conn, [
            {
                "user_id": row["requester_id"], "blood_request_id": row["id"],
                "type": "blood_request_expired", "title": "Blood request expired",
                "message": f"Your blood request #{row['id']} ({row['blood_type']}) passed its "
                           "required-by time and has expired.",
                "created_at": now_iso,
            }
            for row in expired
        ])
    return f"expired {len(expired)} blood request(s)"
