import marshmallow as ma
from marshmallow import fields, validate

from app.extensions.dumping import ResponseSchema
from app.money import Money, format_bp, parse_multiplier_bp
from app.validation import Bool, CamelCaseSchema, Schema, id_field
from app.vocabulary import RESOURCE_TYPES, URGENCIES

MIN_MULTIPLIER_BP, MAX_MULTIPLIER_BP = 10_000, 100_000  # 1x .. 10x, as the table's CHECK


class Multiplier(fields.Field):
    """A factor such as "1.5" (or 1.5) in JSON, integer basis points (15000) inside."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_bp(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ma.ValidationError("Must be a decimal such as \"1.5\".")
        try:
            basis_points = parse_multiplier_bp(value)
        except ValueError as error:
            raise ma.ValidationError(str(error)) from None
        if not MIN_MULTIPLIER_BP <= basis_points <= MAX_MULTIPLIER_BP:
            raise ma.ValidationError("Must be between 1 and 10.")
        return basis_points


class PriceSchema(ResponseSchema):
    id = fields.Int()
    resource_type = fields.Str()
    base_price = Money(attribute="base_price_minor")
    price_per_hour = Money(attribute="price_per_hour_minor")
    price_per_day = Money(attribute="price_per_day_minor")
    emergency_multiplier = Multiplier(
        attribute="emergency_multiplier_bp",
        metadata={"description": "Applied to high and critical urgency, e.g. \"1.5\"."},
    )
    currency = fields.Str()
    effective_from = fields.Str()
    effective_to = fields.Str(allow_none=True,
                              metadata={"description": "null while this price is active"})


class PriceHistorySchema(PriceSchema):
    """What the hospital's managers see: also who set each price."""

    created_by = fields.Int(allow_none=True)


class PriceUpdateSchema(Schema):
    base_price = Money(required=True, allow_zero=True)
    price_per_hour = Money(load_default=0, allow_zero=True)
    price_per_day = Money(load_default=0, allow_zero=True)
    emergency_multiplier = Multiplier(
        load_default=MIN_MULTIPLIER_BP,
        metadata={"description": "Between \"1\" and \"10\", at most four decimals; default \"1\"."},
    )


class PriceHistoryQueryArgsSchema(CamelCaseSchema):
    resource_type = fields.Str(validate=validate.OneOf(RESOURCE_TYPES))


class CalculateSchema(Schema):
    hospital_id = id_field(required=True, strict=True)
    resource_type = fields.Str(required=True, validate=validate.OneOf(RESOURCE_TYPES))
    estimated_duration = fields.Int(load_default=24, strict=True,
                                    validate=validate.Range(min=1, max=168),
                                    metadata={"description": "Hours, 1-168 (default 24)."})
    urgency = fields.Str(load_default="medium", validate=validate.OneOf(URGENCIES))


class BreakdownSchema(CamelCaseSchema):
    base_price = Money(attribute="base_minor")
    hourly_charge = Money(attribute="hourly_minor")
    daily_charge = Money(attribute="daily_minor")
    hours = fields.Int()
    days = fields.Int()
    subtotal = Money(attribute="subtotal_minor")
    emergency_multiplier = Multiplier(attribute="multiplier_bp")
    emergency_surcharge = Money(attribute="emergency_surcharge_minor")
    total = Money(attribute="total_minor")


class QuoteSchema(CamelCaseSchema):
    hospital_id = fields.Int()
    resource_type = fields.Str()
    estimated_duration = fields.Int()
    urgency = fields.Str()
    amount = Money(attribute="amount_minor")
    currency = fields.Str()
    breakdown = fields.Nested(BreakdownSchema)


class PaymentPolicySchema(CamelCaseSchema):
    hospital_id = fields.Int()
    platform_fee_bp = fields.Int(
        metadata={"description": "Platform fee in basis points (500 = 5 %)."})
    cancellation_window_hours = fields.Int()
    refund_inside_window_bp = fields.Int(
        metadata={"description": "Share refunded when cancelled inside the window (basis points); "
                                 "earlier cancellations are refunded in full."})
    is_default = Bool(
        metadata={"description": "True while the hospital uses the platform's configured default."})


def _basis_points():
    return fields.Int(strict=True, validate=validate.Range(min=0, max=10_000),
                      metadata={"description": "0-10000 basis points (10000 = 100 %)."})


class PaymentPolicyUpdateSchema(Schema):
    """Fields not sent keep their current (or default) value."""

    at_least_one_of = ("platform_fee_bp", "cancellation_window_hours", "refund_inside_window_bp")

    platform_fee_bp = _basis_points()
    cancellation_window_hours = fields.Int(
        strict=True, validate=validate.Range(min=0, max=720))
    refund_inside_window_bp = _basis_points()
