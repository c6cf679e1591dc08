"""Hospital rules: who may see or manage a hospital, onboarding, discovery and approval.

Lifecycle (backed by a trigger: migration 0010, reinstatement added by 0061):
    pending --approve--> approved --suspend--> suspended --reinstate--> approved
    pending --reject--> rejected --authority edits--> pending
Approval needs a licence number. Once approved, the hospital's identity (name,
licence number) changes only through an admin; every edit is audited with the
old and new values.
Only approved hospitals are listed publicly and take bookings. A hospital that
is not approved is visible to its own authority and to admins only; to anyone
else it does not exist (404).

``actor`` is the caller (flask-login's current user: id, role, hospital_id) or
None for anonymous callers.
"""
from app.admin.queries import insert_audit_entry
from app.auth.policy import (
    is_admin,
    manages_hospital,
    may_change_hospital_identity,
    sees_hospital_licence,
)
from app.auth.queries import attach_authority
from app.db import transaction
from app.errors import Conflict, NotFound
from app.hospitals import fts, queries
from app.paging import page_total
from app.pricing.queries import list_active_prices
from app.resources.queries import list_resources, list_resources_of
from app.resources.schedule import checked_window
from app.timeutil import to_iso, utcnow

EDITABLE_FIELDS = ("name", "description", "address", "city", "phone", "email", "website",
                   "specialties", "timezone", "license_number", "facilities", "operating_hours",
                   "emergency_contact")
LIST_FIELDS = ("specialties", "facilities")
# What an admin checked at approval (see app.auth.policy.may_change_hospital_identity).
IDENTITY_FIELDS = ("name", "license_number")


def visible_hospital(conn, hospital_id, actor):
    """The hospital if the caller may see it: approved, or managed by the caller.

    :raise 404: missing, or not approved and not the caller's.
    """
    hospital = queries.get_hospital(conn, hospital_id)
    if hospital is None or (hospital["status"] != "approved"
                            and not manages_hospital(actor, hospital_id)):
        raise NotFound("Hospital not found.")
    return hospital


def managed_hospital(conn, hospital_id, actor):
    """The hospital if the caller manages it (its authority, or an admin).

    :raise 404: missing, or another hospital's authority asking.
    """
    hospital = queries.get_hospital(conn, hospital_id)
    if hospital is None or not manages_hospital(actor, hospital_id):
        raise NotFound("Hospital not found.")
    return hospital


def _with_resources(conn, hospitals, now):
    by_hospital = {hospital["id"]: [] for hospital in hospitals}
    for row in list_resources_of(conn, list(by_hospital), now):
        by_hospital[row["hospital_id"]].append(row)
    for hospital in hospitals:
        hospital["resources"] = by_hospital[hospital["id"]]
    return hospitals


def _as_seen_by(hospital, actor):
    """The hospital without its licence number for callers who may not see it."""
    if not sees_hospital_licence(actor, hospital["id"]):
        hospital.pop("license_number", None)
    return hospital


def search(conn, *, q, resource_type, min_available, limit, offset, facility=None, actor=None,
           start=None, end=None, now=None):
    """One page of approved hospitals and the total count.

    ``q`` is free text (see app.hospitals.fts); if it holds no searchable word at
    all (only punctuation, say) nothing can match it. ``resource_type`` keeps
    hospitals that have that resource; ``min_available`` keeps those with at
    least that many units free (of ``resource_type`` if given, else of any): free
    at ``now`` as the live counters count it, or, with ``start``/``end``, free for
    the whole window (the fewest free at any instant of it, as /availability
    answers). ``facility`` keeps hospitals listing that facility (any case).

    :raise 422: a bad window (app.resources.schedule.checked_window).
    """
    now = now or utcnow()
    window = checked_window(start, end, now)
    if q and not fts.search_words(q):
        return [], 0
    filters = {"q": q or None, "resource_type": resource_type, "min_available": min_available,
               "facility": facility, "now": to_iso(now),
               "window": window and (to_iso(window[0]), to_iso(window[1]))}
    hospitals = queries.search_public(conn, **filters, limit=limit, offset=offset)
    total = page_total(hospitals, limit, offset, lambda: queries.count_public(conn, **filters))
    hospitals = [_as_seen_by(hospital, actor) for hospital in hospitals]
    return _with_resources(conn, hospitals, to_iso(now)), total


def detail(conn, hospital_id, actor):
    """One hospital with its resources and active prices.

    :raise 404: not visible to the caller.
    """
    hospital = visible_hospital(conn, hospital_id, actor)
    hospital["resources"] = list_resources(conn, hospital_id)
    hospital["prices"] = list_active_prices(conn, hospital_id)
    return _as_seen_by(hospital, actor)


def register(conn, actor, fields, *, default_timezone, now):
    """A hospital-authority without a hospital registers one (pending) and becomes its authority.

    :raise 409: the caller already has a hospital.
    """
    values = {field: fields.get(field) for field in EDITABLE_FIELDS}
    for field in LIST_FIELDS:
        values[field] = values[field] or []
    values["timezone"] = values["timezone"] or default_timezone
    with transaction(conn):
        _refuse_taken_licence(conn, values["license_number"], hospital_id=None)
        hospital_id = queries.insert_hospital(
            conn, fields=values, created_by=actor.id, now=to_iso(now)
        )
        # Guarded: two registrations racing cannot both attach, and the loser's
        # hospital row goes away with its rolled-back transaction.
        if not attach_authority(conn, actor.id, hospital_id, to_iso(now)):
            raise Conflict("You are already the authority of a hospital.")
    return queries.get_hospital(conn, hospital_id)


