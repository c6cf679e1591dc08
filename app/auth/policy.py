"""Who may see or change what: the platform's access rules, in ONE place.

``actor`` is the caller (flask-login's current user: ``id``, ``role``,
``hospital_id``) or None for an anonymous visitor; objects are plain row dicts.
Every function is pure: no database, no request. Domains call these and turn a
refusal into their own error (usually 404, so that an object the caller may not
see is not confirmed to exist).

Three roles:
- ``admin``: everything;
- ``hospital-authority``: the staff of exactly one hospital (``hospital_id``);
  an authority not (yet) attached to a hospital manages nothing and sees no
  hospital's rows, never "all of them";
- ``user``: its own bookings, payments and blood requests.
"""
ADMIN = "admin"
AUTHORITY = "hospital-authority"


def is_admin(actor):
    return actor is not None and actor.role == ADMIN


def manages_hospital(actor, hospital_id):
    """Admin, or the authority of exactly this hospital."""
    if actor is None:
        return False
    if actor.role == ADMIN:
        return True
    return (actor.role == AUTHORITY and actor.hospital_id is not None
            and actor.hospital_id == hospital_id)


def sees_hospital_licence(actor, hospital_id):
    """A hospital's licence number is for admins and its own staff, not the public."""
    return manages_hospital(actor, hospital_id)


# The statuses of a hospital that has passed review: its identity is what was checked.
_REVIEWED_STATUSES = ("approved", "suspended")


def may_change_hospital_identity(actor, hospital):
    """Name and licence number: what an admin checked when approving. Once a hospital
    has been approved (approved or suspended since), only an admin changes them; its
    staff may while it is still pending or rejected."""
    return is_admin(actor) or hospital["status"] not in _REVIEWED_STATUSES


def may_manage_staff(actor, hospital_id):
    """Adding and removing a hospital's authorities: any of its staff (every staff
    member has the same rights on their hospital), or an admin."""
    return manages_hospital(actor, hospital_id)


def _owns_or_manages(actor, owner_id, hospital_id):
    """The owner of the object, or someone who manages the object's hospital."""
    if actor is None:
        return False
    return owner_id == actor.id or manages_hospital(actor, hospital_id)


def can_see_booking(actor, booking):
    """The patient who booked, the booked hospital's authority, or an admin."""
    return _owns_or_manages(actor, booking["user_id"], booking["hospital_id"])


def can_see_payment(actor, tx):
    """The payer, the authority of the hospital paid (if any), or an admin."""
    return _owns_or_manages(actor, tx["user_id"], tx["hospital_id"])


def can_refund_payment(actor, tx):
    """The authority of the hospital paid, or an admin; never the payer (a wallet
    top-up, with no hospital, only an admin)."""
    return manages_hospital(actor, tx["hospital_id"])


def can_write_off_payment(actor, booking):
    """Writing off a completed booking's unpaid due: its hospital's staff or an admin;
    never the patient who owes it."""
    return manages_hospital(actor, booking["hospital_id"])


def can_manage_blood_request(actor, request):
    """The requester, the linked hospital's authority (if any), or an admin."""
    return _owns_or_manages(actor, request["requester_id"], request["hospital_id"])


def scope_for(actor):
    """The rows the actor's lists (bookings, payments) are confined to, as filters on
    the listed table's own columns: ``{}`` for everything (admin), ``{"hospital_id":
    …}`` for an authority, ``{"user_id": …}`` for a user; None when nothing is
    visible (an authority without a hospital)."""
    if actor.role == ADMIN:
        return {}
    if actor.role == AUTHORITY:
        return {"hospital_id": actor.hospital_id} if actor.hospital_id is not None else None
    return {"user_id": actor.id}
