"""Scheduled jobs of the bookings domain (registered by the scheduler process)."""
from datetime import timedelta

from app.bookings import queries
from app.db import transaction
from app.resources import queries as resources
from app.resources import schedule
from app.timeutil import from_iso, to_iso

# How far ahead the overstay job looks for holds an overstaying patient collides with.
COLLISION_HORIZON = timedelta(hours=24)


def notify_overstays(conn, *, now, config):
    """Tell each hospital's authorities, once per booking, of approved bookings whose
    window ended without completion (the patient presumably still holds the unit,
    which the model no longer counts), and of the holds of the next 24 hours that
    this unit is missing for: those starting at an instant where one more unit would
    not fit. The authority completes the booking, extends it (PUT
    /api/bookings/{id}/extend), or marks the unit occupied by hand."""
    now_iso = to_iso(now)
    reported = 0
    with transaction(conn):
        for booking in queries.unreported_overstays(conn, now_iso):
            hospital_id, resource_type = booking["hospital_id"], booking["resource_type"]
            collisions = _collisions(conn, hospital_id, resource_type, now)
            # No patient name: notification messages are stored unencrypted (migration 0120).
            message = (f"Booking {booking['booking_reference']} ({resource_type}) ended at "
                       f"{booking['scheduled_end']} and is not completed. Complete it, "
                       "extend it, or mark the unit occupied.")
            if collisions:
                message += (" If the unit is still in use, these upcoming bookings do not fit: "
                            + ", ".join(collisions) + ".")
            queries.insert_booking_notifications(conn, [
                {"user_id": user_id, "booking_id": booking["id"], "type": "booking_overstay",
                 "title": "Booking overstayed its window", "message": message,
                 "created_at": now_iso}
                for user_id in queries.hospital_authority_ids(conn, hospital_id)
            ])
            queries.mark_overstay_notified(conn, booking["id"], now_iso)
            reported += 1
    return f"reported {reported} overstay(s)"


def _collisions(conn, hospital_id, resource_type, now):
    """References of the approved holds starting within the horizon at an instant where
    one more unit (the overstay's) would exceed what bookings may hold."""
    resource = resources.get_resource(conn, hospital_id, resource_type)
    if resource is None:
        return []
    end = now + COLLISION_HORIZON
    holds = resources.holds_overlapping(conn, hospital_id, resource_type, to_iso(now),
                                        to_iso(end))
    full = {instant for instant, held in schedule.levels(holds, now, end)
            if held + 1 > resource["available"]}
    return [hold["booking_reference"] for hold in holds
            if hold["scheduled_date"] > to_iso(now) and _start(hold) in full]


def _start(hold):
    return from_iso(hold["scheduled_date"])
