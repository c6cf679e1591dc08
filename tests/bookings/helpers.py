"""Builders for booking tests."""
from datetime import timedelta

from app.resources.queries import COUNTER_COLUMNS, live_resource
from app.timeutil import to_iso, utcnow


def future(**delta):
    """An ISO-8601 time with offset, ``delta`` from now (default: two days ahead)."""
    return (utcnow() + (timedelta(**delta) if delta else timedelta(days=2))).isoformat()


def booking_body(hospital, **overrides):
    """A valid POST /api/bookings body for ``hospital``; ``overrides`` replace fields
    (a value of ``...`` removes the field)."""
    body = {
        "hospitalId": hospital["id"],
        "resourceType": "beds",
        "patientName": "Rahima Begum",
        "patientAge": 67,
        "patientGender": "female",
        "medicalCondition": "Pneumonia, needs oxygen support",
        "urgency": "high",
        "emergencyContactName": "Karim Uddin",
        "emergencyContactPhone": "+880 1711-000000",
        "emergencyContactRelationship": "son",
        "scheduledDate": future(),
        "estimatedDuration": 48,
        "notes": "Wheelchair access needed",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def counters(db, hospital_id, resource_type="beds", at=None):
    """The live counters as seen at ``at``: by default one hour into the window of a
    booking scheduled two days ahead (the factory's and booking_body's default), so
    they count what such a booking holds."""
    at = at or utcnow() + timedelta(days=2, hours=1)
    row = live_resource(db, hospital_id, resource_type, to_iso(at))
    return {name: row[name] for name in COUNTER_COLUMNS} if row else None


def stored_counters(db, hospital_id, resource_type="beds"):
    """The stored counters: what the hospital marked by hand."""
    return db.execute(
        """
        SELECT total, available, occupied, reserved, maintenance FROM hospital_resources
        WHERE hospital_id = ? AND resource_type = ?
        """,
        (hospital_id, resource_type),
    ).fetchone()


def history(db, booking_id):
    return db.execute(
        "SELECT old_status, new_status, changed_by, reason FROM booking_status_history "
        "WHERE booking_id = ? ORDER BY id",
        (booking_id,),
    ).fetchall()


def notifications(db, user_id):
    return db.execute(
        "SELECT booking_id, type, message FROM booking_notifications WHERE user_id = ? ORDER BY id",
        (user_id,),
    ).fetchall()
