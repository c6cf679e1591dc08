"""Test data builders that write straight to the database (fast: no bcrypt, no HTTP).

Each returns the new row as a dict. ``auth(user)`` gives the headers of a live
bearer token for that user, so HTTP tests can act as any role.
"""
import itertools
import json
from dataclasses import dataclass
from datetime import timedelta

from app.auth.passwords import hash_password
from app.auth.tokens import new_token
from app.bookings import queries as booking_queries
from app.crypto import fields as crypto_fields
from app.db import transaction
from app.timeutil import from_iso, local_date, to_iso, utcnow

PASSWORD = "correct-horse-1"
_PASSWORD_HASH = hash_password(PASSWORD, 4)
_seq = itertools.count(1)


class Factory:
    def __init__(self, conn, *, sealed=True):
        """``sealed=False``: bookings in plaintext, as before migration 0120 (for tests
        of older schemas, which have neither the room for sealed values nor the blind
        index, nor before 0142 the column that holds a booking's sealed fields)."""
        self.conn = conn
        self.sealed = sealed

    def user(self, role="user", *, hospital_id=None, status="active", email=None, name=None):
        n = next(_seq)
        now = to_iso(utcnow())
        with transaction(self.conn):
            row = self.conn.execute(
                """
                INSERT INTO users (name, email, password_hash, role, hospital_id, status,
                                   created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *
                """,
                (name or f"{role} {n}", email or f"{role}{n}@example.test", _PASSWORD_HASH,
                 role, hospital_id, status, now, now),
            ).fetchone()
        return row

    def admin(self):
        return self.user("admin")

    def hospital(self, *, status="approved", name=None, resources=None, prices=None,
                 specialties=("general",), address=None, city="Dhaka", facilities=(),
                 license_number=""):
        """A hospital; ``resources={"beds": 5}`` adds rows with everything available,
        ``prices={"beds": 150000}`` adds active prices (base price in poisha). It has a
        licence number of its own unless ``license_number`` says otherwise (None: none)."""
        n = next(_seq)
        now = to_iso(utcnow())
        if license_number == "":
            license_number = f"LIC-{n:06d}"
        with transaction(self.conn):
            hospital = self.conn.execute(
                """
                INSERT INTO hospitals (name, address, city, specialties, facilities, license_number,
                                       status, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *
                """,
                (name or f"Hospital {n}", address or f"{n} Test Road", city,
                 json.dumps(list(specialties)), json.dumps(list(facilities)), license_number,
                 status, now, now),
            ).fetchone()
            for resource_type, total in (resources or {}).items():
                self.conn.execute(
                    """
                    INSERT INTO hospital_resources (hospital_id, resource_type, total, available, last_updated)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                    (hospital["id"], resource_type, total, total, now),
                )
            for resource_type, base_price_minor in (prices or {}).items():
                self.conn.execute(
                    """
                    INSERT INTO hospital_pricing (hospital_id, resource_type, base_price_minor,
                                                  effective_from, created_at)
                    VALUES (?, ?, ?, ?, ?)
                    """,
                    (hospital["id"], resource_type, base_price_minor, now, now),
                )
        return hospital

    def authority(self, hospital):
        return self.user("hospital-authority", hospital_id=hospital["id"])

    def booking(self, user, hospital, *, resource_type="beds", status="pending",
                urgency="medium", scheduled_in=timedelta(days=2), **fields):
        """A booking inserted directly (pending unless told otherwise; an 'approved'
        one holds a unit for its window, as an approval would, without checking that
        it fits). One user may hold one open booking per hospital, type and day: vary
        ``scheduled_in`` for more."""
        n = next(_seq)
        now = utcnow()
        scheduled = now + scheduled_in
        with transaction(self.conn):
            row = self.conn.execute(
                """
                INSERT INTO booking_reference_counters (year, last_value) VALUES (?, 1)
                ON CONFLICT (year) DO UPDATE SET last_value = booking_reference_counters.last_value + 1
                RETURNING last_value
                """,
                (now.year,),
            ).fetchone()
            reference = f"RC-{now.year}-{row['last_value']:06d}"
            values = {
                "booking_reference": reference, "user_id": user["id"],
                "hospital_id": hospital["id"], "resource_type": resource_type,
                "patient_name": f"Patient {n}", "patient_age": 40, "patient_gender": "female",
                "medical_condition": "Observation", "urgency": urgency,
                "emergency_contact_name": "Kin", "emergency_contact_phone": "+8801700000000",
                "emergency_contact_relationship": "sibling",
                "scheduled_date": to_iso(scheduled),
                # The hospital's calendar day, as the service writes it (not UTC's: at
                # 19:00 UTC it is already tomorrow in Dhaka).
                "scheduled_day": local_date(scheduled, hospital.get("timezone") or "Asia/Dhaka").isoformat(),
                "estimated_duration_hours": 24, "status": "pending",
                "status_changed_by": user["id"], "created_at": to_iso(now), "updated_at": to_iso(now),
            }
            values.update(fields)
            if "scheduled_end" not in fields:
                values["scheduled_end"] = to_iso(
                    from_iso(values["scheduled_date"])
                    + timedelta(hours=values["estimated_duration_hours"]))
            # sealed and indexed as the service stores them (app.bookings.queries)
            stored = crypto_fields.seal_row("bookings", values, reference) if self.sealed else values
            columns = ", ".join(stored)
            placeholders = ", ".join(f":{c}" for c in stored)
            booking = self.conn.execute(
                f"INSERT INTO bookings ({columns}) VALUES ({placeholders}) RETURNING *", stored,
            ).fetchone()
            if self.sealed:
                booking_queries.insert_name_tokens(self.conn, booking["id"], values["patient_name"])
            if status == "approved":
                booking = self.conn.execute(
                    """
                    UPDATE bookings SET status = 'approved', allocated_units = 1,
                           approved_at = :now, updated_at = :now
                    WHERE id = :id RETURNING *
                    """,
                    {"now": to_iso(now), "id": booking["id"]},
                ).fetchone()
            elif status != "pending":
                path = ["approved", "completed"] if status == "completed" else [status]
                for step in path:  # the transition trigger allows no shortcut
                    booking = self.conn.execute(
                        "UPDATE bookings SET status = ?, updated_at = ? WHERE id = ? RETURNING *",
                        (step, to_iso(now), booking["id"]),
                    ).fetchone()
        return crypto_fields.open_row("bookings", booking)

    def token(self, user, *, ttl=timedelta(hours=1)):
        token, token_hash = new_token()
        now = utcnow()
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (user["id"], token_hash, to_iso(now), to_iso(now + ttl)),
            )
        return token

    def auth(self, user):
        """Headers that authenticate as ``user``."""
        return {"Authorization": f"Bearer {self.token(user)}"}


@dataclass
class World:
    """The one cast of the scenario tests: an approved hospital with beds, ICU and
    prices, and its authority; a second hospital with its own authority; two patients
    and an admin. ``headers[role]`` authenticates as each role ("anonymous": none),
    ``make`` arranges more in the same database."""

    hospital: dict
    other_hospital: dict
    authority: dict
    other_authority: dict
    patient: dict
    other_patient: dict
    admin: dict
    headers: dict
    make: Factory


def build_world(make, *, status="approved", resources=None, prices=None, other_prices=None):
    """The cast (the ``world`` fixture), its first hospital in ``status``. The hospitals'
    stock and prices default to what the hospital, resource and pricing tests count
    on; the booking tests ask for theirs (tests/bookings/conftest.py)."""
    hospital = make.hospital(status=status, name="Dhaka Heart Centre",
                             resources=resources or {"beds": 10, "icu": 2},
                             prices=prices or {"beds": 150000}, specialties=("cardiology",))
    other = make.hospital(name="Sylhet General", resources={"beds": 5}, prices=other_prices)
    people = {
        "authority": make.authority(hospital),
        "other_authority": make.authority(other),
        "patient": make.user(),
        "other_patient": make.user(),
        "admin": make.admin(),
    }
    headers = {role: make.auth(user) for role, user in people.items()}
    headers["anonymous"] = {}
    return World(hospital=hospital, other_hospital=other, headers=headers, make=make, **people)
