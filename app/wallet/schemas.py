import marshmallow as ma
from marshmallow import fields, validate

from app.money import Money
from app.payments.schemas import GatewayResultSchema, money_out
from app.validation import CamelCaseSchema, Schema, clean_text

# SSLCommerz takes 10.00 to 500000.00 BDT per transaction.
TOPUP_MIN_MINOR = 10_00
TOPUP_MAX_MINOR = 500_000_00


class WalletSchema(CamelCaseSchema):
    user_id = fields.Int()
    balance = money_out("balance_minor")
    currency = fields.Str()
    updated_at = fields.Str(allow_none=True)


class LedgerEntrySchema(CamelCaseSchema):
    id = fields.Int()
    type = fields.Str(metadata={"description": "credit | debit | refund | fee"})
    amount = money_out("amount_minor")
    balance_before = money_out("balance_before_minor")
    balance_after = money_out("balance_after_minor")
    description = fields.Str()
    transaction_id = fields.Int(allow_none=True)
    created_by = fields.Int(allow_none=True)
    created_at = fields.Str()


class TopupSchema(Schema):
    amount = Money(
        required=True,
        validate=validate.Range(min=TOPUP_MIN_MINOR, max=TOPUP_MAX_MINOR,
                                error="Must be between 10.00 and 500000.00."),
    )


class TopupResultSchema(GatewayResultSchema):
    pass


class DecimalString(Money):
    """Money that takes only a JSON string: a JSON number such as 9000 or 1.5 is a 422
    (a float is no way to send money, and "9000.00" is what every amount looks like)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ma.ValidationError("Must be a decimal string such as \"500.00\" or \"-500.00\".")
        return super()._deserialize(value, attr, data, **kwargs)


class AdjustSchema(Schema):
    amount = DecimalString(
        required=True, allow_negative=True,
        metadata={"type": "string", "example": "-500.00",
                  "description": "Signed decimal string (a JSON number is refused): \"500.00\" "
                                 "credits, \"-500.00\" debits (never below zero: 409)."},
    )
    reason = clean_text(500, allow_control_chars=True, required=True)


class AdjustResultSchema(WalletSchema):
    entry = fields.Nested(LedgerEntrySchema)
