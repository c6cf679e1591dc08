import re

import marshmallow as ma
from marshmallow import fields, validate

from app.auth.guards import ROLES
from app.money import Money
from app.validation import Bool, CamelCaseSchema, Schema, UtcDateTime, clean_text, id_field
from app.vocabulary import GATEWAYS, USER_STATUSES

# Gateway settings are stored in plain text and shown to admins: credentials
# belong in the environment (RAPIDCARE_SSLCOMMERZ_STORE_PASSWORD), never here.
_SECRET_LOOKING = re.compile(r"pass|secret|token|key|credential", re.IGNORECASE)


class UserListQueryArgsSchema(CamelCaseSchema):
    role = fields.Str(validate=validate.OneOf(ROLES))
    status = fields.Str(validate=validate.OneOf(USER_STATUSES))
    hospital_id = id_field()


class UserStatusSchema(Schema):
    status = fields.Str(required=True, validate=validate.OneOf(USER_STATUSES))
    reason = clean_text(1000)


def _counts(description):
    return fields.Dict(keys=fields.Str(), values=fields.Int(), metadata={"description": description})


class RevenueSchema(CamelCaseSchema):
    payments = fields.Int(metadata={"description": "Paid booking payments counted."})
    gross = Money(attribute="gross_minor", metadata={"description": "Sum of amounts paid."})
    platform_fee = Money(attribute="platform_fee_minor")
    refunded = Money(attribute="refunded_minor")
    net = Money(attribute="net_minor", metadata={"description": "gross - refunded"})
    currency = fields.Str()


class StatsSchema(CamelCaseSchema):
    hospitals = _counts("Hospitals by status (every status, zeros included).")
    bookings = _counts("Bookings by status (every status, zeros included).")
    users = _counts("Users by role (every role, zeros included).")
    revenue = fields.Nested(RevenueSchema)


class PaymentConfigSchema(CamelCaseSchema):
    gateway = fields.Str()
    is_active = Bool()
    mode = fields.Str(metadata={"description": "sandbox | live"})
    settings = fields.Dict(metadata={"description": "Non-secret gateway settings."})
    updated_at = fields.Str(allow_none=True)


def _no_secrets(settings):
    suspicious = sorted(key for key in settings if _SECRET_LOOKING.search(key))
    if suspicious:
        raise ma.ValidationError(
            f"Secrets do not belong here (use the environment): {', '.join(suspicious)}."
        )


def _plain_setting(value):
    if not isinstance(value, (str, int, float, bool)) or len(str(value)) > 500:
        raise ma.ValidationError("Settings are strings, numbers or booleans (at most 500 characters).")


class PaymentConfigUpdateSchema(Schema):
    """Fields not sent keep their value; send at least one of isActive, mode, settings."""

    at_least_one_of = ("is_active", "mode", "settings")

    gateway = fields.Str(load_default="sslcommerz", validate=validate.OneOf(GATEWAYS))
    is_active = Bool()
    mode = fields.Str(validate=validate.OneOf(("sandbox", "live")))
    settings = fields.Dict(
        keys=fields.Str(validate=validate.Length(min=1, max=64)),
        values=fields.Raw(validate=_plain_setting),
        validate=[validate.Length(max=20), _no_secrets],
    )


class AuditLogQueryArgsSchema(CamelCaseSchema):
    actor_id = id_field(metadata={"description": "Who acted (a user id)."})
    action = clean_text(100, metadata={
        "description": "e.g. hospital.approve, hospital.reinstate, hospital.edit, "
                       "hospital.staff_add, hospital.staff_remove, user.status, "
                       "wallet.adjust, payment.refund, payment.write_off, discrepancy.resolve, "
                       "payment_config.set, api_key.create, api_key.revoke"})
    entity_type = clean_text(100, attribute="target_type", metadata={
        "description": "e.g. hospital, user, transaction, booking, reconciliation_discrepancy, "
                       "api_key"})
    entity_id = id_field(attribute="target_id")
    created_from = UtcDateTime(data_key="from", metadata={
        "description": "Entries at or after this moment (ISO-8601 with offset)."})
    created_before = UtcDateTime(data_key="to", metadata={
        "description": "Entries before this moment (ISO-8601 with offset)."})


class AdminAuditEntrySchema(CamelCaseSchema):
    id = fields.Int()
    actor_id = fields.Int(allow_none=True)
    actor_name = fields.Str(allow_none=True)
    actor_email = fields.Str(allow_none=True)
    action = fields.Str()
    entity_type = fields.Str(attribute="target_type")
    entity_id = fields.Int(attribute="target_id", allow_none=True)
    details = fields.Dict(metadata={
        "description": "What changed: old and new values, amounts (minor units), reasons."})
    ip_address = fields.Str(allow_none=True)
    created_at = fields.Str()
