"""Request and response schemas for /api/bookings (camelCase in JSON, snake_case inside)."""
from datetime import date

import marshmallow as ma
from marshmallow import fields, validate

from app.extensions.dumping import ResponseSchema
from app.money import Money
from app.validation import (
    PHONE,
    Bool,
    CamelCaseSchema,
    Schema,
    UtcDateTime,
    clean_text,
    id_field,
)
from app.vocabulary import (
    BOOKING_PAYMENT_STATUSES,
    BOOKING_STATUSES,
    GENDERS,
    MAX_DURATION_HOURS,
    NOTIFICATION_TYPES,
    RESOURCE_TYPES,
    URGENCIES_MOST_URGENT_FIRST,
)

# Date filters outside this range are typos, and a bound keeps day arithmetic safe.
DATE_RANGE = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31))


class BookingCreateSchema(Schema):
    hospital_id = id_field(required=True, strict=True)
    resource_type = fields.Str(required=True, validate=validate.OneOf(RESOURCE_TYPES))
    patient_name = clean_text(200, required=True)
    patient_age = fields.Int(required=True, strict=True, validate=validate.Range(0, 150))
    patient_gender = fields.Str(required=True, validate=validate.OneOf(GENDERS))
    medical_condition = clean_text(2000, required=True)
    urgency = fields.Str(
        load_default="medium", validate=validate.OneOf(URGENCIES_MOST_URGENT_FIRST)
    )
    emergency_contact_name = clean_text(200, required=True)
    emergency_contact_phone = fields.Str(required=True, validate=PHONE)
    emergency_contact_relationship = clean_text(100, required=True)
    scheduled_date = UtcDateTime(
        required=True,
        # This endpoint's wording since before UtcDateTime was shared.
        error_messages={"out_of_range": "Date is out of range."},
        metadata={"description": "ISO-8601 with offset, in the future (within a year)."},
    )
    # The JSON name is the API's, older than the column's (hours in both).
    estimated_duration_hours = fields.Int(
        data_key="estimatedDuration", load_default=24, strict=True,
        validate=validate.Range(1, MAX_DURATION_HOURS),
        metadata={"description": f"Hours, 1-{MAX_DURATION_HOURS}."},
    )
    notes = clean_text(2000, min_length=None, load_default=None, allow_none=True)


class ExtendSchema(Schema):
    """A new length for an approved booking's window (longer or shorter)."""

    estimated_duration_hours = fields.Int(
        data_key="estimatedDuration", required=True, strict=True,
        validate=validate.Range(1, MAX_DURATION_HOURS),
        metadata={"description": f"Hours, 1-{MAX_DURATION_HOURS}."},
    )
    reason = clean_text(1000, min_length=None, load_default=None, allow_none=True)


class OptionalReasonSchema(Schema):
    """Optional reason for approve, complete and cancel (kept in the status history)."""

    reason = clean_text(1000, min_length=None, load_default=None, allow_none=True)

    @ma.post_load
    def _blank_is_none(self, data, **kwargs):
        return {"reason": data["reason"] or None}


def _authority_notes():
    return clean_text(2000, min_length=None, load_default=None, allow_none=True, metadata={
        "description": "Notes to the patient (\"bring your reports, admission at 9\"): shown "
                       "on the booking, in its history and in the patient's notification."})


class ApproveSchema(OptionalReasonSchema):
    """Optional reason (kept in the status history) and notes to the patient."""

    notes = _authority_notes()

    @ma.post_load
    def _blank_is_none(self, data, **kwargs):
        return {"reason": data["reason"] or None, "notes": data["notes"] or None}


class DeclineSchema(Schema):
    reason = clean_text(1000, required=True)
    notes = _authority_notes()

    @ma.post_load
    def _blank_notes_are_none(self, data, **kwargs):
        return {**data, "notes": data["notes"] or None}


class BookingSchema(ResponseSchema):
    id = fields.Int()
    booking_reference = fields.Str()
    user_id = fields.Int()
    hospital_id = fields.Int()
    hospital_name = fields.Str()
    resource_type = fields.Str()
    patient_name = fields.Str()
    patient_age = fields.Int()
    patient_gender = fields.Str()
    medical_condition = fields.Str()
    urgency = fields.Str()
    emergency_contact_name = fields.Str()
    emergency_contact_phone = fields.Str()
    emergency_contact_relationship = fields.Str()
    scheduled_date = fields.Str()
    scheduled_day = fields.Str(
        metadata={"description": "The scheduled calendar day in the hospital's time zone."},
    )
    estimated_duration_hours = fields.Int(data_key="estimatedDuration")  # as in the request
    scheduled_end = fields.Str(
        metadata={"description": "scheduledDate + estimatedDuration: an approved booking "
                                 "holds its unit during [scheduledDate, scheduledEnd)."},
    )
    notes = fields.Str(allow_none=True, metadata={"description": "The patient's notes."})
    authority_notes = fields.Str(allow_none=True, metadata={
        "description": "The hospital's notes to the patient, given on approval or decline."})
    status = fields.Str()
    status_reason = fields.Str(allow_none=True)
    status_changed_by = fields.Int(allow_none=True)
    allocated_units = fields.Int()
    amount_minor = Money(  # money is "amount" in JSON, minor units inside
        data_key="amount", allow_none=True, allow_zero=True,
        metadata={"description": "Fixed at approval from the active price; null before."},
    )
    currency = fields.Str()
    payment_status = fields.Str(metadata={
        "description": " | ".join(BOOKING_PAYMENT_STATUSES) + ": `unpaid` while an approved "
                       "or completed booking owes its amount; `not_required` when nothing is "
                       "owed (not approved, declined, cancelled before paying, or free); "
                       "`written_off` when the due of a completed booking that was never paid "
                       "was written off by its hospital or an admin (no money moved)."})
    amount_due_minor = Money(data_key="amountDue", allow_zero=True, metadata={
        "description": "What the patient still has to pay: the amount while unpaid, else 0."})
    paid_at = fields.Str(allow_none=True, metadata={"description": "When it was paid."})
    written_off_at = fields.Str(allow_none=True, metadata={
        "description": "When its unpaid due was written off (POST /api/bookings/{id}/write-off)."})
    approved_by = fields.Int(allow_none=True)
    approved_at = fields.Str(allow_none=True)
    declined_at = fields.Str(allow_none=True)
    cancelled_at = fields.Str(allow_none=True)
    completed_at = fields.Str(allow_none=True)
    created_at = fields.Str()
    updated_at = fields.Str()


