"""/api/hospital-resources: live counts of beds, ICU and operation theatres."""
from flask import request
from flask.views import MethodView

from app.auth.guards import get_current_user, roles_required
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.resources import RESOURCE_TYPE_CONVERTER as TYPE
from app.resources import schemas, service
from app.timeutil import utcnow

blp = Blueprint("resources", __name__, url_prefix="/api/hospital-resources",
                description="Hospital resources and their audit trail")


@blp.route("/<int:hospital_id>")
class Resources(MethodView):
    @blp.response(200, schemas.ResourceSchema(many=True))
    @blp.alt_response(404, description="No such hospital, or not approved and not yours")
    def get(self, hospital_id):
        """Counts per resource type"""
        return service.list_for_hospital(get_db(), hospital_id, get_current_user())


@blp.route(f"/<int:hospital_id>/<{TYPE}:resource_type>")
class Resource(MethodView):
    @blp.arguments(schemas.ResourceUpdateSchema)
    @blp.response(200, schemas.ResourceSchema)
    @blp.alt_response(404, description="Not your hospital")
    @blp.alt_response(409, description="The counts do not add up: total is below "
                                       "occupied + reserved + maintenance")
    @roles_required("hospital-authority", "admin")
    def put(self, data, hospital_id, resource_type):
        """Set total/occupied/reserved/maintenance (creates the row if absent); audited

        Counters not sent keep their current value; creating a resource type needs
        `total`. `available` is derived: total - occupied - reserved - maintenance. The
        read and the write are one transaction, so a booking allocating at the same
        moment is never overwritten. Every change is in the audit log with the old and
        new counters, the reason, the IP and the user agent. The hospital's authority or
        an admin.
        """
        reason = data.pop("reason")
        return service.set_counts(
            get_db(), hospital_id, resource_type, data, get_current_user(), reason=reason,
            ip_address=request.remote_addr, user_agent=request.headers.get("User-Agent"),
            now=utcnow(),
        )


@blp.route(f"/<int:hospital_id>/<{TYPE}:resource_type>/availability")
class Availability(MethodView):
    @blp.response(200, schemas.AvailabilitySchema)
    @blp.alt_response(404, description="No such hospital or resource")
    def get(self, hospital_id, resource_type):
        """Live availability of one resource type"""
        return service.availability(get_db(), hospital_id, resource_type, get_current_user())


@blp.route("/<int:hospital_id>/audit-log")
class AuditLog(MethodView):
    @blp.arguments(schemas.AuditQueryArgsSchema, location="query")
    @blp.response(200, schemas.AuditEntrySchema(many=True))
    @blp.paginate()
    @blp.alt_response(404, description="Not your hospital")
    @roles_required("hospital-authority", "admin")
    def get(self, args, hospital_id, pagination_parameters):
        """Every change to the hospital's resources, newest first

        Resource edits and every booking allocation (`allocate`) and release
        (`release`): who, when, old and new counters, reason, IP, user agent.
        """
        limit, offset = page_bounds(pagination_parameters)
        rows, total = service.audit_log(
            get_db(), hospital_id, get_current_user(), resource_type=args.get("resource_type"),
            limit=limit, offset=offset,
        )
        pagination_parameters.item_count = total
        return rows


@blp.route("/<int:hospital_id>/utilization")
class Utilization(MethodView):
    @blp.response(200, schemas.UtilizationSchema)
    @blp.alt_response(404, description="Not your hospital")
    @roles_required("hospital-authority", "admin")
    def get(self, hospital_id):
        """Occupancy ratios per resource type and overall

        `occupancyRate = occupied / total`; `utilizationRate = (total - available) /
        total`.
        """
        return service.utilization(get_db(), hospital_id, get_current_user())
