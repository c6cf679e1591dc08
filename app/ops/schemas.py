"""Response schemas of the health and monitoring endpoints."""
from marshmallow import fields

from app.validation import Bool, CamelCaseSchema


class HealthSchema(CamelCaseSchema):
    status = fields.Str()
    database = fields.Str()


class PoolSchema(CamelCaseSchema):
    size = fields.Int()
    available = fields.Int()
    waiting = fields.Int()
    max = fields.Int()


class ReplicaSchema(CamelCaseSchema):
    name = fields.Str()
    state = fields.Str()
    replay_lag_seconds = fields.Float()


class DatabaseHealthSchema(CamelCaseSchema):
    """SQLite answers the file facts; PostgreSQL the server facts (this worker's pool)."""

    backend = fields.Str(metadata={"description": "sqlite or postgresql"})
    path = fields.Str()
    journal_mode = fields.Str()
    foreign_keys = Bool()
    quick_check = fields.Str(metadata={"description": '"ok" or the problems'})
    quick_check_ms = fields.Float(metadata={"description": "how long this quick_check took"})
    size_bytes = fields.Int()
    wal_size_bytes = fields.Int()
    page_size = fields.Int()
    page_count = fields.Int()
    freelist_count = fields.Int()
    name = fields.Str()
    server_version = fields.Str()
    long_running_transactions = fields.Int()
    longest_transaction_seconds = fields.Float()
    replicas = fields.List(fields.Nested(ReplicaSchema))
    pool = fields.Nested(PoolSchema)


class BackupSummarySchema(CamelCaseSchema):
    file = fields.Str()
    created_at = fields.Str()
    age_seconds = fields.Int()
    size_bytes = fields.Int()


class JobRunSchema(CamelCaseSchema):
    status = fields.Str(metadata={"description": "running, succeeded or failed"})
    started_at = fields.Str()
    finished_at = fields.Str(allow_none=True)
    message = fields.Str(allow_none=True)


class JobSummarySchema(CamelCaseSchema):
    name = fields.Str()
    scheduled = Bool(metadata={"description": "in the scheduler's job list"})
    last_run = fields.Nested(JobRunSchema, allow_none=True)


class MigrationSummarySchema(CamelCaseSchema):
    applied = fields.Int()
    pending = fields.List(fields.Int())
    latest_applied = fields.Int(allow_none=True)
    up_to_date = Bool()


class MailErrorSchema(CamelCaseSchema):
    message_id = fields.Int(metadata={"description": "the outbox row"})
    status = fields.Str(metadata={"description": "pending (to be retried) or failed (given up)"})
    attempts = fields.Int()
    error = fields.Str(metadata={"description": "exception class and SMTP reply code"})
    at = fields.Str()


class MailHealthSchema(CamelCaseSchema):
    messages = fields.Dict(keys=fields.Str(), values=fields.Int(),
                           metadata={"description": "outbox rows by status: pending, sending, sent, failed"})
    oldest_unsent_age_seconds = fields.Int(allow_none=True)
    failed_last_day = fields.Int()
    latest_error = fields.Nested(MailErrorSchema, allow_none=True)


class SlowQuerySchema(CamelCaseSchema):
    query_id = fields.Str(metadata={"description": "short stable fingerprint of the statement "
                                                   "(the query_id label in /metrics)"})
    query = fields.Str(metadata={"description": "the statement, normalized: literals and "
                                                "parameters replaced by ?"})
    duration_ms = fields.Float()
    backend = fields.Str(metadata={"description": "sqlite or postgres"})
    at = fields.Str(metadata={"description": "when it finished (UTC)"})


class AuditChainCheckSchema(CamelCaseSchema):
    checked_at = fields.Str()
    status = fields.Str(metadata={"description": "ok, or broken (see problem)"})
    links_checked = fields.Int()
    unsealed = fields.Int(metadata={"description": "audit rows not sealed yet (sealed every minute)"})
    problem = fields.Str(allow_none=True, metadata={
        "description": "the first broken row of each broken chain: table, id, expected vs stored"})


class DetailedHealthSchema(CamelCaseSchema):
    status = fields.Str(metadata={"description": "ok, degraded (see warnings) or failing"})
    checked_at = fields.Str()
    warnings = fields.List(fields.Str(), metadata={
        "description": "what needs attention, each with its reason (status degraded)"})
    notes = fields.List(fields.Str(), metadata={
        "description": 'information that needs no action, e.g. "no backup yet" on a new database'})
    database = fields.Nested(DatabaseHealthSchema)
    row_counts = fields.Dict(keys=fields.Str(), values=fields.Int())
    last_backup = fields.Nested(BackupSummarySchema, allow_none=True)
    jobs = fields.List(fields.Nested(JobSummarySchema))
    mail = fields.Nested(MailHealthSchema)
    audit_chain = fields.Nested(AuditChainCheckSchema, allow_none=True, metadata={
        "description": "the last `flask audit verify` or integrity job (null before the first)"})
    migrations = fields.Nested(MigrationSummarySchema)
    slow_queries = fields.List(fields.Nested(SlowQuerySchema), metadata={
        "description": "the slowest of the last 50 statements slower than SLOW_QUERY_MS in the "
                       "worker process that answers (kept in its memory; /metrics sums every worker)"})


class MigrationSchema(CamelCaseSchema):
    version = fields.Int()
    name = fields.Str()
    applied_at = fields.Str(attribute="appliedAt", allow_none=True)
    execution_ms = fields.Int(attribute="executionMs", allow_none=True)


class MigrationStatusSchema(CamelCaseSchema):
    applied = fields.List(fields.Nested(MigrationSchema))
    pending = fields.List(fields.Nested(MigrationSchema))
    up_to_date = Bool()
