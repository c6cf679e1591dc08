from marshmallow import fields, validate

from app.extensions.dumping import ResponseSchema
from app.validation import Bool, CamelCaseSchema, Schema, UtcDateTime, clean_text
from app.vocabulary import RESOURCE_TYPES

# Far beyond any hospital; keeps every counter and their sum small integers.
MAX_UNITS = 100_000


class ResourceSchema(ResponseSchema):
    resource_type = fields.Str()
    total = fields.Int()
    available = fields.Int(metadata={"description": "total - occupied - reserved - maintenance"})
    occupied = fields.Int()
    reserved = fields.Int()
    maintenance = fields.Int()
    last_updated = fields.Str()


class WindowAvailabilitySchema(CamelCaseSchema):
    from_ = fields.Str(data_key="from", attribute="from")
    to = fields.Str()
    available = fields.Int(metadata={"description": "Units free for the whole window."})
    is_available = Bool()


class AvailabilitySchema(ResourceSchema):
    hospital_id = fields.Int()
    is_available = Bool()
    window = fields.Nested(WindowAvailabilitySchema, metadata={
        "description": "Only with from/to: the units free for the whole window."})


class WindowArgsSchema(Schema):
    start = UtcDateTime(data_key="from", metadata={"description": "ISO-8601 with offset."})
    end = UtcDateTime(data_key="to", metadata={"description": "ISO-8601 with offset."})


class DayArgsSchema(Schema):
    date = fields.Date(metadata={"description": "YYYY-MM-DD in the hospital's time zone "
                                               "(default: today there)."})


class HoldSchema(CamelCaseSchema):
    id = fields.Int(data_key="bookingId")
    booking_reference = fields.Str()
    patient_name = fields.Str()
    urgency = fields.Str()
    scheduled_date = fields.Str()
    scheduled_end = fields.Str()
    units = fields.Int()


class HourSchema(CamelCaseSchema):
    from_ = fields.Str(data_key="from", attribute="from")
    to = fields.Str()
    held = fields.Int(metadata={"description": "Most units held by bookings in the hour."})
    available = fields.Int(metadata={"description": "Units free for the whole hour."})


class DayScheduleSchema(CamelCaseSchema):
    hospital_id = fields.Int()
    resource_type = fields.Str()
    date = fields.Date()
    timezone = fields.Str()
    total = fields.Int()
    marked_unavailable = fields.Int(
        metadata={"description": "Units marked occupied, reserved or in maintenance."})
    holds = fields.List(fields.Nested(HoldSchema))
    hours = fields.List(fields.Nested(HourSchema))


def _count(description):
    return fields.Int(strict=True, validate=validate.Range(min=0, max=MAX_UNITS),
                      metadata={"description": description})


class ResourceUpdateSchema(Schema):
    at_least_one_of = ("total", "occupied", "reserved", "maintenance")

    total = _count("All units. Required when the hospital has no row of this type yet.")
    occupied = _count("Units in use.")
    reserved = _count("Units held back.")
    maintenance = _count("Units out of service.")
    reason = clean_text(
        500, required=True, metadata={"description": "Why the counts change; kept in the audit log."}
    )


class AuditEntrySchema(CamelCaseSchema):
    id = fields.Int()
    resource_type = fields.Str()
    action = fields.Str(metadata={"description": "create | update | delete | allocate | release"})
    old_values = fields.Dict(allow_none=True)
    new_values = fields.Dict(allow_none=True)
    reason = fields.Str(allow_none=True)
    booking_id = fields.Int(allow_none=True)
    changed_by = fields.Int(allow_none=True, metadata={
        "description": "The person who made the change; null for a change made with an API "
                       "key (see apiKeyId) or by the system."})
    changed_by_name = fields.Str(allow_none=True)
    api_key_id = fields.Int(allow_none=True, metadata={
        "description": "The hospital API key the change was made with, if any."})
    api_key_prefix = fields.Str(allow_none=True, metadata={
        "description": "That key's visible prefix (rc_…)."})
    api_key_name = fields.Str(allow_none=True)
    ip_address = fields.Str(allow_none=True)
    user_agent = fields.Str(allow_none=True)
    created_at = fields.Str()


class AuditQueryArgsSchema(CamelCaseSchema):
    resource_type = fields.Str(validate=validate.OneOf(RESOURCE_TYPES))


class UtilizationRowSchema(ResourceSchema):
    occupancy_rate = fields.Float(
        allow_none=True,
        metadata={"description": "occupied / total (null when total is 0)"},
    )
    utilization_rate = fields.Float(
        allow_none=True,
        metadata={"description": "(occupied + reserved + maintenance) / total: the share "
                                 "not available (null when total is 0)"},
    )


class UtilizationSchema(CamelCaseSchema):
    hospital_id = fields.Int()
    resources = fields.List(fields.Nested(UtilizationRowSchema))
    overall = fields.Nested(UtilizationRowSchema, metadata={"description": "All types together."})
