"""Demo data for `flask seed-demo`: approved hospitals with resources and prices,
one authority per hospital and one patient. Running it again changes nothing."""
import json

from app.auth.passwords import hash_password
from app.db import transaction
from app.timeutil import to_iso

DEMO_PASSWORD = "demo-password-1"

HOSPITALS = [
    {
        "name": "Dhaka Medical College Hospital",
        "address": "Secretariat Rd, Dhaka 1000",
        "city": "Dhaka",
        "phone": "+880 2 55165001",
        "specialties": ["cardiology", "neurology", "trauma", "general surgery"],
        "resources": {"beds": 120, "icu": 20, "operationTheatres": 8},
        "authority_email": "authority.dmch@demo.rapidcare.local",
    },
    {
        "name": "Chittagong General Hospital",
        "address": "Anderkilla, Chattogram 4000",
        "city": "Chattogram",
        "phone": "+880 31 619584",
        "specialties": ["pediatrics", "orthopedics", "maternity"],
        "resources": {"beds": 60, "icu": 8, "operationTheatres": 4},
        "authority_email": "authority.cgh@demo.rapidcare.local",
    },
    {
        "name": "Sylhet Heart Institute",
        "address": "Zindabazar, Sylhet 3100",
        "city": "Sylhet",
        "phone": "+880 821 713667",
        "specialties": ["cardiology", "cardiac surgery"],
        "resources": {"beds": 40, "icu": 12, "operationTheatres": 3},
        "authority_email": "authority.shi@demo.rapidcare.local",
    },
]

# Per resource type: base price, per hour, per day, emergency multiplier (minor units, basis points)
PRICES = {
    "beds": (150000, 0, 200000, 15000),
    "icu": (500000, 50000, 0, 15000),
    "operationTheatres": (2500000, 300000, 0, 12500),
}

PATIENT_EMAIL = "patient@demo.rapidcare.local"


def _ensure_user(conn, *, name, email, role, password_hash, now, hospital_id=None):
    row = conn.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
    if row:
        return row["id"], False
    user_id = conn.execute(
        """
        INSERT INTO users (name, email, password_hash, role, hospital_id, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id
        """,
        (name, email, password_hash, role, hospital_id, now, now),
    ).fetchone()["id"]
    return user_id, True


def seed(conn, config, now):
    stamp = to_iso(now)
    password_hash = hash_password(DEMO_PASSWORD, int(config["BCRYPT_ROUNDS"]))
    lines = []
    with transaction(conn):
        admin = conn.execute("SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1").fetchone()
        approver = admin["id"] if admin else None
        for spec in HOSPITALS:
            existing = conn.execute(
                "SELECT id FROM hospitals WHERE name = ?", (spec["name"],)
            ).fetchone()
            if existing:
                lines.append(f"hospital exists: {spec['name']} (id {existing['id']})")
                continue
            hospital_id = conn.execute(
                """
                INSERT INTO hospitals (name, address, city, phone, specialties, status,
                                       approved_by, approved_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, 'approved', ?, ?, ?, ?) RETURNING id
                """,
                (spec["name"], spec["address"], spec["city"], spec["phone"],
                 json.dumps(spec["specialties"]), approver, stamp, stamp, stamp),
            ).fetchone()["id"]
            authority_id, _ = _ensure_user(
                conn, name=f"Authority of {spec['name']}", email=spec["authority_email"],
                role="hospital-authority", password_hash=password_hash, now=stamp,
                hospital_id=hospital_id,
            )
            conn.execute("UPDATE hospitals SET created_by = ? WHERE id = ?", (authority_id, hospital_id))
            for resource_type, total in spec["resources"].items():
                conn.execute(
                    """
                    INSERT INTO hospital_resources (hospital_id, resource_type, total, available,
                                                    updated_by, last_updated)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                    (hospital_id, resource_type, total, total, authority_id, stamp),
                )
                base, per_hour, per_day, multiplier = PRICES[resource_type]
                conn.execute(
                    """
                    INSERT INTO hospital_pricing (hospital_id, resource_type, base_price_minor,
                        price_per_hour_minor, price_per_day_minor, emergency_multiplier_bp,
                        effective_from, created_by, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    (hospital_id, resource_type, base, per_hour, per_day, multiplier,
                     stamp, authority_id, stamp),
                )
            lines.append(f"hospital created: {spec['name']} (id {hospital_id}), "
                         f"authority {spec['authority_email']}")
        _, created = _ensure_user(
            conn, name="Demo Patient", email=PATIENT_EMAIL, role="user",
            password_hash=password_hash, now=stamp,
        )
        lines.append(f"patient {'created' if created else 'exists'}: {PATIENT_EMAIL}")
    lines.append(f"every demo account's password: {DEMO_PASSWORD}")
    return lines
