"""Hospital rules: who may see or manage a hospital, onboarding, discovery and approval.

Lifecycle (backed by a trigger in migration 0010):
    pending --approve--> approved --suspend--> suspended
    pending --reject--> rejected --authority edits--> pending
Only approved hospitals are listed publicly and take bookings. A hospital that
is not approved is visible to its own authority and to admins only; to anyone
else it does not exist (404).

``actor`` is the caller (flask-login's current user: id, role, hospital_id) or
None for anonymous callers.
"""
from app.admin.queries import insert_audit_entry
from app.auth.policy import manages_hospital
from app.auth.queries import attach_authority
from app.db import transaction
from app.errors import Conflict, NotFound
from app.hospitals import fts, queries
from app.paging import page_total
from app.pricing.queries import list_active_prices
from app.resources.queries import list_resources, list_resources_of
from app.timeutil import to_iso

EDITABLE_FIELDS = ("name", "description", "address", "city", "phone", "email", "website",
                   "specialties", "timezone")


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


def _with_resources(conn, hospitals):
    by_hospital = {hospital["id"]: [] for hospital in hospitals}
    for row in list_resources_of(conn, list(by_hospital)):
        by_hospital[row["hospital_id"]].append(row)
    for hospital in hospitals:
        hospital["resources"] = by_hospital[hospital["id"]]
    return hospitals


def search(conn, *, q, resource_type, min_available, limit, offset):
    """One page of approved hospitals and the total count.

    ``q`` is free text (see app.hospitals.fts); if it holds no searchable word at
    all (only punctuation, say) nothing can match it. ``resource_type`` keeps
    hospitals that have that resource; ``min_available`` keeps those with at
    least that many units available (of ``resource_type`` if given, else of any).
    """
    if q and not fts.search_words(q):
        return [], 0
    filters = {"q": q or None, "resource_type": resource_type, "min_available": min_available}
    hospitals = queries.search_public(conn, **filters, limit=limit, offset=offset)
    total = page_total(hospitals, limit, offset, lambda: queries.count_public(conn, **filters))
    return _with_resources(conn, hospitals), total


def detail(conn, hospital_id, actor):
    """One hospital with its resources and active prices.

    :raise 404: not visible to the caller.
    """
    hospital = visible_hospital(conn, hospital_id, actor)
    hospital["resources"] = list_resources(conn, hospital_id)
    hospital["prices"] = list_active_prices(conn, hospital_id)
    return hospital


def register(conn, actor, fields, *, default_timezone, now):
    """A hospital-authority without a hospital registers one (pending) and becomes its authority.

    :raise 409: the caller already has a hospital.
    """
    values = {field: fields.get(field) for field in EDITABLE_FIELDS}
    values["specialties"] = values["specialties"] or []
    values["timezone"] = values["timezone"] or default_timezone
    with transaction(conn):
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


def update_my_hospital(conn, actor, changes, *, now):
    """Edit the caller's hospital; a rejected hospital is resubmitted (back to pending).

    Fields not sent keep their value; ``null`` clears an optional one.

    :raise 404: the caller has no hospital.
    """
    hospital_id = _own_hospital_id(actor)
    with transaction(conn):
        current = managed_hospital(conn, hospital_id, actor)
        values = {field: changes.get(field, current[field]) for field in EDITABLE_FIELDS}
        values["specialties"] = values["specialties"] or []
        queries.update_details(conn, hospital_id, fields=values, now=to_iso(now))
    return detail(conn, hospital_id, actor)


def list_for_review(conn, *, status, limit, offset):
    """Admin: hospitals in one status (or all), oldest first, and the total count."""
    total = queries.count_by_status(conn, status=status)
    return queries.list_by_status(conn, status=status, limit=limit, offset=offset), total


# action -> (guarded query, the one status it starts from, the status it leads to)
_TRANSITIONS = {
    "approve": (queries.approve, "pending", "approved"),
    "reject": (queries.reject, "pending", "rejected"),
    "suspend": (queries.suspend, "approved", "suspended"),
}


def review(conn, hospital_id, action, *, admin_id, reason=None, ip_address=None, now):
    """Admin: approve, reject or suspend a hospital; audited in admin_audit_log.

    :raise 404: no such hospital.
    :raise 409: the hospital is not in the status the action starts from.
    """
    query, from_status, to_status = _TRANSITIONS[action]
    stamp = to_iso(now)
    with transaction(conn):
        hospital = queries.get_hospital(conn, hospital_id)
        if hospital is None:
            raise NotFound("Hospital not found.")
        kwargs = {"approved_by": admin_id} if action == "approve" else {"reason": reason}
        if not query(conn, hospital_id, now=stamp, **kwargs):
            raise Conflict(
                f"Only a {from_status} hospital can be {to_status}; "
                f"this one is {hospital['status']}."
            )
        insert_audit_entry(
            conn, actor_id=admin_id, action=f"hospital.{action}", target_type="hospital",
            target_id=hospital_id, ip_address=ip_address, now=stamp,
            details={"from": hospital["status"], "to": to_status, "reason": reason},
        )
    return queries.get_hospital(conn, hospital_id)
