"""A hospital's staff: the hospital-authority accounts linked to it (issue #16).

Every staff member has the same rights on their hospital. Its staff (or an admin)
add an authority account that has no hospital yet and remove one; a hospital never
loses its last active authority (the check is inside the removing statement,
app.auth.queries.detach_authority). Adding and removing are written to
admin_audit_log (``hospital.staff_add`` / ``hospital.staff_remove``).

Service functions take the hospital's id, so the staff's own routes
(``/api/hospitals/my-hospital/staff``) and the admin's
(``/api/admin/hospitals/{id}/staff``) share them.
"""
from app.admin.queries import insert_audit_entry
from app.auth import queries as users
from app.auth.policy import AUTHORITY, may_manage_staff
from app.db import transaction
from app.errors import Conflict, NotFound
from app.hospitals import queries
from app.timeutil import to_iso


def _hospital_for_staff_changes(conn, hospital_id, actor):
    """:raise 404: no such hospital, or the caller may not manage its staff."""
    if hospital_id is None or not may_manage_staff(actor, hospital_id):
        raise NotFound("Hospital not found.")
    hospital = queries.get_hospital(conn, hospital_id)
    if hospital is None:
        raise NotFound("Hospital not found.")
    return hospital


def list_staff(conn, hospital_id, actor):
    """The hospital's authority accounts. :raise 404: as for changes."""
    _hospital_for_staff_changes(conn, hospital_id, actor)
    return users.list_hospital_staff(conn, hospital_id)


def _audit(conn, action, hospital_id, actor, user, ip_address, stamp):
    insert_audit_entry(
        conn, actor_id=actor.id, action=action, target_type="hospital", target_id=hospital_id,
        ip_address=ip_address, now=stamp,
        details={"user_id": user["id"], "email": user["email"]},
    )


def add_staff(conn, hospital_id, actor, *, email=None, user_id=None, ip_address=None, now):
    """Link a hospital-authority account without a hospital (by email or id) to the hospital.

    :raise 404: the hospital (as for list_staff); no hospital-authority account with
        that email or id.
    :raise 409: the account already belongs to a hospital.
    """
    stamp = to_iso(now)
    with transaction(conn):
        _hospital_for_staff_changes(conn, hospital_id, actor)
        user = (users.get_user_by_email(conn, email) if email is not None
                else users.get_user(conn, user_id))
        if user is None or user["role"] != AUTHORITY:
            raise NotFound("No hospital-authority account has this "
                           f"{'email' if email is not None else 'id'}.")
        if user["hospital_id"] is not None:
            where = "this" if user["hospital_id"] == hospital_id else "another"
            raise Conflict(f"This account is already on the staff of {where} hospital.")
        # Guarded on hospital_id IS NULL: a racing assignment cannot link it twice.
        if not users.attach_authority(conn, user["id"], hospital_id, stamp):
            raise Conflict("This account is already on the staff of a hospital.")
        _audit(conn, "hospital.staff_add", hospital_id, actor, user, ip_address, stamp)
    return users.get_user(conn, user["id"])


def remove_staff(conn, hospital_id, actor, user_id, *, ip_address=None, now):
    """Unlink an authority from the hospital; it keeps its account, without a hospital.

    :raise 404: the hospital (as for list_staff); the account is not on its staff.
    :raise 409: it is the hospital's last active authority.
    """
    stamp = to_iso(now)
    with transaction(conn):
        _hospital_for_staff_changes(conn, hospital_id, actor)
        user = users.get_user(conn, user_id)
        if user is None or user["hospital_id"] != hospital_id or user["role"] != AUTHORITY:
            raise NotFound("No such member of this hospital's staff.")
        if not users.detach_authority(conn, user_id, hospital_id, stamp):
            raise Conflict("A hospital keeps at least one active authority: add another "
                           "before removing this one.")
        _audit(conn, "hospital.staff_remove", hospital_id, actor, user, ip_address, stamp)
    return users.get_user(conn, user_id)
