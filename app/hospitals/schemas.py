import functools
import zoneinfo

import marshmallow as ma
from marshmallow import fields, validate

from app.auth.schemas import Email
from app.extensions.dumping import ResponseSchema
from app.pricing.schemas import PriceSchema
from app.resources.schemas import ResourceSchema
from app.validation import (
    ANY_FIELD,
    PHONE,
    CamelCaseSchema,
    Schema,
    UtcDateTime,
    clean_text,
    id_field,
)
from app.vocabulary import HOSPITAL_STATUSES, RESOURCE_TYPES

MAX_SPECIALTIES = 30
MAX_FACILITIES = 30


@functools.cache
def _timezones():
    return zoneinfo.available_timezones()  # scans tzdata: once is enough


def _known_timezone(value):
    if value not in _timezones():
        raise ma.ValidationError("Not a known IANA time zone, e.g. \"Asia/Dhaka\".")


class HospitalSchema(ResponseSchema):
    id = fields.Int()
    name = fields.Str()
    description = fields.Str(allow_none=True)
    address = fields.Str()
    city = fields.Str(allow_none=True)
    phone = fields.Str(allow_none=True)
    email = fields.Str(allow_none=True)
    website = fields.Str(allow_none=True)
    specialties = fields.List(fields.Str())
    timezone = fields.Str()
    status = fields.Str(metadata={"description": " | ".join(HOSPITAL_STATUSES)})
    approved_by = fields.Int(allow_none=True)
    approved_at = fields.Str(allow_none=True)
    rejection_reason = fields.Str(allow_none=True)
    suspension_reason = fields.Str(allow_none=True)
    created_at = fields.Str()
    updated_at = fields.Str()
    license_number = fields.Str(allow_none=True, metadata={
        "description": "The health authority's licence number. Shown to admins and the "
                       "hospital's own staff only: absent for everyone else."})
    facilities = fields.List(fields.Str())
    operating_hours = fields.Str(allow_none=True)
    emergency_contact = fields.Str(allow_none=True)


class HospitalListItemSchema(HospitalSchema):
    resources = fields.List(fields.Nested(ResourceSchema))


class HospitalDetailSchema(HospitalListItemSchema):
    prices = fields.List(fields.Nested(PriceSchema))


class HospitalUpdateSchema(Schema):
    """Fields not sent keep their value; ``null`` clears an optional one."""

    at_least_one_of = ANY_FIELD

    name = clean_text(200)
    address = clean_text(500)
    description = clean_text(5000, allow_control_chars=True, allow_none=True)
    city = clean_text(100, allow_none=True)
    phone = fields.Str(allow_none=True, validate=PHONE)
    email = Email(allow_none=True, validate=validate.Length(max=254))
    website = fields.Url(
        allow_none=True, schemes={"http", "https"}, validate=validate.Length(max=500)
    )
    specialties = fields.List(clean_text(100), validate=validate.Length(max=MAX_SPECIALTIES))
    timezone = fields.Str(
        validate=[validate.Length(max=64), _known_timezone],
        metadata={"description": "IANA time zone; defaults to the platform's (Asia/Dhaka)."},
    )
    license_number = clean_text(100, allow_none=True, metadata={
        "description": "Required before an admin approves the hospital; unique among "
                       "hospitals. Once approved, only an admin changes it."})
    facilities = fields.List(clean_text(100), validate=validate.Length(max=MAX_FACILITIES),
                             metadata={"description": "e.g. [\"ambulance\", \"pharmacy\"]; "
                                                      "searchable like specialties."})
    operating_hours = clean_text(200, allow_none=True,
                                 metadata={"description": "Free text, e.g. \"24/7\"."})
    emergency_contact = fields.Str(allow_none=True, validate=PHONE, metadata={
        "description": "The phone number to call in an emergency."})


class HospitalCreateSchema(HospitalUpdateSchema):
    name = clean_text(200, required=True)
    address = clean_text(500, required=True)


class HospitalSearchQueryArgsSchema(CamelCaseSchema):
    q = clean_text(200, min_length=0, allow_control_chars=True, metadata={
        "description": "Free text over name, address, city, specialties and facilities. "
                       "Words are matched "
                       "as prefixes and all must match; punctuation and search operators are "
                       "treated as plain text."})
    resource_type = fields.Str(validate=validate.OneOf(RESOURCE_TYPES))
    min_available = fields.Int(
        validate=validate.Range(min=0, max=100_000),
        metadata={"description": "At least this many units free (of resourceType if given, "
                                 "else of any type): free now, as the live counters count "
                                 "them; with from/to, free for the whole window."},
    )
    start = UtcDateTime(data_key="from", metadata={
        "description": "With to: minAvailable counts the units free for the whole window "
                       "[from, to) (ISO-8601 with offset; at most 31 days, ending in the "
                       "future; a window that began counts from now)."})
    end = UtcDateTime(data_key="to", metadata={"description": "ISO-8601 with offset."})
    facility = clean_text(100, metadata={
        "description": "Only hospitals that list this facility (whole name, any case)."})


class HospitalStatusQueryArgsSchema(CamelCaseSchema):
    status = fields.Str(validate=validate.OneOf(HOSPITAL_STATUSES))


class StaffAddSchema(Schema):
    email = Email(required=True, validate=validate.Length(max=254), metadata={
        "description": "The email of a hospital-authority account that has no hospital yet."})


class StaffAssignSchema(Schema):
    user_id = id_field(required=True, metadata={
        "description": "A hospital-authority account that has no hospital yet."})


class RequiredReasonSchema(Schema):
    reason = clean_text(1000, required=True)


class ApiKeyCreateSchema(Schema):
    name = clean_text(100, required=True, metadata={
        "description": "What the key is for, e.g. \"HIS bed feed\" (1-100 characters)."})


class ApiKeySchema(CamelCaseSchema):
    id = fields.Int()
    hospital_id = fields.Int()
    name = fields.Str()
    prefix = fields.Str(metadata={"description": "The key's first characters (rc_…), to tell "
                                                 "keys apart; the key itself is never shown again."})
    created_by = fields.Int()
    created_by_name = fields.Str(allow_none=True)
    created_at = fields.Str()
    last_used_at = fields.Str(allow_none=True)
    revoked_at = fields.Str(allow_none=True)
    revoked_by = fields.Int(allow_none=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    key = fields.Str(metadata={
        "description": "The key, shown this once (stored only as its SHA-256). Send it as "
                       "`Authorization: Bearer rc_…`."})
