import json

import marshmallow as ma
from marshmallow import fields, validate

from app.validation import Schema, text

SEVERITIES = ("low", "medium", "high", "critical")


class JsonText(fields.Field):
    """A JSON column (TEXT in SQLite) shown as the JSON value it holds."""

    def _serialize(self, value, attr, obj, **kwargs):
        return json.loads(value) if value is not None else None


class RunSchema(ma.Schema):
    id = fields.Int()
    run_date = fields.Str(data_key="runDate", metadata={"description": "YYYY-MM-DD (local)"})
    status = fields.Str(metadata={"description": "running | completed | failed"})
    summary = JsonText(allow_none=True, metadata={"description": "What was checked and found."})
    triggered_by = fields.Int(data_key="triggeredBy", allow_none=True,
                              metadata={"description": "null for the scheduler"})
    started_at = fields.Str(data_key="startedAt")
    finished_at = fields.Str(data_key="finishedAt", allow_none=True)


class DiscrepancySchema(ma.Schema):
    id = fields.Int()
    run_id = fields.Int(data_key="runId")
    kind = fields.Str()
    severity = fields.Str(metadata={"description": " | ".join(SEVERITIES)})
    entity_type = fields.Str(
        data_key="entityType",
        metadata={"description": "wallet | ledger_entry | transaction | refund"},
    )
    entity_id = fields.Int(data_key="entityId")
    details = JsonText()
    status = fields.Str(metadata={"description": "open | resolved"})
    resolved_by = fields.Int(data_key="resolvedBy", allow_none=True)
    resolved_at = fields.Str(data_key="resolvedAt", allow_none=True)
    resolution_notes = fields.Str(data_key="resolutionNotes", allow_none=True)
    created_at = fields.Str(data_key="createdAt")


class DiscrepancyArgsSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE  # page / page_size belong to the paginator

    status = fields.Str(load_default="open", validate=validate.OneOf(("open", "resolved", "all")))
    severity = fields.Str(validate=validate.OneOf(SEVERITIES))


class TriggerSchema(Schema):
    """The body is required; ``{}`` runs today's reconciliation."""

    date = fields.Date(load_default=None, metadata={"description": "Default: today (local)."})


class ResolveSchema(Schema):
    notes = text(2000, required=True)
