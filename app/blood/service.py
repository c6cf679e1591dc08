"""Blood request rules: posting, reading, closing, and volunteering as a donor.

Every logged-in user may read requests (finding donors is the point), so a
caller who may not change one gets 403, not 404. Writes happen inside
``transaction(conn)`` with the checks they depend on; closing a request is a
guarded UPDATE checked by rowcount.
"""
import json
import logging
from datetime import timedelta

from app.auth.account_tokens import require_verified_email
from app.auth.policy import can_manage_blood_request, is_admin
from app.auth.queries import get_user
from app.blood import compatibility, queries
from app.bookings.queries import insert_blood_request_notifications
from app.db import transaction
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.hospitals.queries import get_hospital
from app.mail import notices
from app.timeutil import to_iso

log = logging.getLogger(__name__)

# A request is for blood needed soon; a deadline further out is almost surely a typo.
MAX_REQUIRED_BY_AHEAD = timedelta(days=365)


def _field_error(field, message):
    # The same shape as schema validation errors for the JSON body.
    return Unprocessable(errors={"json": {field: [message]}})


def create_request(conn, *, requester_id, data, now, config):
    """Post a request (status active). :raise 422: past deadline, unknown or unapproved hospital.
    :raise 403: REQUIRE_VERIFIED_EMAIL is on and the requester's address is not verified."""
    require_verified_email(conn, requester_id, config, "posting a blood request")
    required_by = data.get("required_by")
    if required_by is not None:
        if required_by <= now:
            raise _field_error("requiredBy", "Must be in the future.")
        if required_by > now + MAX_REQUIRED_BY_AHEAD:
            raise _field_error("requiredBy", "Must be at most a year ahead.")
    with transaction(conn):
        hospital_id = data.get("hospital_id")
        if hospital_id is not None:
            hospital = get_hospital(conn, hospital_id)
            if hospital is None or hospital["status"] != "approved":
                raise _field_error("hospitalId", "No approved hospital with this id.")
        request_id = queries.insert_request(
            conn,
            requester_id=requester_id,
            patient_name=data["patient_name"],
            blood_type=data["blood_type"],
            units_needed=data["units_needed"],
            urgency=data["urgency"],
            hospital_id=hospital_id,
            contact_phone=data["contact_phone"],
            location=data["location"],
            medical_condition=data.get("medical_condition") or None,
            required_by=to_iso(required_by) if required_by is not None else None,
            notes=data.get("notes") or None,
            now=to_iso(now),
        )
    log.info("blood request %s posted by user %s", request_id, requester_id)
    return queries.get_request(conn, request_id)


def get_request(conn, request_id):
    """:raise 404: no such request."""
    request = queries.get_request(conn, request_id)
    if request is None:
        raise NotFound("Blood request not found.")
    return request


def list_active_requests(conn, filters, *, now, limit, offset):
    """(total, page) of open requests, most urgent, then soonest needed, then oldest first."""
    now_iso = to_iso(now)
    return (
        queries.count_active_requests(conn, filters, now_iso),
        queries.list_active_requests(conn, filters, now_iso, limit=limit, offset=offset),
    )


def list_own_requests(conn, requester_id, *, status, limit, offset):
    return (
        queries.count_own_requests(conn, requester_id, status),
        queries.list_own_requests(conn, requester_id, status, limit=limit, offset=offset),
    )


def list_compatible_requests(conn, *, donor_id, donor_blood_type, now, limit, offset):
    """Open requests a donor of this type can give to, except the donor's own."""
    params = {
        "blood_types_json": json.dumps(compatibility.recipients_of(donor_blood_type)),
        "donor_id": donor_id,
        "now": to_iso(now),
    }
    return (
        queries.count_compatible_requests(conn, **params),
        queries.list_compatible_requests(conn, **params, limit=limit, offset=offset),
    )


def change_status(conn, *, request_id, new_status, actor, now):
    """active -> fulfilled | cancelled.

    :raise 404: no such request. :raise 403: not the requester, its hospital's authority or
    an admin. :raise 409: the request is no longer active.
    """
    with transaction(conn):
        request = get_request(conn, request_id)
        if not can_manage_blood_request(actor, request):
            raise Forbidden("Only the requester, the linked hospital's authority or an admin "
                            "can change this request.")
        if not queries.close_request(conn, request_id, new_status, to_iso(now)):
            raise Conflict(f"The request is {request['status']}; only an active request can "
                           "change status.")
        if actor.id != request["requester_id"]:
            insert_blood_request_notifications(conn, [{
                "user_id": request["requester_id"], "blood_request_id": request_id,
                "type": f"blood_request_{new_status}",
                "title": f"Blood request {new_status}",
                "message": f"Your blood request #{request_id} ({request['blood_type']}) was "
                           f"marked {new_status} by the "
                           f"{'platform' if is_admin(actor) else 'hospital'}.",
                "created_at": to_iso(now),
            }])
    log.info("blood request %s -> %s by user %s", request_id, new_status, actor.id)
    return queries.get_request(conn, request_id)


def volunteer(conn, *, request_id, donor, donor_blood_type, phone, now):
    """Record ``donor`` as a volunteer for the request and notify the requester.

    :raise 404: no such request. :raise 409: no longer open, the donor's own request,
    already volunteered, or incompatible blood type.
    """
    now_iso = to_iso(now)
    with transaction(conn):
        request = get_request(conn, request_id)
        required_by = request["required_by"]
        if request["status"] != "active" or (required_by is not None and required_by <= now_iso):
            raise Conflict("The request is no longer active.")
        if request["requester_id"] == donor.id:
            raise Conflict("You cannot volunteer for your own request.")
        if queries.donor_has_volunteered(conn, request_id, donor.id):
            raise Conflict("You have already volunteered for this request.")
        if not compatibility.can_donate(donor_blood_type, request["blood_type"]):
            raise Conflict(f"{donor_blood_type} blood cannot be given to a "
                           f"{request['blood_type']} patient.")
        if phone is None:
            phone = get_user(conn, donor.id)["phone"]
        # UNIQUE (blood_request_id, donor_id) backs the check above: a duplicate that
        # slipped past it still ends as a 409 (IntegrityError, handled centrally).
        match_id = queries.insert_match(
            conn, request_id=request_id, donor_id=donor.id,
            donor_blood_type=donor_blood_type, phone=phone, now=now_iso,
        )
        insert_blood_request_notifications(conn, [{
            "user_id": request["requester_id"], "blood_request_id": request_id,
            "type": "blood_match",
            "title": "A donor volunteered",
            # No phone here: the requester reads it from the request's matches.
            "message": f"{donor.name} ({donor_blood_type}) volunteered to donate for your "
                       f"blood request #{request_id} ({request['blood_type']}). See the "
                       "request's matches to contact them.",
            "created_at": now_iso,
        }])
        notices.blood_match(conn, request, donor_name=donor.name,
                            donor_blood_type=donor_blood_type, now=now)
    log.info("donor %s volunteered for blood request %s", donor.id, request_id)
    return queries.get_match(conn, match_id)


def list_matches(conn, *, request_id, actor, limit, offset):
    """Volunteers for a request, with their phones.

    :raise 404: no such request. :raise 403: not the requester, its hospital's authority or
    an admin.
    """
    request = get_request(conn, request_id)
    if not can_manage_blood_request(actor, request):
        raise Forbidden("Only the requester, the linked hospital's authority or an admin "
                        "can see the volunteers.")
    return (
        queries.count_matches(conn, request_id),
        queries.list_matches(conn, request_id, limit=limit, offset=offset),
    )
