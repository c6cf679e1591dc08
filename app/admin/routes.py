"""/api/admin: hospital approval, user accounts, platform statistics, gateway config."""
from flask import current_app, request
from flask.views import MethodView

from app.admin import schemas, service
from app.auth.guards import get_current_user, roles_required
from app.auth.schemas import UserSchema
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.hospitals import api_keys as hospital_api_keys
from app.hospitals import service as hospitals_service
from app.hospitals import staff as hospital_staff
from app.hospitals.schemas import (
    ApiKeySchema,
    HospitalDetailSchema,
    HospitalSchema,
    HospitalStatusQueryArgsSchema,
    HospitalUpdateSchema,
    RequiredReasonSchema,
    StaffAssignSchema,
)
from app.timeutil import utcnow

blp = Blueprint("admin", __name__, url_prefix="/api/admin",
                description="Platform administration (admins only)")


@blp.route("/hospitals")
class HospitalsForReview(MethodView):
    @blp.arguments(HospitalStatusQueryArgsSchema, location="query")
    @blp.response(200, HospitalSchema(many=True))
    @blp.paginate()
    @roles_required("admin")
    def get(self, args, pagination_parameters):
        """List hospitals (optionally in one status), oldest first"""
        limit, offset = page_bounds(pagination_parameters)
        hospitals, total = hospitals_service.list_for_review(
            get_db(), status=args.get("status"), limit=limit, offset=offset
        )
        pagination_parameters.item_count = total
        return hospitals


