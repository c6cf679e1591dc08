"""/api/wallet (balance, ledger, top-up) and /api/admin/wallets (adjustments)."""
from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user

from app.auth.guards import login_required, roles_required
from app.db import get_db
from app.extensions.api import Blueprint, page_bounds
from app.payments import service as payments_service
from app.payments.idempotency import current_claim, idempotent
from app.payments.sslcommerz import gateway_from_app
from app.timeutil import utcnow
from app.wallet import schemas, service

blp = Blueprint("wallet", __name__, url_prefix="/api", description="Wallets and their ledger")


@blp.route("/wallet")
class Wallet(MethodView):
    @blp.response(200, schemas.WalletSchema)
    @login_required
    def get(self):
        """Your wallet balance"""
        return service.get_wallet(get_db(), current_user.id, current_app.config["CURRENCY"])


@blp.route("/wallet/transactions")
class WalletTransactions(MethodView):
    @blp.response(200, schemas.LedgerEntrySchema(many=True))
    @blp.paginate()
    @login_required
    def get(self, pagination_parameters):
        """Your wallet ledger, newest first (append-only)"""
        limit, offset = page_bounds(pagination_parameters)
        rows, total = service.ledger(get_db(), current_user.id, limit=limit, offset=offset)
        pagination_parameters.item_count = total
        return rows


@blp.route("/wallet/topup")
class WalletTopup(MethodView):
    @blp.arguments(schemas.TopupSchema)
    @idempotent
    @blp.response(201, schemas.TopupResultSchema,
                  description="A `wallet_topup` payment, `processing`; open gatewayUrl")
    @blp.alt_response(400, description="Missing or malformed Idempotency-Key")
    @blp.alt_response(409, description="The Idempotency-Key was used with another body")
    @blp.alt_response(502, description="The gateway refused or did not answer")
    @blp.alt_response(503, description="Online payment is not configured or disabled")
    @login_required
    def post(self, data):
        """Top up your wallet through SSLCommerz

        The wallet is credited only when a verified IPN arrives.

        `amount` is 10.00 to 500000.00. Requires an Idempotency-Key.
        """
        tx, gateway_url = payments_service.start_topup(
            get_db(), user=current_user, amount_minor=data["amount"], now=utcnow(),
            config=current_app.config, gateway=gateway_from_app(), claim=current_claim(),
        )
        return {**tx, "gateway_url": gateway_url}


@blp.route("/admin/wallets/<int:user_id>/adjust")
class WalletAdjust(MethodView):
    @blp.arguments(schemas.AdjustSchema)
    @idempotent
    @blp.response(200, schemas.AdjustResultSchema)
    @blp.alt_response(400, description="Missing or malformed Idempotency-Key")
    @blp.alt_response(404, description="No such user")
    @blp.alt_response(409, description="A debit below zero, or the Idempotency-Key was used "
                                       "with another body")
    @roles_required("admin")
    def post(self, data, user_id):
        """Credit or debit a wallet by hand (admin; reason required; audited)

        Requires an Idempotency-Key, as every money endpoint does: a retried
        request gets the first answer back and moves the money once.

        `amount` is a signed decimal string (`"500.00"` credits, `"-500.00"` debits; a
        JSON number is a 422). Ledgered and written to the admin audit log.
        """
        return service.adjust(
            get_db(), admin_id=current_user.id, user_id=user_id, amount_minor=data["amount"],
            reason=data["reason"], ip_address=request.remote_addr, now=utcnow(),
            currency=current_app.config["CURRENCY"], claim=current_claim(),
        )
