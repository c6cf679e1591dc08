"""Closing an account (issue #18 item 6: DELETE /api/auth/account).

- users.deleted_at: when the account was closed. Its name, email and phone are
  anonymised then (app/auth/privacy.py); the column tells a closed account from a
  merely inactive one, so an admin cannot re-activate it (409).
- PostgreSQL: the admin audit's insert policy (migration 0090) also lets any user
  write the one entry that records closing their own account; before, only admins,
  authorities and the system wrote audit entries.
"""

SQLITE = [
    "ALTER TABLE users ADD COLUMN deleted_at TEXT",
]

SQLITE_DOWN = [
    "ALTER TABLE users DROP COLUMN deleted_at",
]

POSTGRES = [
    "ALTER TABLE users ADD COLUMN deleted_at timestamptz",
    "DROP POLICY admin_audit_log_post ON admin_audit_log",
    """
    CREATE POLICY admin_audit_log_post ON admin_audit_log FOR INSERT
        WITH CHECK (rapidcare_actor_role() = 'system'
                    OR (rapidcare_actor_role() IN ('admin', 'hospital-authority')
                        AND rapidcare_actor_is(actor_id))
                    OR (action = 'account.deleted' AND target_type = 'user'
                        AND target_id = actor_id AND rapidcare_actor_is(actor_id)))
    """,
]

POSTGRES_DOWN = [
    "DROP POLICY admin_audit_log_post ON admin_audit_log",
    """
    CREATE POLICY admin_audit_log_post ON admin_audit_log FOR INSERT
        WITH CHECK (rapidcare_actor_role() = 'system'
                    OR (rapidcare_actor_role() IN ('admin', 'hospital-authority')
                        AND rapidcare_actor_is(actor_id)))
    """,
    "ALTER TABLE users DROP COLUMN deleted_at",
]
