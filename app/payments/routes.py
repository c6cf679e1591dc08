"""/api/payments: paying bookings, the SSLCommerz IPN, refunds, receipts, history."""
from flask import current_app, request
from flask.views import MethodView
from flask_login import current_user

from app.auth.guards import login_required, roles_required
from app.db import act_as_system, get_db
from app.extensions.api import Blueprint, page_bounds
from app.payments import refunds, schemas, service, settlement
from app.payments.idempotency import current_claim, idempotent
from app.payments.sslcommerz import gateway_from_app
from app.timeutil import utcnow

blp = Blueprint("payments", __name__, url_prefix="/api/payments",
                description="Booking payments (wallet or SSLCommerz), refunds, receipts")


@blp.route("/process")
class ProcessPayment(MethodView):
    @blp.arguments(schemas.ProcessPaymentSchema)
    @idempotent
    @blp.response(200, schemas.GatewayResultSchema,
                  description="wallet: the payment is completed")
    @blp.alt_response(201, schema=schemas.GatewayResultSchema,
                      description="sslcommerz: the payment is processing; open gatewayUrl")
    @blp.alt_response(400, description="Missing or malformed Idempotency-Key")
    @blp.alt_response(402, schema=schemas.InsufficientBalanceSchema,
                      description="Wallet balance too low")
    @blp.alt_response(404, description="No such booking, or not yours")
    @blp.alt_response(409, description="Not approved, already paid, a payment in progress, "
                                       "or the Idempotency-Key was used with another body")
    @blp.alt_response(502, description="The gateway refused or did not answer")
    @blp.alt_response(503, description="Online payment is not configured or disabled")
    @login_required
    def post(self, data):
        """Pay an approved booking from the wallet or through SSLCommerz

        The wallet is debited, the payment completed and the hospital's share
        recorded in one database transaction. With `sslcommerz` the payment is
        `processing` until a verified IPN arrives.
        """
        tx, gateway_url = service.process_payment(
            get_db(), user=current_user, booking_id=data["booking_id"], method=data["method"],
            now=utcnow(), config=current_app.config, gateway=gateway_from_app(),
            claim=current_claim(),
        )
        if gateway_url is None:
            return tx
        return {**tx, "gateway_url": gateway_url}, 201


@blp.route("/sslcommerz/ipn")
class SslcommerzIpn(MethodView):
    @blp.arguments(schemas.IpnFormSchema, location="form")
    @blp.response(200, schemas.IpnResultSchema)
    @blp.alt_response(400, description="The signature does not verify")
    @blp.alt_response(404, description="The tran_id is not ours")
    @blp.alt_response(409, description="The IPN's own amount or currency, or the gateway's "
                                       "validation record, does not match")
    @blp.alt_response(502, description="The validation API could not be reached; resend")
    def post(self, form):
        """SSLCommerz IPN (server to server, form-encoded)

        Verified by `verify_sign` (which must cover tran_id, amount, currency,
        status and, for a paid status in any letter case, val_id); the IPN's
        amount and currency must match our transaction; then the gateway's order
        validation API decides: its tran_id, amount and currency must match too.
        Duplicates are harmless: the payment is settled once.
        """
        act_as_system()  # the gateway settles someone's payment; no user is signed in
        return settlement.handle_ipn(get_db(), form=form, now=utcnow(),
                                     config=current_app.config, gateway=gateway_from_app())


@blp.route("/sslcommerz/return/<any(success, fail, cancel):outcome>")
class SslcommerzReturn(MethodView):
    @blp.arguments(schemas.ReturnFormSchema, location="form")
    @blp.response(200, schemas.ReturnPageSchema)
    def post(self, form, outcome):
        """Where the gateway sends the customer's browser back (changes nothing)

        Only a verified IPN changes a payment; this reports its current status.
        """
        act_as_system()  # the browser comes back without our session: nobody is signed in
        return service.return_page(get_db(), outcome=outcome, tran_id=form["tran_id"])


@blp.route("/history")
class PaymentHistory(MethodView):
    @blp.arguments(schemas.PaymentHistoryQueryArgsSchema, location="query")
    @blp.response(200, schemas.HistoryItemSchema(many=True))
    @blp.paginate()
    @login_required
    def get(self, args, pagination_parameters):
        """Payments: your own; an authority's hospital's; all for an admin (newest first)

        Filters: `status`, `kind`. Paginated.
        """
        limit, offset = page_bounds(pagination_parameters)
        rows, total = service.history(
            get_db(), user=current_user, status=args.get("status"), kind=args.get("kind"),
            limit=limit, offset=offset,
        )
        pagination_parameters.item_count = total
        return rows


@blp.route("/<int:payment_id>")
class Payment(MethodView):
    @blp.response(200, schemas.TransactionSchema)
    @blp.alt_response(404, description="No such payment, or not yours to see")
    @login_required
    def get(self, payment_id):
        """One payment (payer, its hospital's authority, admin)"""
        return service.get_visible_transaction(get_db(), current_user, payment_id)


@blp.route("/<int:payment_id>/receipt")
class PaymentReceipt(MethodView):
    @blp.response(200, schemas.ReceiptSchema)
    @blp.alt_response(404, description="No such payment, or not yours to see")
    @blp.alt_response(409, description="Not completed: no receipt yet")
    @login_required
    def get(self, payment_id):
        """Receipt of a completed payment (payer, its hospital's authority, admin)"""
        return service.receipt(get_db(), user=current_user, transaction_id=payment_id)


@blp.route("/<int:payment_id>/refund")
class PaymentRefund(MethodView):
    @blp.arguments(schemas.RefundRequestSchema)
    @idempotent
    @blp.response(201, schemas.RefundResultSchema,
                  description="Recorded. Wallet refunds are `completed`; gateway refunds are "
                              "`processing` once the gateway accepted them, `pending` if it did "
                              "not answer, `failed` if it refused (reconciliation reports those).")
    @blp.alt_response(400, description="Missing or malformed Idempotency-Key")
    @blp.alt_response(404, description="No such payment, or not of your hospital")
    @blp.alt_response(409, schema=schemas.RefundConflictSchema,
                      description="Not a completed booking payment, more than is left to "
                                  "refund, or the Idempotency-Key was used with another body")
    @roles_required("hospital-authority", "admin")
    def post(self, data, payment_id):
        """Refund (part of) a payment: its hospital's authority or an admin

        The total refunded never exceeds the amount paid. Wallet payments are
        refunded to the wallet, SSLCommerz payments through the gateway, under the
        reference RF<refund id>. A retry with the same Idempotency-Key never
        refunds again, even when the first request died after recording the refund.

        A paid booking cancelled later is refunded by the hospital's policy without this
        call: in full when cancelled at least the cancellation window before
        `scheduledDate`, else the inside-window percentage, less anything already
        refunded.
        """
        refund, tx = refunds.refund_payment(
            get_db(), actor=current_user, transaction_id=payment_id,
            amount_minor=data["amount"], reason=data["reason"], now=utcnow(),
            gateway=gateway_from_app(), claim=current_claim(), ip_address=request.remote_addr,
        )
        return {**refund, "currency": tx["currency"], "payment": tx}
