import json

import marshmallow as ma
from marshmallow import fields, validate

from app.validation import CamelCaseSchema, Schema, clean_text
from app.vocabulary import DISCREPANCY_ENTITY_TYPES, DISCREPANCY_SEVERITIES


class JsonText(fields.Field):
    """A JSON column (TEXT in SQLite) shown as the JSON value it holds."""

    def _serialize(self, value, attr, obj, **kwargs):
        return json.loads(value) if value is not None else None


class RunSchema(CamelCaseSchema):
    id = fields.Int()
    run_date = fields.Str(metadata={"description": "YYYY-MM-DD (local)"})
    status = fields.Str(metadata={"description": "running | completed | failed"})
    summary = JsonText(allow_none=True, metadata={"description": "What was checked and found."})
    triggered_by = fields.Int(allow_none=True,
                              metadata={"description": "null for the scheduler"})
    started_at = fields.Str()
    finished_at = fields.Str(allow_none=True)


class DiscrepancySchema(CamelCaseSchema):
    id = fields.Int()
    run_id = fields.Int()
    kind = fields.Str(metadata={"description": (
        "e.g. stuck_processing, gateway_mismatch, ledger_mismatch, completed_unpaid (a "
        "completed booking never paid: entity `booking`; closed by its write-off)")})
    severity = fields.Str(metadata={"description": " | ".join(DISCREPANCY_SEVERITIES)})
    entity_type = fields.Str(
        metadata={"description": " | ".join(DISCREPANCY_ENTITY_TYPES)},
    )
    entity_id = fields.Int()
    details = JsonText()
    status = fields.Str(metadata={"description": "open | resolved"})
    resolved_by = fields.Int(allow_none=True)
    resolved_at = fields.Str(allow_none=True)
    resolution_notes = fields.Str(allow_none=True)
    created_at = fields.Str()


class DiscrepancyQueryArgsSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE  # page / page_size belong to the paginator

    status = fields.Str(load_default="open", validate=validate.OneOf(("open", "resolved", "all")))
    severity = fields.Str(validate=validate.OneOf(DISCREPANCY_SEVERITIES))


class TriggerSchema(Schema):
    """The body is required; ``{}`` runs today's reconciliation."""

    date = fields.Date(load_default=None, metadata={"description": "Default: today (local)."})


class ResolveSchema(Schema):
    notes = clean_text(2000, allow_control_chars=True, required=True)
