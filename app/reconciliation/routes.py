"""/api/reconciliation: runs, discrepancies, a manual run, resolving findings (admin)."""
from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user

from app.auth.guards import roles_required
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.payments.sslcommerz import gateway_from_app
from app.reconciliation import schemas, service
from app.timeutil import utcnow

blp = Blueprint("reconciliation", __name__, url_prefix="/api/reconciliation",
                description="Payment reconciliation (admin)")


@blp.route("/history")
class ReconciliationHistory(MethodView):
    @blp.response(200, schemas.RunSchema(many=True))
    @blp.paginate()
    @roles_required("admin")
    def get(self, pagination_parameters):
        """Reconciliation runs, newest first"""
        limit, offset = page_bounds(pagination_parameters)
        rows, total = service.history(get_db(), limit=limit, offset=offset)
        pagination_parameters.item_count = total
        return rows


@blp.route("/discrepancies")
class Discrepancies(MethodView):
    @blp.arguments(schemas.DiscrepancyQueryArgsSchema, location="query")
    @blp.response(200, schemas.DiscrepancySchema(many=True))
    @blp.paginate()
    @roles_required("admin")
    def get(self, args, pagination_parameters):
        """Discrepancies found by reconciliation (open by default), newest first"""
        limit, offset = page_bounds(pagination_parameters)
        rows, total = service.discrepancies(get_db(), status=args["status"],
                                            severity=args.get("severity"), limit=limit,
                                            offset=offset)
        pagination_parameters.item_count = total
        return rows


@blp.route("/daily/trigger")
class TriggerReconciliation(MethodView):
    @blp.arguments(schemas.TriggerSchema)
    @blp.response(201, schemas.RunSchema)
    @blp.alt_response(422, description="A date in the future")
    @roles_required("admin")
    def post(self, data):
        """Run reconciliation now (optionally for another day)

        Same checks as the daily job; findings already open are not repeated.
        """
        return service.trigger(get_db(), run_date=data["date"], admin_id=current_user.id,
                               now=utcnow(), config=current_app.config, gateway=gateway_from_app())


@blp.route("/discrepancies/<int:discrepancy_id>/resolve")
class ResolveDiscrepancy(MethodView):
    @blp.arguments(schemas.ResolveSchema)
    @blp.response(200, schemas.DiscrepancySchema)
    @blp.alt_response(404, description="No such discrepancy")
    @blp.alt_response(409, description="Already resolved")
    @roles_required("admin")
    def put(self, data, discrepancy_id):
        """Resolve a discrepancy with notes (what was done about it)"""
        return service.resolve(get_db(), discrepancy_id=discrepancy_id,
                               admin_id=current_user.id, notes=data["notes"], now=utcnow(),
                               ip_address=request.remote_addr)
