import marshmallow as ma
from marshmallow import fields, validate

from app.auth.passwords import MAX_PASSWORD_BYTES
from app.blood.schemas import BloodRequestSchema, MatchSchema
from app.bookings.schemas import BookingSchema, HistoryEntrySchema, NotificationSchema
from app.payments.schemas import HistoryItemSchema, RefundSchema
from app.validation import ANY_FIELD, PHONE, Bool, CamelCaseSchema, JsonBool, Schema, clean_text
from app.wallet.schemas import LedgerEntrySchema, WalletSchema

MIN_PASSWORD_LENGTH = 8


def _password_bytes(value):
    if len(value.encode()) > MAX_PASSWORD_BYTES:
        raise ma.ValidationError(f"Must be at most {MAX_PASSWORD_BYTES} bytes.")


# A Length validator, so the OpenAPI document states the minimum (minLength).
_password_strength = [
    _password_bytes,
    validate.Length(min=MIN_PASSWORD_LENGTH,
                    error=f"Must be at least {MIN_PASSWORD_LENGTH} characters."),
]
_PASSWORD_DESCRIPTION = (f"At least {MIN_PASSWORD_LENGTH} characters and at most "
                         f"{MAX_PASSWORD_BYTES} bytes in UTF-8.")


class Email(fields.Email):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class UserSchema(CamelCaseSchema):
    id = fields.Int()
    name = fields.Str()
    email = fields.Str()
    phone = fields.Str(allow_none=True)
    role = fields.Str()
    hospital_id = fields.Int(allow_none=True)
    status = fields.Str()
    email_verified = Bool(metadata={"description": "The address was confirmed with a mailed link."})
    email_notifications = Bool(
        metadata={"description": "Non-essential mail (booking decisions, receipts, refunds, blood "
                                 "matches) is sent; mail about the account itself always is."})
    last_login_at = fields.Str(allow_none=True)
    created_at = fields.Str()


class RegisterSchema(Schema):
    name = clean_text(200, allow_control_chars=True, required=True)
    email = Email(required=True, validate=validate.Length(max=254))
    password = fields.Str(required=True, validate=_password_strength, load_only=True,
                          metadata={"description": _PASSWORD_DESCRIPTION})
    phone = fields.Str(load_default=None, validate=PHONE)
    role = fields.Str(
        load_default="user",
        validate=validate.OneOf(("user", "hospital-authority")),
        metadata={"description": "Admins are created with `flask create-admin`, never here."},
    )


class LoginSchema(Schema):
    email = Email(required=True, validate=validate.Length(max=254))
    password = fields.Str(required=True, validate=validate.Length(max=1024), load_only=True)


class LoginResultSchema(CamelCaseSchema):
    token = fields.Str(metadata={"description": "Send as `Authorization: Bearer <token>`."})
    expires_at = fields.Str()
    csrf_token = fields.Str(
        metadata={"description": "For cookie sessions: send as X-CSRF-Token on unsafe requests."},
    )
    user = fields.Nested(UserSchema)


class ProfileUpdateSchema(Schema):
    """Fields not sent keep their value; send at least one."""

    at_least_one_of = ANY_FIELD

    name = clean_text(200, allow_control_chars=True)
    phone = fields.Str(allow_none=True, validate=PHONE)
    email_notifications = JsonBool(
        metadata={"description": "false: no non-essential mail (mail about the account itself "
                                 "is always sent)."})


class ChangePasswordSchema(Schema):
    current_password = fields.Str(
        required=True, validate=validate.Length(max=1024)
    )
    new_password = fields.Str(required=True, validate=_password_strength,
                              metadata={"description": _PASSWORD_DESCRIPTION})


# Mailed tokens are 43 characters (secrets.token_urlsafe(32)); anything of another
# shape is simply unknown, and answered like one (400), not as a schema error.
def _mailed_token():
    return fields.Str(required=True, validate=validate.Length(min=1, max=256),
                      metadata={"description": "The code from the mail (or its link's `token`)."})


class ForgotPasswordSchema(Schema):
    email = Email(required=True, validate=validate.Length(max=254))


class ForgotPasswordAnswerSchema(CamelCaseSchema):
    message = fields.Str()


class ResetPasswordSchema(Schema):
    token = _mailed_token()
    new_password = fields.Str(required=True, validate=_password_strength, load_only=True,
                              metadata={"description": _PASSWORD_DESCRIPTION})


class VerifyEmailSchema(Schema):
    token = _mailed_token()


# --- the caller's own data, closing an account (issue #18 item 6) --------------
# Each domain's own response schema, so the copy reads like that domain's endpoints.

class AccountDeleteSchema(Schema):
    password = fields.Str(required=True, validate=validate.Length(min=1, max=1024),
                          metadata={"description": "Your current password (re-authentication)."})


class SessionSchema(CamelCaseSchema):
    id = fields.Int()
    created_at = fields.Str()
    expires_at = fields.Str()
    revoked_at = fields.Str(allow_none=True)


class MyBookingSchema(BookingSchema):
    history = fields.List(fields.Nested(HistoryEntrySchema))


class MyPaymentSchema(HistoryItemSchema):
    refunds = fields.List(fields.Nested(RefundSchema))


class MyBloodRequestSchema(BloodRequestSchema):
    volunteers = fields.List(fields.Nested(MatchSchema))


class MyDataSchema(CamelCaseSchema):
    profile = fields.Nested(UserSchema)
    bookings = fields.List(fields.Nested(MyBookingSchema), metadata={
        "description": "Your bookings with their personal fields and status history."})
    payments = fields.List(fields.Nested(MyPaymentSchema), metadata={
        "description": "Your payments and top-ups, each with its refunds."})
    wallet = fields.Nested(WalletSchema)
    ledger = fields.List(fields.Nested(LedgerEntrySchema))
    notifications = fields.List(fields.Nested(NotificationSchema))
    blood_requests = fields.List(fields.Nested(MyBloodRequestSchema), metadata={
        "description": "Your blood requests with the donors who volunteered."})
    blood_volunteering = fields.List(fields.Nested(MatchSchema), metadata={
        "description": "The blood requests you volunteered for."})
    sessions = fields.List(fields.Nested(SessionSchema), metadata={
        "description": "Your logins (never their tokens)."})
