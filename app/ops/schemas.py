"""Response schemas of the health and monitoring endpoints."""
import marshmallow as ma
from marshmallow import fields

from app.validation import Bool


class HealthSchema(ma.Schema):
    status = fields.Str()
    database = fields.Str()


class DatabaseHealthSchema(ma.Schema):
    path = fields.Str()
    journal_mode = fields.Str(data_key="journalMode")
    foreign_keys = Bool(data_key="foreignKeys")
    quick_check = fields.Str(data_key="quickCheck", metadata={"description": '"ok" or the problems'})
    size_bytes = fields.Int(data_key="sizeBytes")
    wal_size_bytes = fields.Int(data_key="walSizeBytes")
    page_size = fields.Int(data_key="pageSize")
    page_count = fields.Int(data_key="pageCount")
    freelist_count = fields.Int(data_key="freelistCount")


class BackupSummarySchema(ma.Schema):
    file = fields.Str()
    created_at = fields.Str(data_key="createdAt")
    age_seconds = fields.Int(data_key="ageSeconds")
    size_bytes = fields.Int(data_key="sizeBytes")


class JobRunSchema(ma.Schema):
    status = fields.Str(metadata={"description": "running, succeeded or failed"})
    started_at = fields.Str(data_key="startedAt")
    finished_at = fields.Str(data_key="finishedAt", allow_none=True)
    message = fields.Str(allow_none=True)


class JobSummarySchema(ma.Schema):
    name = fields.Str()
    scheduled = Bool(metadata={"description": "in the scheduler's job list"})
    last_run = fields.Nested(JobRunSchema, data_key="lastRun", allow_none=True)


class MigrationSummarySchema(ma.Schema):
    applied = fields.Int()
    pending = fields.List(fields.Int())
    latest_applied = fields.Int(data_key="latestApplied", allow_none=True)
    up_to_date = Bool(data_key="upToDate")


class DetailedHealthSchema(ma.Schema):
    status = fields.Str(metadata={"description": "ok, degraded (see warnings) or failing"})
    checked_at = fields.Str(data_key="checkedAt")
    warnings = fields.List(fields.Str())
    database = fields.Nested(DatabaseHealthSchema)
    row_counts = fields.Dict(keys=fields.Str(), values=fields.Int(), data_key="rowCounts")
    last_backup = fields.Nested(BackupSummarySchema, data_key="lastBackup", allow_none=True)
    jobs = fields.List(fields.Nested(JobSummarySchema))
    migrations = fields.Nested(MigrationSummarySchema)


class MigrationSchema(ma.Schema):
    version = fields.Int()
    name = fields.Str()
    applied_at = fields.Str(attribute="appliedAt", data_key="appliedAt", allow_none=True)
    execution_ms = fields.Int(attribute="executionMs", data_key="executionMs", allow_none=True)


class MigrationStatusSchema(ma.Schema):
    applied = fields.List(fields.Nested(MigrationSchema))
    pending = fields.List(fields.Nested(MigrationSchema))
    up_to_date = Bool(data_key="upToDate")
