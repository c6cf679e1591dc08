"""/api/hospitals: public discovery, onboarding, and an authority's own hospital."""
from flask import current_app, request
from flask.views import MethodView

from app.auth.guards import get_current_user, roles_required
from app.auth.schemas import UserSchema
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.hospitals import api_keys, schemas, service, staff
from app.timeutil import utcnow

blp = Blueprint("hospitals", __name__, url_prefix="/api/hospitals",
                description="Hospitals: discovery and onboarding")


@blp.route("")
class Hospitals(MethodView):
    @blp.arguments(schemas.HospitalSearchQueryArgsSchema, location="query")
    @blp.response(200, schemas.HospitalListItemSchema(many=True))
    @blp.alt_response(422, description="Bad arguments, e.g. only one of from/to, to not "
                                       "after from, a window in the past or over 31 days")
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Search approved hospitals (full text, resource filters), best match first

        `q` (at most 200 characters) is matched over name, address, city, specialties
        and facilities: every word as a prefix, all words must match. It is never FTS
        syntax: quotes, `*`, `NEAR`, `AND`/`OR`/`NOT`, `column:` and parentheses are
        plain text, and a `q` without a letter or digit matches nothing. Order:
        relevance (bm25), then name, then id. `resourceType` keeps hospitals that have
        that resource; `minAvailable` those with at least that many units free (of
        `resourceType` if given, else of any type): free now, as the live counters count
        them (the units marked unavailable and the holds of approved bookings whose window
        contains now); with `from`/`to` (both or neither), free for the whole window: the
        fewest free at any instant of it, as `/availability` answers (a window at most 31
        days long, ending in the future). `facility` those that list that
        facility (the whole name, any case). `licenseNumber` is shown to admins and the
        hospital's own staff only.
        """
        limit, offset = page_bounds(pagination_parameters)
        hospitals, total = service.search(
            get_db(), q=args.get("q"), resource_type=args.get("resource_type"),
            min_available=args.get("min_available"), facility=args.get("facility"),
            start=args.get("start"), end=args.get("end"), now=utcnow(),
            limit=limit, offset=offset, actor=get_current_user(),
        )
        pagination_parameters.item_count = total
        return hospitals

    @blp.arguments(schemas.HospitalCreateSchema)
    @blp.response(201, schemas.HospitalSchema)
    @blp.alt_response(409, description="You are already the authority of a hospital, or "
                                       "another hospital holds this licence number")
    @roles_required("hospital-authority")
    def post(self, data):
        """Register your hospital (pending until an admin approves); you become its authority

        Only for a `hospital-authority` account without a hospital. The hospital and the
        caller's link to it are created in one transaction. `licenseNumber` may come
        later, but an admin approves no hospital without one.
        """
        return service.register(
            get_db(), get_current_user(), data,
            default_timezone=current_app.config["TIMEZONE"], now=utcnow(),
        )


@blp.route("/my-hospital")
class MyHospital(MethodView):
    @blp.response(200, schemas.HospitalDetailSchema)
    @blp.alt_response(404, description="You have not registered a hospital")
    @roles_required("hospital-authority")
    def get(self):
        """Your own hospital, whatever its status"""
        return service.my_hospital(get_db(), get_current_user())

    @blp.arguments(schemas.HospitalUpdateSchema)
    @blp.response(200, schemas.HospitalDetailSchema)
    @blp.alt_response(404, description="You have not registered a hospital")
    @blp.alt_response(409, description="Changing the name or licence number of an approved "
                                       "hospital, or a licence number another hospital holds")
    @roles_required("hospital-authority")
    def put(self, data):
        """Edit your hospital; editing a rejected hospital resubmits it for review

        Once the hospital has been approved (also while suspended), its identity, `name`
        and `licenseNumber`, changes only through a platform admin: changing either is a
        409. Every edit is written to the audit log with the old and new values.
        """
        return service.update_my_hospital(get_db(), get_current_user(), data,
                                          ip_address=request.remote_addr, now=utcnow())


@blp.route("/my-hospital/staff")
class MyStaff(MethodView):
    @blp.response(200, UserSchema(many=True))
    @blp.alt_response(404, description="You have no hospital")
    @roles_required("hospital-authority")
    def get(self):
        """Your hospital's staff: its hospital-authority accounts, oldest first"""
        actor = get_current_user()
        return staff.list_staff(get_db(), actor.hospital_id, actor)

    @blp.arguments(schemas.StaffAddSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(404, description="You have no hospital, or no hospital-authority "
                                       "account has this email")
    @blp.alt_response(409, description="The account already belongs to a hospital")
    @roles_required("hospital-authority")
    def post(self, data):
        """Add a colleague: a hospital-authority account with no hospital yet, by its email

        The account gets the same rights on the hospital as you. Written to the audit log.
        """
        actor = get_current_user()
        return staff.add_staff(get_db(), actor.hospital_id, actor, email=data["email"],
                               ip_address=request.remote_addr, now=utcnow())


@blp.route("/my-hospital/staff/<int:user_id>")
class MyStaffMember(MethodView):
    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="You have no hospital, or the account is not on its staff")
    @blp.alt_response(409, description="It is the hospital's last active authority")
    @roles_required("hospital-authority")
    def delete(self, user_id):
        """Remove a member of your hospital's staff (yourself included), never the last

        The account stays, without a hospital (it can be added again, here or elsewhere).
        A hospital always keeps at least one active authority: add another first. Written
        to the audit log.
        """
        actor = get_current_user()
        return staff.remove_staff(get_db(), actor.hospital_id, actor, user_id,
                                  ip_address=request.remote_addr, now=utcnow())


