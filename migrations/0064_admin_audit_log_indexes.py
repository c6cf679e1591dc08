"""Reading the admin audit log (issue #16): ``GET /api/admin/audit-log`` lists it newest
first, filtered by actor, action, entity or time. The table had an index on its
target only; these serve the newest-first page, optionally from one actor or of one
action, without sorting the whole log. The same SQL on both backends.
"""

STATEMENTS = [
    "CREATE INDEX idx_admin_audit_created ON admin_audit_log (created_at, id)",
    "CREATE INDEX idx_admin_audit_actor ON admin_audit_log (actor_id, created_at)",
    "CREATE INDEX idx_admin_audit_action ON admin_audit_log (action, created_at)",
]

SQLITE = STATEMENTS
POSTGRES = STATEMENTS

# Undo (`flask db downgrade`).
SQLITE_DOWN = [
    "DROP INDEX idx_admin_audit_action",
    "DROP INDEX idx_admin_audit_actor",
    "DROP INDEX idx_admin_audit_created",
]
POSTGRES_DOWN = SQLITE_DOWN
