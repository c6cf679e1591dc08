"""Builders for blood tests: requests written straight to the database."""
import uuid
from datetime import timedelta

from app.crypto import fields as crypto_fields
from app.db import transaction
from app.timeutil import to_iso, utcnow

VALID_REQUEST = {
    "patientName": "Rahima Begum",
    "bloodType": "A+",
    "unitsNeeded": 2,
    "urgency": "high",
    "contactPhone": "+8801712345678",
    "location": "Dhaka Medical College, Ward 5",
}


def insert_blood_request(conn, requester, *, created_at=None, required_in=None,
                         required_by=None, **fields):
    """A blood request inserted directly (active unless ``status=`` says otherwise).

    ``required_in`` (a timedelta from now) or ``required_by`` (an aware datetime) set the
    deadline; ``created_at`` (aware datetime) orders otherwise-equal requests.
    """
    now = utcnow()
    if required_in is not None:
        required_by = now + required_in
    values = {
        "requester_id": requester["id"], "patient_name": "Patient", "blood_type": "A+",
        "units_needed": 1, "urgency": "medium", "hospital_id": None,
        "contact_phone": "+8801700000000", "location": "Dhaka", "status": "active",
        "required_by": to_iso(required_by) if required_by else None,
        "created_at": to_iso(created_at or now), "updated_at": to_iso(created_at or now),
    }
    values.update(fields)
    values.setdefault("record_key", uuid.uuid4().hex)
    columns = ", ".join(values)
    placeholders = ", ".join(f":{c}" for c in values)
    with transaction(conn):
        # sealed as the service stores them (app.blood.queries)
        return crypto_fields.open_row("blood_requests", conn.execute(
            f"INSERT INTO blood_requests ({columns}) VALUES ({placeholders}) RETURNING *",
            crypto_fields.seal_row("blood_requests", values, values["record_key"]),
        ).fetchone())


def past(**kwargs):
    return utcnow() - timedelta(**kwargs)


def future(**kwargs):
    return utcnow() + timedelta(**kwargs)
