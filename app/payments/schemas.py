import marshmallow as ma
from marshmallow import fields, validate

from app.bookings.schemas import BookingSchema
from app.money import Money
from app.validation import CamelCaseSchema, Schema, clean_text, id_field
from app.vocabulary import (
    PAYMENT_METHODS,
    REFUND_STATUSES,
    TRANSACTION_KINDS,
    TRANSACTION_STATUSES,
)


def money_out(attribute, **kwargs):
    return Money(attribute=attribute, dump_only=True, allow_none=True, **kwargs)


class TransactionSchema(CamelCaseSchema):
    id = fields.Int()
    transaction_ref = fields.Str(metadata={"description": "Our tran_id at the gateway."})
    kind = fields.Str(metadata={"description": " | ".join(TRANSACTION_KINDS)})
    booking_id = fields.Int(allow_none=True)
    user_id = fields.Int()
    hospital_id = fields.Int(allow_none=True)
    amount = money_out("amount_minor")
    currency = fields.Str()
    method = fields.Str(allow_none=True, metadata={"description": " | ".join(PAYMENT_METHODS)})
    status = fields.Str(metadata={"description": " | ".join(TRANSACTION_STATUSES)})
    platform_fee = money_out("platform_fee_minor")
    hospital_share = money_out("hospital_share_minor")
    refunded = money_out("refunded_minor")
    gateway_status = fields.Str(allow_none=True)
    failure_reason = fields.Str(allow_none=True)
    created_at = fields.Str()
    updated_at = fields.Str()
    completed_at = fields.Str(allow_none=True)


class ProcessPaymentSchema(Schema):
    booking_id = id_field(required=True, strict=True)
    method = fields.Str(required=True, validate=validate.OneOf(PAYMENT_METHODS))


class GatewayResultSchema(TransactionSchema):
    gateway_url = fields.Str(
        allow_none=True,
        metadata={"description": "sslcommerz only: send the customer's browser here."},
    )


class InsufficientBalanceSchema(CamelCaseSchema):
    code = fields.Int()
    status = fields.Str()
    message = fields.Str()
    required = fields.Str(metadata={"description": "Amount due, e.g. \"1500.00\"."})
    balance = fields.Str()
    shortfall = fields.Str()
    currency = fields.Str()


# The gateway's forms keep its own snake_case names: plain marshmallow, no camelCase.
class IpnFormSchema(ma.Schema):
    """The gateway's IPN form; every other field it sends is kept for the signature check."""

    class Meta:
        unknown = ma.INCLUDE

    tran_id = fields.Str(required=True, validate=validate.Length(max=100))
    status = fields.Str(required=True, validate=validate.Length(max=50))
    verify_sign = fields.Str(required=True, validate=validate.Length(max=200))
    verify_key = fields.Str(required=True, validate=validate.Length(max=4000))
    val_id = fields.Str(validate=validate.Length(max=100))
    amount = fields.Str(validate=validate.Length(max=50))
    currency = fields.Str(validate=validate.Length(max=10))


class IpnResultSchema(CamelCaseSchema):
    result = fields.Str(metadata={"description": "completed | duplicate | failed | ignored"})
    transaction_status = fields.Str()


class ReturnPageSchema(CamelCaseSchema):
    outcome = fields.Str()
    tran_id = fields.Str(allow_none=True)
    transaction_status = fields.Str(allow_none=True)
    message = fields.Str()


class ReturnFormSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    tran_id = fields.Str(load_default=None, validate=validate.Length(max=100))


class PaymentHistoryQueryArgsSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE  # page / page_size belong to the paginator

    status = fields.Str(validate=validate.OneOf(TRANSACTION_STATUSES))
    kind = fields.Str(validate=validate.OneOf(TRANSACTION_KINDS))


class RefundRequestSchema(Schema):
    amount = Money(required=True)
    reason = clean_text(1000, allow_control_chars=True, required=True)


class RefundSchema(CamelCaseSchema):
    id = fields.Int()
    payment_id = fields.Int(attribute="transaction_id")
    amount = money_out("amount_minor")
    reason = fields.Str()
    method = fields.Str()
    status = fields.Str(metadata={"description": " | ".join(REFUND_STATUSES)})
    gateway_refund_ref = fields.Str(allow_none=True)
    requested_by = fields.Int(allow_none=True)
    created_at = fields.Str()
    completed_at = fields.Str(allow_none=True)


class RefundResultSchema(RefundSchema):
    currency = fields.Str()
    payment = fields.Nested(TransactionSchema)


class RefundConflictSchema(CamelCaseSchema):
    code = fields.Int()
    status = fields.Str()
    message = fields.Str()
    refundable = fields.Str(metadata={"description": "What is left to refund."})
    currency = fields.Str()


class ReceiptSchema(TransactionSchema):
    receipt_number = fields.Str()
    payer_name = fields.Str()
    payer_email = fields.Str()
    hospital_name = fields.Str(allow_none=True)
    booking_reference = fields.Str(allow_none=True)
    resource_type = fields.Str(allow_none=True)
    scheduled_date = fields.Str(allow_none=True)
    net_paid = money_out("net_paid_minor")
    refunds = fields.List(fields.Nested(RefundSchema))


class HistoryItemSchema(TransactionSchema):
    booking_reference = fields.Str(allow_none=True)


class WriteOffRequestSchema(Schema):
    reason = clean_text(1000, required=True, metadata={
        "description": "Why the due is written off (kept in the admin audit log)."})


class WriteOffSchema(CamelCaseSchema):
    id = fields.Int()
    booking_id = fields.Int()
    hospital_id = fields.Int()
    amount = money_out("amount_minor", metadata={"description": "The due written off."})
    currency = fields.Str()
    reason = fields.Str()
    written_off_by = fields.Int()
    created_at = fields.Str()


class WriteOffResultSchema(WriteOffSchema):
    booking = fields.Nested(BookingSchema, metadata={
        "description": "The booking after the write-off (`paymentStatus: written_off`)."})
