import marshmallow as ma
from marshmallow import fields, validate

from app.money import Money
from app.payments.schemas import GatewayResultSchema, money_out
from app.validation import Schema, text

# SSLCommerz takes 10.00 to 500000.00 BDT per transaction.
TOPUP_MIN_MINOR = 10_00
TOPUP_MAX_MINOR = 500_000_00


class WalletSchema(ma.Schema):
    user_id = fields.Int(data_key="userId")
    balance = money_out("balance_minor", "balance")
    currency = fields.Str()
    updated_at = fields.Str(data_key="updatedAt", allow_none=True)


class LedgerEntrySchema(ma.Schema):
    id = fields.Int()
    type = fields.Str(metadata={"description": "credit | debit | refund | fee"})
    amount = money_out("amount_minor", "amount")
    balance_before = money_out("balance_before_minor", "balanceBefore")
    balance_after = money_out("balance_after_minor", "balanceAfter")
    description = fields.Str()
    transaction_id = fields.Int(data_key="transactionId", allow_none=True)
    created_by = fields.Int(data_key="createdBy", allow_none=True)
    created_at = fields.Str(data_key="createdAt")


class TopupSchema(Schema):
    amount = Money(
        required=True,
        validate=validate.Range(min=TOPUP_MIN_MINOR, max=TOPUP_MAX_MINOR,
                                error="Must be between 10.00 and 500000.00."),
    )


class TopupResultSchema(GatewayResultSchema):
    pass


class AdjustSchema(Schema):
    amount = Money(
        required=True, allow_negative=True,
        metadata={"description": "Signed: \"500.00\" credits, \"-500.00\" debits (never below "
                                 "zero: 409)."},
    )
    reason = text(500, required=True)


class AdjustResultSchema(WalletSchema):
    entry = fields.Nested(LedgerEntrySchema)
