"""Platform administration: users' account status, platform statistics, gateway config.

Admin-only: a hospital authority manages its hospital, never user accounts,
so listing users and changing their status are admin operations. Every change is written to admin_audit_log in its own
transaction.
"""
import json

from app.admin import queries
from app.auth import queries as users
from app.auth.guards import ROLES
from app.auth.queries import get_user
from app.auth.service import end_sessions
from app.bookings import queries as bookings
from app.db import transaction
from app.errors import Conflict, NotFound
from app.hospitals import queries as hospitals
from app.payments import queries as payments
from app.timeutil import to_iso
from app.vocabulary import BOOKING_STATUSES, GATEWAYS, HOSPITAL_STATUSES


def list_users(conn, *, role, status, hospital_id, limit, offset):
    """One page of users (filters may be None) and the total count."""
    filters = {"role": role, "status": status, "hospital_id": hospital_id}
    total = users.count_users(conn, **filters)
    return users.list_users(conn, **filters, limit=limit, offset=offset), total


def set_user_status(conn, user_id, status, *, admin_id, reason, ip_address, now):
    """Set a user's account status; a user who is no longer active loses every login
    (bearer tokens and cookie sessions), so a later re-activation revives none.

    :raise 404: no such user.
    :raise 409: an admin changing their own status (they could lock everyone out), or an
        account its owner closed (DELETE /api/auth/account).
    """
    if user_id == admin_id:
        raise Conflict("You cannot change your own account status.")
    stamp = to_iso(now)
    with transaction(conn):
        user = get_user(conn, user_id)
        if user is None:
            raise NotFound("User not found.")
        if users.deleted_at(conn, user_id):
            raise Conflict("This account was closed by its owner; its status cannot change.")
        users.set_user_status(conn, user_id, status, stamp)
        if status != "active":
            end_sessions(conn, user_id, now)
        queries.insert_audit_entry(
            conn, actor_id=admin_id, action="user.status", target_type="user", target_id=user_id,
            ip_address=ip_address, now=stamp,
            details={"from": user["status"], "to": status, "reason": reason},
        )
    return get_user(conn, user_id)


def _counts(rows, key, known):
    counts = dict.fromkeys(known, 0)
    counts.update({row[key]: row["n"] for row in rows})
    return counts


def stats(conn, *, currency):
    """Counts by status and role, and revenue from paid booking payments (minor units)."""
    revenue = payments.booking_revenue(conn)
    return {
        "hospitals": _counts(hospitals.count_per_status(conn), "status", HOSPITAL_STATUSES),
        "bookings": _counts(bookings.count_per_status(conn), "status", BOOKING_STATUSES),
        "users": _counts(users.count_users_by_role(conn), "role", ROLES),
        "revenue": {
            **revenue,
            "net_minor": revenue["gross_minor"] - revenue["refunded_minor"],
            "currency": currency,
        },
    }


def _default_config(gateway):
    return {"gateway": gateway, "is_active": True, "mode": "sandbox", "settings": {},
            "updated_at": None}


def payment_configs(conn):
    """Every supported gateway's configuration (the defaults until an admin saves one)."""
    return [payments.get_payment_config(conn, gateway) or _default_config(gateway)
            for gateway in GATEWAYS]


def set_payment_config(conn, changes, *, admin_id, ip_address, now):
    """Admin: change a gateway's non-secret configuration (unsent fields keep their value)."""
    gateway = changes["gateway"]
    stamp = to_iso(now)
    with transaction(conn):
        old = payments.get_payment_config(conn, gateway) or _default_config(gateway)
        new = {field: changes.get(field, old[field]) for field in ("is_active", "mode", "settings")}
        payments.upsert_payment_config(conn, gateway=gateway, **new, now=stamp)
        queries.insert_audit_entry(
            conn, actor_id=admin_id, action="payment_config.set", target_type="payment_config",
            target_id=None, ip_address=ip_address, now=stamp,
            details={"gateway": gateway, "old": {k: old[k] for k in new}, "new": new},
        )
    return payments.get_payment_config(conn, gateway)


def audit_log(conn, filters, *, limit, offset):
    """One page of the admin audit log (newest first) and the total count. ``filters``
    holds only the filters given (keys of app.admin.queries.AUDIT_FILTERS; the two
    ``created_*`` bounds as datetimes)."""
    filters = {key: to_iso(value) if key.startswith("created_") else value
               for key, value in filters.items()}
    total = queries.count_audit_entries(conn, filters)
    rows = queries.list_audit_entries(conn, filters, limit=limit, offset=offset)
    return [{**row, "details": json.loads(row["details"])} for row in rows], total
