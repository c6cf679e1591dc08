import marshmallow as ma
from marshmallow import fields, validate

from app.extensions.dumping import ResponseSchema
from app.money import Money, format_bp, parse_multiplier_bp
from app.resources import RESOURCE_TYPES
from app.validation import Bool, Schema

URGENCIES = ("low", "medium", "high", "critical")
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
    resource_type = fields.Str(data_key="resourceType")
    base_price = Money(attribute="base_price_minor", data_key="basePrice")
    price_per_hour = Money(attribute="price_per_hour_minor", data_key="pricePerHour")
    price_per_day = Money(attribute="price_per_day_minor", data_key="pricePerDay")
    emergency_multiplier = Multiplier(
        attribute="emergency_multiplier_bp", data_key="emergencyMultiplier",
        metadata={"description": "Applied to high and critical urgency, e.g. \"1.5\"."},
    )
    currency = fields.Str()
    effective_from = fields.Str(data_key="effectiveFrom")
    effective_to = fields.Str(data_key="effectiveTo", allow_none=True,
                              metadata={"description": "null while this price is active"})


class PriceHistorySchema(PriceSchema):
    """What the hospital's managers see: also who set each price."""

    created_by = fields.Int(data_key="createdBy", allow_none=True)


class PriceUpdateSchema(Schema):
    base_price = Money(data_key="basePrice", required=True, allow_zero=True)
    price_per_hour = Money(data_key="pricePerHour", load_default=0, allow_zero=True)
    price_per_day = Money(data_key="pricePerDay", load_default=0, allow_zero=True)
    emergency_multiplier = Multiplier(
        data_key="emergencyMultiplier", load_default=MIN_MULTIPLIER_BP,
        metadata={"description": "Between \"1\" and \"10\", at most four decimals; default \"1\"."},
    )


class PriceHistoryArgsSchema(ma.Schema):
    resource_type = fields.Str(data_key="resourceType", validate=validate.OneOf(RESOURCE_TYPES))


class CalculateSchema(Schema):
    hospital_id = fields.Int(data_key="hospitalId", required=True, strict=True,
                             validate=validate.Range(min=1, max=2**63 - 1))
    resource_type = fields.Str(data_key="resourceType", required=True,
                               validate=validate.OneOf(RESOURCE_TYPES))
    estimated_duration = fields.Int(data_key="estimatedDuration", load_default=24, strict=True,
                                    validate=validate.Range(min=1, max=168),
                                    metadata={"description": "Hours, 1-168 (default 24)."})
    urgency = fields.Str(load_default="medium", validate=validate.OneOf(URGENCIES))


class BreakdownSchema(ma.Schema):
    base_price = Money(attribute="base_minor", data_key="basePrice")
    hourly_charge = Money(attribute="hourly_minor", data_key="hourlyCharge")
    daily_charge = Money(attribute="daily_minor", data_key="dailyCharge")
    hours = fields.Int()
    days = fields.Int()
    subtotal = Money(attribute="subtotal_minor")
    emergency_multiplier = Multiplier(attribute="multiplier_bp", data_key="emergencyMultiplier")
    emergency_surcharge = Money(attribute="emergency_surcharge_minor",
                                data_key="emergencySurcharge")
    total = Money(attribute="total_minor")


class QuoteSchema(ma.Schema):
    hospital_id = fields.Int(data_key="hospitalId")
    resource_type = fields.Str(data_key="resourceType")
    estimated_duration = fields.Int(data_key="estimatedDuration")
    urgency = fields.Str()
    amount = Money(attribute="amount_minor")
    currency = fields.Str()
    breakdown = fields.Nested(BreakdownSchema)


class PaymentPolicySchema(ma.Schema):
    hospital_id = fields.Int(data_key="hospitalId")
    platform_fee_bp = fields.Int(
        data_key="platformFeeBp",
        metadata={"description": "Platform fee in basis points (500 = 5 %)."})
    cancellation_window_hours = fields.Int(data_key="cancellationWindowHours")
    refund_inside_window_bp = fields.Int(
        data_key="refundInsideWindowBp",
        metadata={"description": "Share refunded when cancelled inside the window (basis points); "
                                 "earlier cancellations are refunded in full."})
    is_default = Bool(
        data_key="isDefault",
        metadata={"description": "True while the hospital uses the platform's configured default."})


def _basis_points(data_key):
    return fields.Int(data_key=data_key, strict=True, validate=validate.Range(min=0, max=10_000),
                      metadata={"description": "0-10000 basis points (10000 = 100 %)."})


class PaymentPolicyUpdateSchema(Schema):
    """Fields not sent keep their current (or default) value."""

    at_least_one_of = ("platform_fee_bp", "cancellation_window_hours", "refund_inside_window_bp")

    platform_fee_bp = _basis_points("platformFeeBp")
    cancellation_window_hours = fields.Int(
        data_key="cancellationWindowHours", strict=True, validate=validate.Range(min=0, max=720))
    refund_inside_window_bp = _basis_points("refundInsideWindowBp")