class HistoryEntrySchema(CamelCaseSchema):
    id = fields.Int()
    old_status = fields.Str(allow_none=True)
    new_status = fields.Str()
    changed_by = fields.Int(allow_none=True)
    changed_by_name = fields.Str(allow_none=True)
    changed_by_role = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)
    notes = fields.Str(allow_none=True, metadata={
        "description": "The hospital's notes given with this change (approve, decline)."})
    created_at = fields.Str()


class QueryArgsSchema(CamelCaseSchema):
    """Query strings also carry page/page_size (read by the paginator): unknown keys are ignored."""

    class Meta:
        unknown = ma.EXCLUDE


class DateRangeQueryArgsSchema(QueryArgsSchema):
    start_date = fields.Date(
        validate=DATE_RANGE,
        metadata={"description": "First day (YYYY-MM-DD) of creation, inclusive."},
    )
    end_date = fields.Date(
        validate=DATE_RANGE,
        metadata={"description": "Last day (YYYY-MM-DD) of creation, inclusive; "
                                 "not before startDate."},
    )

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ma.ValidationError("Must not be before startDate.", "endDate")


class BookingSearchQueryArgsSchema(DateRangeQueryArgsSchema):
    patient_name = clean_text(200, metadata={"description": (
        "Whole words of the patient's name: bookings whose name has every word given, in "
        "any order, ignoring case and punctuation (accented letters as written) (\"rahman karim\" finds "
        "\"Karim Rahman\"; \"rah\" finds nothing). Names are stored encrypted; the search "
        "uses a keyed index of whole words, so neither substrings nor prefixes are "
        "searchable (README \"Encryption at rest\").")})
    booking_reference = fields.Str(validate=validate.Length(max=32))
    status = fields.Str(validate=validate.OneOf(BOOKING_STATUSES))
    urgency = fields.Str(validate=validate.OneOf(URGENCIES_MOST_URGENT_FIRST))
    resource_type = fields.Str(validate=validate.OneOf(RESOURCE_TYPES))
    hospital_id = id_field()


class HospitalHistoryQueryArgsSchema(DateRangeQueryArgsSchema):
    status = fields.Str(validate=validate.OneOf(BOOKING_STATUSES))


class WaitingTimeSchema(CamelCaseSchema):
    seconds = fields.Int()
    human = fields.Str(metadata={"example": "2h 5m"})


class QueuedBookingSchema(BookingSchema):
    waiting_time = fields.Nested(WaitingTimeSchema)


class QueueSummarySchema(CamelCaseSchema):
    total_pending = fields.Int()
    critical = fields.Int()
    high = fields.Int()
    medium = fields.Int()
    low = fields.Int()


class PendingQueueSchema(CamelCaseSchema):
    summary = fields.Nested(QueueSummarySchema, metadata={"description": "All pending, not the page."})
    items = fields.List(fields.Nested(QueuedBookingSchema))


class StatusStatisticsSchema(CamelCaseSchema):
    status = fields.Str()
    count = fields.Int()
    amount_minor = Money(data_key="amount", allow_zero=True)


class StatisticsSchema(CamelCaseSchema):
    hospital_id = fields.Int()
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    currency = fields.Str()
    total_bookings = fields.Int()
    total_amount_minor = Money(data_key="totalAmount", allow_zero=True)
    by_status = fields.List(fields.Nested(StatusStatisticsSchema))


class NotificationQueryArgsSchema(QueryArgsSchema):
    is_read = Bool(metadata={"description": "Only read / unread ones."})


class NotificationSchema(CamelCaseSchema):
    id = fields.Int()
    booking_id = fields.Int(allow_none=True)
    blood_request_id = fields.Int(allow_none=True)
    type = fields.Str(metadata={"description": " | ".join(NOTIFICATION_TYPES)})
    title = fields.Str()
    message = fields.Str()
    is_read = Bool()
    created_at = fields.Str()


class NotificationPageSchema(CamelCaseSchema):
    items = fields.List(fields.Nested(NotificationSchema))
    unread_count = fields.Int(
        metadata={"description": "All unread, not just this page."}
    )


class MarkedReadSchema(CamelCaseSchema):
    marked = fields.Int(metadata={"description": "How many were unread."})
    unread_count = fields.Int()