@blp.route("/my-hospital/api-keys")
class MyApiKeys(MethodView):
    @blp.response(200, schemas.ApiKeySchema(many=True))
    @blp.alt_response(404, description="You have no hospital")
    @roles_required("hospital-authority")
    def get(self):
        """Your hospital's API keys, newest first (never the keys themselves)

        Revoked keys are listed too, with `revokedAt`.
        """
        actor = get_current_user()
        return api_keys.list_keys(get_db(), actor.hospital_id, actor)

    @blp.arguments(schemas.ApiKeyCreateSchema)
    @blp.response(201, schemas.ApiKeyCreatedSchema)
    @blp.alt_response(404, description="You have no hospital")
    @blp.alt_response(409, description="The hospital holds API_KEYS_PER_HOSPITAL live keys")
    @roles_required("hospital-authority")
    def post(self, data):
        """Create an API key for your hospital's systems; the key is shown only in this answer

        Stored as its SHA-256 with a short visible `prefix`. Written to the admin audit
        log (`api_key.create`).

        The key authenticates as `Authorization: Bearer rc_…` and may only set and read
        its hospital's resource counts (`PUT` / `GET /api/hospital-resources/{hospitalId}…`)
        and read its pending queue and booking list (`GET
        /api/bookings/hospital/{hospitalId}/pending`, `…/history`): any other endpoint is
        403, another hospital's 404. Rate limited per key (API_KEY_RATE_LIMIT; 429 with
        Retry-After). A revoked key is 401 from the next request; a suspended hospital's
        keys are 403. Changes of counts made with a key are in the resource audit log
        with the key as actor (`apiKeyId`, `changedBy` null).
        """
        actor = get_current_user()
        created = api_keys.create_key(
            get_db(), actor.hospital_id, actor, name=data["name"],
            max_keys=current_app.config["API_KEYS_PER_HOSPITAL"],
            ip_address=request.remote_addr, now=utcnow())
        return created, 201, {"Cache-Control": "no-store"}


@blp.route("/my-hospital/api-keys/<int:key_id>")
class MyApiKey(MethodView):
    @blp.response(200, schemas.ApiKeySchema)
    @blp.alt_response(404, description="You have no hospital, or no such key of your hospital")
    @blp.alt_response(409, description="Already revoked")
    @roles_required("hospital-authority")
    def delete(self, key_id):
        """Revoke one of your hospital's API keys; it is refused (401) from the next request

        Written to the admin audit log (`api_key.revoke`).
        """
        actor = get_current_user()
        return api_keys.revoke_key(get_db(), actor.hospital_id, actor, key_id,
                                   ip_address=request.remote_addr, now=utcnow())


@blp.route("/<int:hospital_id>")
class Hospital(MethodView):
    @blp.response(200, schemas.HospitalDetailSchema)
    @blp.alt_response(404, description="No such hospital, or not approved and not yours")
    def get(self, hospital_id):
        """One hospital with its resources and current prices"""
        return service.detail(get_db(), hospital_id, get_current_user())
