"""/api/blood: blood requests, compatible-donor matching."""
from flask import current_app
from flask.views import MethodView
from flask_login import current_user

from app.auth.guards import login_required
from app.blood import schemas, service
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.timeutil import utcnow

blp = Blueprint(
    "blood", __name__, url_prefix="/api/blood",
    description="Blood requests and volunteer donors (any logged-in user)",
)


@blp.route("/request")
class BloodRequestCreate(MethodView):
    @blp.arguments(schemas.BloodRequestCreateSchema)
    @blp.response(201, schemas.BloodRequestSchema)
    @blp.alt_response(403, description="REQUIRE_VERIFIED_EMAIL is on and the email address is "
                                       "not verified yet")
    @blp.alt_response(422, description="Invalid input, past requiredBy, or no approved hospital "
                                       "with that hospitalId")
    @login_required
    def post(self, data):
        """Post a blood request (status active)

        Blood types are exactly `A+ A- B+ B- AB+ AB- O+ O-`. `unitsNeeded` is 1 to 20;
        `hospitalId`, if given, must be an approved hospital; `requiredBy`, if given, an
        ISO-8601 time with offset, in the future and at most a year ahead. A request
        whose `requiredBy` has passed leaves the lists and takes no donors; the
        scheduler then marks it `expired` and notifies the requester.
        """
        return service.create_request(get_db(), requester_id=current_user.id, data=data,
                                      now=utcnow(), config=current_app.config)


@blp.route("/requests")
class BloodRequestList(MethodView):
    @blp.arguments(schemas.BloodRequestQueryArgsSchema, location="query")
    @blp.response(200, schemas.BloodRequestSchema(many=True))
    @blp.paginate()
    @login_required
    def get(self, filters, pagination_parameters):
        """Active blood requests: most urgent, then soonest needed, then oldest first

        Filters: `bloodType`, `urgency`, `hospitalId`, `location` (a substring,
        case-insensitive for ASCII). In a query string send `+` as `%2B`: a bare `+`
        means a space there and is refused with 422.
        """
        limit, offset = page_bounds(pagination_parameters)
        total, page = service.list_active_requests(
            get_db(), filters, now=utcnow(), limit=limit, offset=offset
        )
        pagination_parameters.item_count = total
        return page


@blp.route("/my-requests")
class MyBloodRequests(MethodView):
    @blp.arguments(schemas.MyRequestsQueryArgsSchema, location="query")
    @blp.response(200, schemas.BloodRequestSchema(many=True))
    @blp.paginate()
    @login_required
    def get(self, args, pagination_parameters):
        """Your own blood requests, any status, newest first"""
        limit, offset = page_bounds(pagination_parameters)
        total, page = service.list_own_requests(
            get_db(), current_user.id, status=args.get("status"), limit=limit, offset=offset
        )
        pagination_parameters.item_count = total
        return page


@blp.route("/requests/compatible")
class CompatibleBloodRequests(MethodView):
    @blp.arguments(schemas.CompatibleQueryArgsSchema, location="query")
    @blp.response(200, schemas.BloodRequestSchema(many=True))
    @blp.paginate()
    @login_required
    def get(self, args, pagination_parameters):
        """Active requests a donor of donorBloodType can give to (never your own)

        Red-cell compatibility: O gives to every ABO group, A to A and AB, B to B and
        AB, AB to AB; an Rh- recipient takes only Rh- blood. Send `+` as `%2B`.
        """
        limit, offset = page_bounds(pagination_parameters)
        total, page = service.list_compatible_requests(
            get_db(), donor_id=current_user.id, donor_blood_type=args["donor_blood_type"],
            now=utcnow(), limit=limit, offset=offset,
        )
        pagination_parameters.item_count = total
        return page


@blp.route("/requests/<int:request_id>")
class BloodRequestDetail(MethodView):
    @blp.response(200, schemas.BloodRequestSchema)
    @blp.alt_response(404, description="No such request")
    @login_required
    def get(self, request_id):
        """One blood request"""
        return service.get_request(get_db(), request_id)


@blp.route("/requests/<int:request_id>/status")
class BloodRequestStatus(MethodView):
    @blp.arguments(schemas.BloodRequestStatusSchema)
    @blp.response(200, schemas.BloodRequestSchema)
    @blp.alt_response(403, description="Not the requester, the linked hospital's authority "
                                       "or an admin")
    @blp.alt_response(404, description="No such request")
    @blp.alt_response(409, description="The request is no longer active")
    @login_required
    def put(self, data, request_id):
        """Close a request: active -> fulfilled | cancelled

        The requester is notified when someone else closes it.
        """
        return service.change_status(
            get_db(), request_id=request_id, new_status=data["status"], actor=current_user,
            now=utcnow(),
        )


@blp.route("/requests/<int:request_id>/match")
class BloodRequestMatch(MethodView):
    @blp.arguments(schemas.MatchCreateSchema)
    @blp.response(201, schemas.MatchSchema)
    @blp.alt_response(404, description="No such request")
    @blp.alt_response(409, description="Incompatible blood type, your own request, already "
                                       "volunteered, or the request is no longer active")
    @login_required
    def post(self, data, request_id):
        """Volunteer as a donor; the requester is notified

        `phone` defaults to the one in your profile.
        """
        return service.volunteer(
            get_db(), request_id=request_id, donor=current_user,
            donor_blood_type=data["donor_blood_type"], phone=data["phone"], now=utcnow(),
        )


@blp.route("/requests/<int:request_id>/matches")
class BloodRequestMatches(MethodView):
    @blp.response(200, schemas.MatchSchema(many=True))
    @blp.alt_response(403, description="Not the requester, the linked hospital's authority "
                                       "or an admin")
    @blp.alt_response(404, description="No such request")
    @blp.paginate()
    @login_required
    def get(self, request_id, pagination_parameters):
        """Donors who volunteered for a request, with their phones"""
        limit, offset = page_bounds(pagination_parameters)
        total, page = service.list_matches(
            get_db(), request_id=request_id, actor=current_user, limit=limit, offset=offset
        )
        pagination_parameters.item_count = total
        return page