def _own_hospital_id(actor):
    if actor.hospital_id is None:
        raise NotFound("You have not registered a hospital yet.")
    return actor.hospital_id


def my_hospital(conn, actor):
    """The caller's own hospital, whatever its status.

    :raise 404: the caller has no hospital.
    """
    return detail(conn, _own_hospital_id(actor), actor)


def _refuse_taken_licence(conn, license_number, *, hospital_id):
    """:raise 409: another hospital is registered under ``license_number``. (The unique
    index is the backstop for a race; this gives the clear message.)"""
    if license_number is None:
        return
    holder = queries.get_hospital_by_license_number(conn, license_number)
    if holder is not None and holder["id"] != hospital_id:
        raise Conflict("Another hospital is registered under this licence number.")


def update_my_hospital(conn, actor, changes, *, ip_address=None, now):
    """Edit the caller's hospital; a rejected hospital is resubmitted (back to pending).

    :raise 404: the caller has no hospital.
    :raise 409: see edit_hospital.
    """
    return edit_hospital(conn, _own_hospital_id(actor), actor, changes,
                         ip_address=ip_address, now=now)


def edit_hospital(conn, hospital_id, actor, changes, *, ip_address=None, now):
    """Edit a hospital as its staff or an admin; audited (``hospital.edit``) with the old
    and new value of every field that changed.

    Fields not sent keep their value; ``null`` clears an optional one. When its staff
    edit a rejected hospital, it goes back to review (pending); an admin's edit never
    changes the status.

    :raise 404: the caller does not manage this hospital.
    :raise 409: the hospital's staff changing the name or licence number of a hospital
        that has been approved; a licence number another hospital holds.
    """
    stamp = to_iso(now)
    with transaction(conn):
        current = managed_hospital(conn, hospital_id, actor)
        values = {field: changes.get(field, current[field]) for field in EDITABLE_FIELDS}
        for field in LIST_FIELDS:
            values[field] = values[field] or []
        changed = [field for field in EDITABLE_FIELDS if values[field] != current[field]]
        if (any(field in IDENTITY_FIELDS for field in changed)
                and not may_change_hospital_identity(actor, current)):
            raise Conflict("This hospital has been approved: its name and licence number "
                           "change only through a platform admin.")
        if "license_number" in changed:
            _refuse_taken_licence(conn, values["license_number"], hospital_id=hospital_id)
        resubmit = not is_admin(actor)
        queries.update_details(conn, hospital_id, fields=values, resubmit=resubmit, now=stamp)
        status = queries.get_hospital(conn, hospital_id)["status"]
        insert_audit_entry(
            conn, actor_id=actor.id, action="hospital.edit", target_type="hospital",
            target_id=hospital_id, ip_address=ip_address, now=stamp,
            details={"old": {field: current[field] for field in changed},
                     "new": {field: values[field] for field in changed},
                     "status": {"from": current["status"], "to": status}},
        )
    return detail(conn, hospital_id, actor)


def list_for_review(conn, *, status, limit, offset):
    """Admin: hospitals in one status (or all), oldest first, and the total count."""
    total = queries.count_by_status(conn, status=status)
    return queries.list_by_status(conn, status=status, limit=limit, offset=offset), total


# action -> (guarded query, the one status it starts from, the status it leads to,
#            the action's past participle for messages)
_TRANSITIONS = {
    "approve": (queries.approve, "pending", "approved", "approved"),
    "reject": (queries.reject, "pending", "rejected", "rejected"),
    "suspend": (queries.suspend, "approved", "suspended", "suspended"),
    "reinstate": (queries.reinstate, "suspended", "approved", "reinstated"),
}


def _arguments(action, admin_id, reason):
    if action == "approve":
        return {"approved_by": admin_id}
    if action == "reinstate":
        return {}
    return {"reason": reason}


def review(conn, hospital_id, action, *, admin_id, reason=None, ip_address=None, now):
    """Admin: approve, reject, suspend or reinstate a hospital; audited in admin_audit_log.

    :raise 404: no such hospital.
    :raise 409: the hospital is not in the status the action starts from; approving a
        hospital without a licence number.
    """
    query, from_status, to_status, done = _TRANSITIONS[action]
    stamp = to_iso(now)
    with transaction(conn):
        hospital = queries.get_hospital(conn, hospital_id)
        if hospital is None:
            raise NotFound("Hospital not found.")
        if (action == "approve" and hospital["status"] == "pending"
                and hospital["license_number"] is None):
            raise Conflict("This hospital has no licence number: its staff must add one "
                           "(licenseNumber) before it can be approved.")
        if not query(conn, hospital_id, now=stamp, **_arguments(action, admin_id, reason)):
            raise Conflict(
                f"Only a {from_status} hospital can be {done}; "
                f"this one is {hospital['status']}."
            )
        insert_audit_entry(
            conn, actor_id=admin_id, action=f"hospital.{action}", target_type="hospital",
            target_id=hospital_id, ip_address=ip_address, now=stamp,
            details={"from": hospital["status"], "to": to_status, "reason": reason},
        )
    return queries.get_hospital(conn, hospital_id)