@blp.route("/hospitals/<int:hospital_id>")
class HospitalEdit(MethodView):
    @blp.arguments(HospitalUpdateSchema)
    @blp.response(200, HospitalDetailSchema)
    @blp.alt_response(404, description="No such hospital")
    @blp.alt_response(409, description="Another hospital holds this licence number")
    @roles_required("admin")
    def put(self, data, hospital_id):
        """Edit any hospital, its name and licence number included

        The only way to change the identity of an approved hospital. Fields not sent keep
        their value; `null` clears an optional one; the status never changes. Written to
        the audit log with the old and new values.
        """
        return hospitals_service.edit_hospital(
            get_db(), hospital_id, get_current_user(), data,
            ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/approve")
class ApproveHospital(MethodView):
    @blp.response(200, HospitalSchema)
    @blp.alt_response(404, description="No such hospital")
    @blp.alt_response(409, description="The hospital is not pending, or has no licence number")
    @roles_required("admin")
    def put(self, hospital_id):
        """Approve a pending hospital: it becomes public and can take bookings

        The hospital must have a licence number (`licenseNumber`, shown in the review
        list): approving one without is a 409.
        """
        return hospitals_service.review(
            get_db(), hospital_id, "approve", admin_id=get_current_user().id,
            ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/reject")
class RejectHospital(MethodView):
    @blp.arguments(RequiredReasonSchema)
    @blp.response(200, HospitalSchema)
    @blp.alt_response(404, description="No such hospital")
    @blp.alt_response(409, description="The hospital is not pending")
    @roles_required("admin")
    def put(self, data, hospital_id):
        """Reject a pending hospital with a reason (its authority may edit and resubmit)"""
        return hospitals_service.review(
            get_db(), hospital_id, "reject", admin_id=get_current_user().id,
            reason=data["reason"], ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/suspend")
class SuspendHospital(MethodView):
    @blp.arguments(RequiredReasonSchema)
    @blp.response(200, HospitalSchema)
    @blp.alt_response(404, description="No such hospital")
    @blp.alt_response(409, description="The hospital is not approved")
    @roles_required("admin")
    def put(self, data, hospital_id):
        """Suspend an approved hospital with a reason: hidden and takes no bookings"""
        return hospitals_service.review(
            get_db(), hospital_id, "suspend", admin_id=get_current_user().id,
            reason=data["reason"], ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/reinstate")
class ReinstateHospital(MethodView):
    @blp.arguments(RequiredReasonSchema)
    @blp.response(200, HospitalSchema)
    @blp.alt_response(404, description="No such hospital")
    @blp.alt_response(409, description="The hospital is not suspended")
    @roles_required("admin")
    def put(self, data, hospital_id):
        """Reinstate a suspended hospital with a reason: approved again, public, takes bookings

        The suspension reason is cleared from the hospital; the audit log keeps it and the
        reason for reinstating.
        """
        return hospitals_service.review(
            get_db(), hospital_id, "reinstate", admin_id=get_current_user().id,
            reason=data["reason"], ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/staff")
class HospitalStaff(MethodView):
    @blp.response(200, UserSchema(many=True))
    @blp.alt_response(404, description="No such hospital")
    @roles_required("admin")
    def get(self, hospital_id):
        """A hospital's staff: its hospital-authority accounts, oldest first"""
        return hospital_staff.list_staff(get_db(), hospital_id, get_current_user())

    @blp.arguments(StaffAssignSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(404, description="No such hospital, or no hospital-authority account "
                                       "with this id")
    @blp.alt_response(409, description="The account already belongs to a hospital")
    @roles_required("admin")
    def post(self, data, hospital_id):
        """Assign a hospital-authority account that has no hospital to this hospital

        Written to the audit log. To move an account between hospitals, unassign it first.
        """
        return hospital_staff.add_staff(
            get_db(), hospital_id, get_current_user(), user_id=data["user_id"],
            ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/staff/<int:user_id>")
class HospitalStaffMember(MethodView):
    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="No such hospital, or the account is not on its staff")
    @blp.alt_response(409, description="It is the hospital's last active authority")
    @roles_required("admin")
    def delete(self, hospital_id, user_id):
        """Unassign an authority from a hospital (never its last active one)

        The account stays, without a hospital. Written to the audit log.
        """
        return hospital_staff.remove_staff(
            get_db(), hospital_id, get_current_user(), user_id,
            ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/api-keys")
class HospitalApiKeys(MethodView):
    @blp.response(200, ApiKeySchema(many=True))
    @blp.alt_response(404, description="No such hospital")
    @roles_required("admin")
    def get(self, hospital_id):
        """A hospital's API keys, newest first (never the keys themselves)"""
        return hospital_api_keys.list_keys(get_db(), hospital_id, get_current_user())


@blp.route("/hospitals/<int:hospital_id>/api-keys/<int:key_id>")
class HospitalApiKey(MethodView):
    @blp.response(200, ApiKeySchema)
    @blp.alt_response(404, description="No such hospital, or no such key of it")
    @blp.alt_response(409, description="Already revoked")
    @roles_required("admin")
    def delete(self, hospital_id, key_id):
        """Revoke a hospital's API key (refused from the next request); audited"""
        return hospital_api_keys.revoke_key(get_db(), hospital_id, get_current_user(), key_id,
                                            ip_address=request.remote_addr, now=utcnow())


@blp.route("/users")
class Users(MethodView):
    @blp.arguments(schemas.UserListQueryArgsSchema, location="query")
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    @roles_required("admin")
    def get(self, args, pagination_parameters):
        """List user accounts (filters: role, status, hospitalId)"""
        limit, offset = page_bounds(pagination_parameters)
        users, total = service.list_users(
            get_db(), role=args.get("role"), status=args.get("status"),
            hospital_id=args.get("hospital_id"), limit=limit, offset=offset,
        )
        pagination_parameters.item_count = total
        return users


@blp.route("/users/<int:user_id>/status")
class UserStatus(MethodView):
    @blp.arguments(schemas.UserStatusSchema)
    @blp.response(200, UserSchema)
    @blp.alt_response(404, description="No such user")
    @blp.alt_response(409, description="Admins cannot change their own status")
    @roles_required("admin")
    def put(self, data, user_id):
        """Set a user's status; a user made inactive or suspended loses every token

        Any status but `active` also ends the user's cookie sessions. Written to the
        admin audit log.
        """
        return service.set_user_status(
            get_db(), user_id, data["status"], admin_id=get_current_user().id,
            reason=data.get("reason"), ip_address=request.remote_addr, now=utcnow(),
        )


@blp.route("/audit-log")
class AuditLog(MethodView):
    @blp.arguments(schemas.AuditLogQueryArgsSchema, location="query")
    @blp.response(200, schemas.AdminAuditEntrySchema(many=True))
    @blp.paginate()
    @roles_required("admin")
    def get(self, args, pagination_parameters):
        """The audit log of admin and staff actions that change money or status, newest first

        Hospital approvals, rejections, suspensions, reinstatements and edits (with old and
        new values), staff changes, user status, wallet adjustments, refunds (who, amount,
        reason, IP), discrepancy resolutions, pricing and payment configuration. Filters:
        `actorId`, `action`, `entityType` and `entityId`, and the time range `from`
        (inclusive) to `to` (exclusive).
        """
        limit, offset = page_bounds(pagination_parameters)
        entries, total = service.audit_log(get_db(), args, limit=limit, offset=offset)
        pagination_parameters.item_count = total
        return entries


@blp.route("/stats")
class Stats(MethodView):
    @blp.response(200, schemas.StatsSchema)
    @roles_required("admin")
    def get(self):
        """Platform counts (hospitals, bookings, users) and booking revenue

        Hospitals and bookings by status, users by role, and revenue over paid booking
        payments: gross, platform fee, refunded, net.
        """
        return service.stats(get_db(), currency=current_app.config["CURRENCY"])


@blp.route("/payment-config")
class PaymentConfig(MethodView):
    @blp.response(200, schemas.PaymentConfigSchema(many=True))
    @roles_required("admin")
    def get(self):
        """Payment gateway configuration (non-secret settings only)"""
        return service.payment_configs(get_db())

    @blp.arguments(schemas.PaymentConfigUpdateSchema)
    @blp.response(200, schemas.PaymentConfigSchema)
    @roles_required("admin")
    def put(self, data):
        """Change a gateway's mode, activity or non-secret settings

        Keys that look like secrets are refused: gateway credentials stay in the
        environment. An inactive gateway turns online payment off (503). Written to the
        admin audit log.
        """
        return service.set_payment_config(
            get_db(), data, admin_id=get_current_user().id,
            ip_address=request.remote_addr, now=utcnow(),
        )
