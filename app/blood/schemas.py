"""Blood request and donor-match schemas (camelCase JSON, snake_case attributes)."""
from marshmallow import fields, validate

from app.blood.compatibility import BLOOD_TYPES
from app.validation import PHONE, CamelCaseSchema, Schema, UtcDateTime, clean_text, id_field
from app.vocabulary import BLOOD_REQUEST_STATUSES, URGENCIES

CLOSING_STATUSES = ("fulfilled", "cancelled")

BLOOD_TYPE_HELP = (
    "One of A+ A- B+ B- AB+ AB- O+ O- (exact spelling). In a query string, "
    "send '+' as %2B: a bare '+' means a space there."
)


def blood_type_field(**kwargs):
    return fields.Str(
        validate=validate.OneOf(BLOOD_TYPES, error=f"Must be one of: {', '.join(BLOOD_TYPES)}."),
        metadata={"description": BLOOD_TYPE_HELP},
        **kwargs,
    )


def urgency_field(**kwargs):
    return fields.Str(validate=validate.OneOf(URGENCIES), **kwargs)


def optional_text(max_length, **kwargs):
    """Optional free text: null or blank is stored as NULL."""
    return clean_text(max_length, min_length=0, allow_none=True, load_default=None, **kwargs)


class BloodRequestCreateSchema(Schema):
    patient_name = clean_text(200, required=True)
    blood_type = blood_type_field(required=True)
    units_needed = fields.Int(
        required=True, strict=True, validate=validate.Range(min=1, max=20)
    )
    urgency = urgency_field(load_default="medium")
    hospital_id = id_field(
        strict=True, allow_none=True, load_default=None,
        metadata={"description": "An approved hospital, if the blood is needed there."},
    )
    contact_phone = fields.Str(required=True, validate=PHONE)
    location = clean_text(300, required=True)
    medical_condition = optional_text(2000)
    required_by = UtcDateTime(
        allow_none=True, load_default=None,
        metadata={"description": "ISO-8601 with offset, in the future (at most a year ahead). "
                                 "The request expires after it."},
    )
    notes = optional_text(2000)


class BloodRequestStatusSchema(Schema):
    status = fields.Str(
        required=True, validate=validate.OneOf(CLOSING_STATUSES),
        metadata={"description": "An active request can become fulfilled or cancelled."},
    )


class BloodRequestQueryArgsSchema(CamelCaseSchema):
    blood_type = blood_type_field()
    urgency = urgency_field()
    hospital_id = id_field()
    location = clean_text(
        300, min_length=0,
        metadata={"description": "Substring of the location (case-insensitive for ASCII)."},
    )


class MyRequestsQueryArgsSchema(CamelCaseSchema):
    status = fields.Str(validate=validate.OneOf(BLOOD_REQUEST_STATUSES))


class CompatibleQueryArgsSchema(CamelCaseSchema):
    donor_blood_type = blood_type_field(required=True)


class MatchCreateSchema(Schema):
    donor_blood_type = blood_type_field(required=True)
    phone = fields.Str(
        allow_none=True, load_default=None, validate=PHONE,
        metadata={"description": "How the requester reaches you; defaults to your profile phone."},
    )


class BloodRequestSchema(CamelCaseSchema):
    id = fields.Int()
    requester_id = fields.Int()
    patient_name = fields.Str()
    blood_type = fields.Str()
    units_needed = fields.Int()
    urgency = fields.Str()
    hospital_id = fields.Int(allow_none=True)
    hospital_name = fields.Str(allow_none=True)
    contact_phone = fields.Str()
    location = fields.Str()
    medical_condition = fields.Str(allow_none=True)
    required_by = fields.Str(allow_none=True)
    notes = fields.Str(allow_none=True)
    status = fields.Str(metadata={"description": " | ".join(BLOOD_REQUEST_STATUSES)})
    match_count = fields.Int(
        metadata={"description": "Donors who volunteered so far."}
    )
    created_at = fields.Str()
    updated_at = fields.Str()


class MatchSchema(CamelCaseSchema):
    id = fields.Int()
    blood_request_id = fields.Int()
    donor_id = fields.Int()
    donor_name = fields.Str()
    donor_blood_type = fields.Str()
    phone = fields.Str(allow_none=True)
    created_at = fields.Str()
