"""/api/pricing: active prices, their history, quotes and the payment policy."""
from flask import current_app, request
from flask.views import MethodView

from app.auth.guards import get_current_user, roles_required
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.pricing import schemas, service
from app.resources import RESOURCE_TYPE_CONVERTER as TYPE
from app.timeutil import utcnow

blp = Blueprint("pricing", __name__, url_prefix="/api/pricing",
                description="Prices, quotes and payment policies")


@blp.route("/hospitals/<int:hospital_id>")
class Prices(MethodView):
    @blp.response(200, schemas.PriceSchema(many=True))
    @blp.alt_response(404, description="No such hospital, or not approved and not yours")
    def get(self, hospital_id):
        """Active prices per resource type"""
        return service.active_prices(get_db(), hospital_id, get_current_user())


@blp.route(f"/hospitals/<int:hospital_id>/<{TYPE}:resource_type>")
class Price(MethodView):
    @blp.arguments(schemas.PriceUpdateSchema)
    @blp.response(200, schemas.PriceHistorySchema)
    @blp.alt_response(404, description="Not your hospital")
    @roles_required("hospital-authority", "admin")
    def put(self, data, hospital_id, resource_type):
        """Set a new price from now on (the previous one is kept as history)

        `basePrice` is required; `pricePerHour` and `pricePerDay` default to `"0.00"`;
        `emergencyMultiplier` is `"1"` to `"10"` with at most four decimals. The active
        price is closed (`effectiveTo` = now) and the new one inserted; a price row is
        never changed otherwise.
        """
        return service.set_price(
            get_db(), hospital_id, resource_type, data, get_current_user(),
            currency=current_app.config["CURRENCY"], ip_address=request.remote_addr,
            now=utcnow(),
        )


@blp.route("/hospitals/<int:hospital_id>/history")
class PriceHistory(MethodView):
    @blp.arguments(schemas.PriceHistoryQueryArgsSchema, location="query")
    @blp.response(200, schemas.PriceHistorySchema(many=True))
    @blp.paginate()
    @blp.alt_response(404, description="Not your hospital")
    @roles_required("hospital-authority", "admin")
    def get(self, args, hospital_id, pagination_parameters):
        """Every price the hospital has had, newest first"""
        limit, offset = page_bounds(pagination_parameters)
        rows, total = service.price_history(
            get_db(), hospital_id, get_current_user(), resource_type=args.get("resource_type"),
            limit=limit, offset=offset,
        )
        pagination_parameters.item_count = total
        return rows


@blp.route("/hospitals/<int:hospital_id>/policy")
class PaymentPolicy(MethodView):
    @blp.response(200, schemas.PaymentPolicySchema)
    @blp.alt_response(404, description="No such hospital, or not approved and not yours")
    def get(self, hospital_id):
        """The hospital's platform fee and cancellation policy (or the platform default)

        Public. Without a policy of its own the hospital has the configured defaults
        (PLATFORM_FEE_BP, CANCELLATION_WINDOW_HOURS, REFUND_INSIDE_WINDOW_BP) and
        `isDefault` is true.
        """
        return service.payment_policy(
            get_db(), hospital_id, get_current_user(), current_app.config
        )

    @blp.arguments(schemas.PaymentPolicyUpdateSchema)
    @blp.response(200, schemas.PaymentPolicySchema)
    @blp.alt_response(404, description="No such hospital")
    @roles_required("admin")
    def put(self, data, hospital_id):
        """Set the hospital's platform fee and cancellation policy (admins: it is the platform's fee)"""
        return service.set_payment_policy(
            get_db(), hospital_id, data, admin_id=get_current_user().id,
            ip_address=request.remote_addr, config=current_app.config, now=utcnow(),
        )


@blp.route("/calculate")
class Calculate(MethodView):
    @blp.arguments(schemas.CalculateSchema)
    @blp.response(200, schemas.QuoteSchema)
    @blp.alt_response(404, description="No such hospital, or it has no price for this resource")
    def post(self, data):
        """Quote what a booking would cost at the active price

        In poisha, rounded half up: days = ceil(hours / 24); subtotal = basePrice +
        pricePerHour x hours + pricePerDay x days; amount = subtotal x
        emergencyMultiplier when urgency is high or critical, else subtotal. Example:
        base 2000.00, 50.50/h, 1000.00/day, x1.5, 25 h at high urgency: (2000 + 1262.50
        + 2000) x 1.5 = 7893.75. Approval charges by the same rule.
        """
        return service.quote(get_db(), data, get_current_user())
