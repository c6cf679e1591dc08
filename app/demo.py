"""Demo data for `flask seed-demo`: approved hospitals with resources and prices,
one authority per hospital and one patient with a funded wallet. Running it again
changes nothing.

Every row is written by its table's owner (the domains' queries.py), so demo data
obeys the same statements, defaults and guards as data made through the API. The
patient's funds are an admin adjustment through the wallet service (a ledger row and
an audit entry), as an operator funds a wallet by hand: no gateway is involved.
"""
from app.auth import queries as users
from app.auth.passwords import hash_password
from app.db import transaction
from app.hospitals import queries as hospitals
from app.money import format_minor
from app.pricing.queries import insert_price
from app.resources.queries import upsert_counts
from app.timeutil import to_iso
from app.wallet import service as wallet
from app.wallet.queries import count_ledger

DEMO_PASSWORD = "demo-password-1"
# 100,000.00 BDT: enough to pay any demo booking from the wallet, operation theatres included.
PATIENT_FUNDS_MINOR = 10_000_000
FUNDS_REASON = "demo funds (flask seed-demo)"

HOSPITALS = [
    {
        "name": "Dhaka Medical College Hospital",
        "address": "Secretariat Rd, Dhaka 1000",
        "city": "Dhaka",
        "phone": "+880 2 55165001",
        "specialties": ["cardiology", "neurology", "trauma", "general surgery"],
        "license_number": "DGHS-HOSP-0001",
        "facilities": ["ambulance", "pharmacy", "blood bank"],
        "resources": {"beds": 120, "icu": 20, "operationTheatres": 8},
        "authority_email": "authority.dmch@demo.rapidcare.local",
    },
    {
        "name": "Chittagong General Hospital",
        "address": "Anderkilla, Chattogram 4000",
        "city": "Chattogram",
        "phone": "+880 31 619584",
        "specialties": ["pediatrics", "orthopedics", "maternity"],
        "license_number": "DGHS-HOSP-0002",
        "facilities": ["pharmacy", "laboratory"],
        "resources": {"beds": 60, "icu": 8, "operationTheatres": 4},
        "authority_email": "authority.cgh@demo.rapidcare.local",
    },
    {
        "name": "Sylhet Heart Institute",
        "address": "Zindabazar, Sylhet 3100",
        "city": "Sylhet",
        "phone": "+880 821 713667",
        "specialties": ["cardiology", "cardiac surgery"],
        "license_number": "DGHS-HOSP-0003",
        "facilities": ["ambulance", "cath lab"],
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


def _ensure_user(conn, *, name, email, role, password_hash, now):
    row = users.get_user_by_email(conn, email)
    if row:
        return row["id"], False
    user_id = users.insert_user(conn, name=name, email=email, password_hash=password_hash,
                                phone=None, role=role, now=now)
    return user_id, True


def _first_admin_id(conn):
    admins = users.list_users(conn, role="admin", status=None, hospital_id=None,
                              limit=1, offset=0)
    return admins[0]["id"] if admins else None


def _create_hospital(conn, spec, *, authority_id, approver, config, now):
    """The hospital as its authority registers it, approved at once, with resources and prices."""
    fields = {
        "name": spec["name"], "description": None, "address": spec["address"],
        "city": spec["city"], "phone": spec["phone"], "email": None, "website": None,
        "specialties": spec["specialties"], "timezone": config["TIMEZONE"],
        "license_number": spec["license_number"], "facilities": spec["facilities"],
        "operating_hours": "24/7", "emergency_contact": spec["phone"],
    }
    hospital_id = hospitals.insert_hospital(conn, fields=fields, created_by=authority_id,
                                            now=now)
    users.attach_authority(conn, authority_id, hospital_id, now)
    hospitals.approve(conn, hospital_id, approved_by=approver, now=now)
    for resource_type, total in spec["resources"].items():
        upsert_counts(conn, hospital_id=hospital_id, resource_type=resource_type, total=total,
                      occupied=0, reserved=0, maintenance=0, updated_by=authority_id, now=now)
        base, per_hour, per_day, multiplier = PRICES[resource_type]
        insert_price(conn, hospital_id=hospital_id, resource_type=resource_type,
                     base_price_minor=base, price_per_hour_minor=per_hour,
                     price_per_day_minor=per_day, emergency_multiplier_bp=multiplier,
                     currency=config["CURRENCY"], created_by=authority_id, now=now)
    return hospital_id


def seed(conn, config, now):
    """Create what is missing; returns the lines `flask seed-demo` prints."""
    stamp = to_iso(now)
    password_hash = hash_password(DEMO_PASSWORD, int(config["BCRYPT_ROUNDS"]))
    lines = []
    accounts = []  # (user id, role, email, what it is)
    with transaction(conn):
        approver = _first_admin_id(conn)
        for spec in HOSPITALS:
            existing = hospitals.get_hospital_by_name(conn, spec["name"])
            if existing:
                hospital_id = existing["id"]
                lines.append(f"hospital exists: {spec['name']} (id {hospital_id})")
            else:
                authority_id, _ = _ensure_user(
                    conn, name=f"Authority of {spec['name']}", email=spec["authority_email"],
                    role="hospital-authority", password_hash=password_hash, now=stamp,
                )
                hospital_id = _create_hospital(conn, spec, authority_id=authority_id,
                                               approver=approver, config=config, now=stamp)
                lines.append(f"hospital created: {spec['name']} (id {hospital_id})")
            authority = users.get_user_by_email(conn, spec["authority_email"])
            if authority is not None:
                accounts.append((authority["id"], "hospital-authority", spec["authority_email"],
                                 f"authority of hospital {hospital_id}"))
        patient_id, created = _ensure_user(
            conn, name="Demo Patient", email=PATIENT_EMAIL, role="user",
            password_hash=password_hash, now=stamp,
        )
        lines.append(f"patient {'created' if created else 'exists'}: {PATIENT_EMAIL} (id {patient_id})")
        unfunded = count_ledger(conn, patient_id) == 0

    # Its own transaction (the wallet service's); only a wallet never used is funded,
    # so a second run, or a patient who already spent, changes nothing.
    if unfunded:
        wallet.adjust(conn, admin_id=approver, user_id=patient_id,
                      amount_minor=PATIENT_FUNDS_MINOR, reason=FUNDS_REASON, ip_address=None,
                      now=now, currency=config["CURRENCY"])
        lines.append(f"patient wallet funded: {format_minor(PATIENT_FUNDS_MINOR)} "
                     f"{config['CURRENCY']} (an admin adjustment, in the ledger)")
    balance = wallet.get_wallet(conn, patient_id, config["CURRENCY"])
    accounts.append((patient_id, "user", PATIENT_EMAIL,
                     f"patient, wallet {format_minor(balance['balance_minor'])} {balance['currency']}"))

    lines.append(f"demo accounts (every password: {DEMO_PASSWORD}):")
    for user_id, role, email, what in accounts:
        lines.append(f"  id {user_id:<4} {role:<18} {email:<38} {what}")
    return lines
