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
        """Live counts per resource type

        `occupied`/`available` are as seen now: the units the hospital marked
        occupied plus those held by approved bookings whose window contains now.
        """
        return service.list_for_hospital(get_db(), hospital_id, get_current_user(), now=utcnow())


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
        `total`. The counts sent are the units marked outside the booking system
        (walk-ins, reservations, maintenance): unavailable from now on until changed.
        The answer shows live counters (plus the units approved bookings hold now). 409
        when the marks plus what approved bookings hold at their busiest instant from
        now on would exceed `total`. The read and the write are one transaction, so an
        approval at the same moment is never overlooked. Every change is in the audit log with the old and
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
    @blp.arguments(schemas.WindowArgsSchema, location="query")
    @blp.response(200, schemas.AvailabilitySchema)
    @blp.alt_response(404, description="No such hospital or resource")
    @blp.alt_response(422, description="Only one of from/to, to not after from, or in the past")
    def get(self, args, hospital_id, resource_type):
        """Live availability of one resource type; with `from`/`to`, also over that window

        `window.available` is the number of units free for the whole window (the fewest
        free at any instant of it from now on), after approved bookings' holds and the
        units marked unavailable.
        """
        return service.availability(
            get_db(), hospital_id, resource_type, get_current_user(), now=utcnow(),
            start=args.get("start"), end=args.get("end"),
        )


@blp.route(f"/<int:hospital_id>/<{TYPE}:resource_type>/schedule")
class Schedule(MethodView):
    @blp.arguments(schemas.DayArgsSchema, location="query")
    @blp.response(200, schemas.DayScheduleSchema)
    @blp.alt_response(404, description="Not your hospital, or no such resource")
    @roles_required("hospital-authority", "admin")
    def get(self, args, hospital_id, resource_type):
        """Staff day view: the holds of one calendar day and the units free hour by hour

        `date` is a day in the hospital's time zone (default: today there).
        """
        return service.day_schedule(
            get_db(), hospital_id, resource_type, get_current_user(), day=args.get("date"),
            now=utcnow(),
        )


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
        return service.utilization(get_db(), hospital_id, get_current_user(), now=utcnow())
