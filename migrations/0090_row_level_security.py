"""Row-level security (PostgreSQL only): a query that forgot its ownership filter
returns nothing rather than other people's rows.

SQLite has no row-level security and no roles; there the service's own checks
(app/auth/policy.py) are the only ones, so the SQLite form is empty.

On PostgreSQL the service does not act as the owner of the tables (who runs the
migrations and is not bound by policies). Its connections take the role
``rapidcare_service`` (app/db/postgres.py), a group role that owns nothing, may
not log in and cannot bypass row-level security; it may only read and write rows.
Each request tells the database who is acting (app/db: ``set_actor``), as
settings of its connection:

- ``app.user_id``: the caller's user id ('' for an anonymous caller);
- ``app.role``: 'user', 'hospital-authority', 'admin', 'system' (scheduler jobs,
  CLI commands, the payment gateway's callbacks) or '' (anonymous);
- ``app.hospital_id``: an authority's hospital ('' otherwise).

The policies say who may see and write which rows, in the terms of
app/auth/policy.py: the owner of a row, the authority of its hospital, an admin,
the system. Where one actor legitimately writes another user's rows the policy
names that case (an authority's refund credits the payer's wallet; paying or
refunding a booking books the hospital's share; a donor's or an authority's
notice about a blood request goes to its requester). Triggers that write rows
their caller may not see are SECURITY DEFINER (status history and booking
notifications, migration 0001; the ledger chain check is one here).
"""

# The holds of approved bookings (hospital, type, window, units): what capacity is
# counted from (#15), for every caller — a patient's create checks its window against
# other patients' holds, the public availability counts them — while the bookings
# themselves stay behind the policies. PostgreSQL runs a view with its owner's rights,
# so the view reads past bookings' row-level security and shows no patient data.
# SQLite has the same view, so the queries read alike on both.
BOOKING_HOLDS_VIEW = """
    CREATE VIEW booking_holds AS
    SELECT id, hospital_id, resource_type, scheduled_date, scheduled_end, allocated_units
    FROM bookings WHERE status = 'approved'
"""

SQLITE = [BOOKING_HOLDS_VIEW]

# The actor, as the request set it. current_setting(..., true) is NULL when the
# connection never set it; '' after a reset: both mean nobody.
ACTOR_FUNCTIONS = [
    """
    CREATE FUNCTION rapidcare_actor_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN nullif(current_setting('app.user_id', true), '')::bigint
    """,
    """
    CREATE FUNCTION rapidcare_actor_role() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(current_setting('app.role', true), '')
    """,
    """
    CREATE FUNCTION rapidcare_actor_hospital_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN nullif(current_setting('app.hospital_id', true), '')::bigint
    """,
    # Admins and the system see everything (policy.is_admin; jobs act for nobody in particular).
    """
    CREATE FUNCTION rapidcare_actor_sees_all() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN rapidcare_actor_role() IN ('admin', 'system')
    """,
    # policy.manages_hospital: an admin (or the system), or the authority of exactly
    # this hospital; an authority without a hospital manages nothing.
    """
    CREATE FUNCTION rapidcare_actor_manages(hospital bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN rapidcare_actor_sees_all()
        OR (rapidcare_actor_role() = 'hospital-authority'
            AND coalesce(hospital = rapidcare_actor_hospital_id(), false))
    """,
    # The row belongs to the actor.
    """
    CREATE FUNCTION rapidcare_actor_is(owner bigint) RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN coalesce(owner = rapidcare_actor_id(), false)
    """,
]

# Roles are cluster-wide: the role may exist already (another database of the same
# cluster, a test template built beside this one at the same moment).
SERVICE_ROLE = [
    """
    DO $$
    BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rapidcare_service') THEN
            CREATE ROLE rapidcare_service NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- created by a concurrent migration in another database
    END $$
    """,
    # The owner's sessions switch to the role (SET ROLE needs membership; a superuser has it).
    """
    DO $$
    BEGIN
        IF NOT pg_has_role(current_user, 'rapidcare_service', 'MEMBER') THEN
            EXECUTE format('GRANT rapidcare_service TO %I', current_user);
        END IF;
    END $$
    """,
    "GRANT USAGE ON SCHEMA public TO rapidcare_service",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO rapidcare_service",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO rapidcare_service",
    # Tables and sequences of later migrations (run by the same owner) get the same grants.
    """
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rapidcare_service
    """,
    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO rapidcare_service",
    # Which migrations ran is the owner's business; the service only reads it.
    "REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM rapidcare_service",
    # The service deletes none of these (only expired idempotency claims): a policy
    # that lets an authority change its hospital's bookings must not let it delete them.
    """
    REVOKE DELETE ON bookings, transactions, refunds, user_balance, balance_transactions,
        hospital_earnings, booking_notifications, blood_requests, resource_audit_log,
        admin_audit_log
    FROM rapidcare_service
    """,
]

# The ledger chain check reads the user's previous ledger row and current balance:
# run as the owner, so it sees them whoever posts (an authority refunding a payer).
CHAIN_TRIGGER = [
    "ALTER FUNCTION balance_transactions_before_insert_chain() SECURITY DEFINER",
    "ALTER FUNCTION balance_transactions_before_insert_chain() SET search_path = public",
]

POLICY_TABLES = [
    "bookings", "transactions", "refunds", "user_balance", "balance_transactions",
    "hospital_earnings", "booking_notifications", "blood_requests", "resource_audit_log",
    "admin_audit_log", "idempotency_keys",
]

POLICIES = [
    # Bookings: the patient who booked, the booked hospital's authority, an admin
    # (policy.can_see_booking); the same rows for writing.
    """
    CREATE POLICY bookings_actor ON bookings
        USING (rapidcare_actor_is(user_id) OR rapidcare_actor_manages(hospital_id))
        WITH CHECK (rapidcare_actor_is(user_id) OR rapidcare_actor_manages(hospital_id))
    """,
    # Payments: the payer, the paid hospital's authority, an admin (policy.can_see_payment).
    """
    CREATE POLICY transactions_actor ON transactions
        USING (rapidcare_actor_is(user_id) OR rapidcare_actor_manages(hospital_id))
        WITH CHECK (rapidcare_actor_is(user_id) OR rapidcare_actor_manages(hospital_id))
    """,
    # Refunds: whoever may see the payment refunded (a patient's cancellation refunds
    # its own payment; an authority refunds its hospital's).
    """
    CREATE POLICY refunds_actor ON refunds
        USING (EXISTS (SELECT FROM transactions AS t
                       WHERE t.id = refunds.transaction_id
                         AND (rapidcare_actor_is(t.user_id) OR rapidcare_actor_manages(t.hospital_id))))
        WITH CHECK (EXISTS (SELECT FROM transactions AS t
                            WHERE t.id = refunds.transaction_id
                              AND (rapidcare_actor_is(t.user_id) OR rapidcare_actor_manages(t.hospital_id))))
    """,
    # Wallets: their owner and admins. An authority refunding one of its hospital's
    # payments to the wallet credits the payer's balance, so it reaches the wallets of
    # the users who paid its hospital (and no others).
    """
    CREATE POLICY user_balance_actor ON user_balance
        USING (rapidcare_actor_is(user_id) OR rapidcare_actor_sees_all()
               OR (rapidcare_actor_role() = 'hospital-authority'
                   AND EXISTS (SELECT FROM transactions AS t
                               WHERE t.user_id = user_balance.user_id
                                 AND t.hospital_id = rapidcare_actor_hospital_id())))
        WITH CHECK (rapidcare_actor_is(user_id) OR rapidcare_actor_sees_all()
                    OR (rapidcare_actor_role() = 'hospital-authority'
                        AND EXISTS (SELECT FROM transactions AS t
                                    WHERE t.user_id = user_balance.user_id
                                      AND t.hospital_id = rapidcare_actor_hospital_id())))
    """,
    # The ledger: its owner and admins; an authority sees and posts only the entries
    # tied to its hospital's payments (the refund credits). Append-only: no UPDATE or
    # DELETE policy, so those find no rows at all.
    """
    CREATE POLICY balance_transactions_read ON balance_transactions FOR SELECT
        USING (rapidcare_actor_is(user_id) OR rapidcare_actor_sees_all()
               OR EXISTS (SELECT FROM transactions AS t
                          WHERE t.id = balance_transactions.transaction_id
                            AND rapidcare_actor_role() = 'hospital-authority'
                            AND t.hospital_id = rapidcare_actor_hospital_id()))
    """,
    """
    CREATE POLICY balance_transactions_post ON balance_transactions FOR INSERT
        WITH CHECK (rapidcare_actor_is(user_id) OR rapidcare_actor_sees_all()
                    OR EXISTS (SELECT FROM transactions AS t
                               WHERE t.id = balance_transactions.transaction_id
                                 AND t.user_id = balance_transactions.user_id
                                 AND rapidcare_actor_role() = 'hospital-authority'
                                 AND t.hospital_id = rapidcare_actor_hospital_id()))
    """,
    # A hospital's earnings: its authority and admins read them. They are booked by
    # whoever settles or refunds one of its payments: the payer paying from the
    # wallet or cancelling, the authority refunding, the system settling a gateway
    # payment. Append-only.
    """
    CREATE POLICY hospital_earnings_read ON hospital_earnings FOR SELECT
        USING (rapidcare_actor_manages(hospital_id))
    """,
    """
    CREATE POLICY hospital_earnings_post ON hospital_earnings FOR INSERT
        WITH CHECK (rapidcare_actor_manages(hospital_id)
                    OR EXISTS (SELECT FROM transactions AS t
                               WHERE t.id = hospital_earnings.transaction_id
                                 AND t.hospital_id = hospital_earnings.hospital_id
                                 AND rapidcare_actor_is(t.user_id)))
    """,
    # Notifications are personal: their recipient (and the system's jobs). Booking
    # notices are written by SECURITY DEFINER triggers; a notice about a blood request
    # (a donor volunteered, an authority closed it) may go to its requester.
    """
    CREATE POLICY booking_notifications_read ON booking_notifications
        USING (rapidcare_actor_is(user_id) OR rapidcare_actor_role() = 'system')
    """,
    """
    CREATE POLICY booking_notifications_send ON booking_notifications FOR INSERT
        WITH CHECK (rapidcare_actor_role() <> ''
                    AND EXISTS (SELECT FROM blood_requests AS r
                                WHERE r.id = booking_notifications.blood_request_id
                                  AND r.requester_id = booking_notifications.user_id))
    """,
    # Blood requests are a public notice board for signed-in users (app/blood: any
    # logged-in caller lists and reads them), never for anonymous callers. Posting:
    # in one's own name. Changing: the requester, the linked hospital's authority,
    # an admin (policy.can_manage_blood_request). Nobody deletes.
    """
    CREATE POLICY blood_requests_read ON blood_requests FOR SELECT
        USING (rapidcare_actor_role() <> '')
    """,
    """
    CREATE POLICY blood_requests_post ON blood_requests FOR INSERT
        WITH CHECK (rapidcare_actor_is(requester_id) OR rapidcare_actor_sees_all())
    """,
    """
    CREATE POLICY blood_requests_change ON blood_requests FOR UPDATE
        USING (rapidcare_actor_is(requester_id) OR rapidcare_actor_manages(hospital_id))
        WITH CHECK (rapidcare_actor_is(requester_id) OR rapidcare_actor_manages(hospital_id))
    """,
    # Resource audit: the hospital's authority and admins. Rows are written by whoever
    # changes the hospital's resources: its authority, an admin, or the patient whose
    # cancelled booking gives its units back. Append-only.
    """
    CREATE POLICY resource_audit_log_read ON resource_audit_log FOR SELECT
        USING (rapidcare_actor_manages(hospital_id))
    """,
    """
    CREATE POLICY resource_audit_log_post ON resource_audit_log FOR INSERT
        WITH CHECK (rapidcare_actor_manages(hospital_id)
                    OR EXISTS (SELECT FROM bookings AS b
                               WHERE b.id = resource_audit_log.booking_id
                                 AND b.hospital_id = resource_audit_log.hospital_id
                                 AND rapidcare_actor_is(b.user_id)))
    """,
    # The admin audit: read by admins; written in the acting admin's or staff member's own name
    # (hospital edits, staff changes and refunds are audited too: issue #16).
    """
    CREATE POLICY admin_audit_log_read ON admin_audit_log FOR SELECT
        USING (rapidcare_actor_sees_all())
    """,
    """
    CREATE POLICY admin_audit_log_post ON admin_audit_log FOR INSERT
        WITH CHECK (rapidcare_actor_role() = 'system'
                    OR (rapidcare_actor_role() IN ('admin', 'hospital-authority')
                        AND rapidcare_actor_is(actor_id)))
    """,
    # Idempotency claims: the caller's own (the purge job is the system's).
    """
    CREATE POLICY idempotency_keys_actor ON idempotency_keys
        USING (rapidcare_actor_is(user_id) OR rapidcare_actor_role() = 'system')
        WITH CHECK (rapidcare_actor_is(user_id) OR rapidcare_actor_role() = 'system')
    """,
]

# The view's grant comes after SERVICE_ROLE, which creates the role on a cluster that
# has none yet (it first ran before it, which only worked where the role existed).
POSTGRES = (
    [BOOKING_HOLDS_VIEW]
    + ACTOR_FUNCTIONS
    + SERVICE_ROLE
    + ["GRANT SELECT ON booking_holds TO rapidcare_service"]
    + CHAIN_TRIGGER
    + [f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY" for table in POLICY_TABLES]
    + POLICIES
)


# Undo (`flask db downgrade`): the policies and row-level security go, then every
# privilege of rapidcare_service in this database (the tables of later migrations are
# gone by then: they are undone first), then the actor functions and the view. The
# role itself and its membership of the owner stay: roles are cluster-wide, and other
# databases of the cluster may use it. The service, which connects in that role,
# cannot work on a database downgraded below 0090 (it may not read the tables);
# run it as the owner there, as before this migration.
POLICY_NAMES = [
    ("bookings_actor", "bookings"),
    ("transactions_actor", "transactions"),
    ("refunds_actor", "refunds"),
    ("user_balance_actor", "user_balance"),
    ("balance_transactions_read", "balance_transactions"),
    ("balance_transactions_post", "balance_transactions"),
    ("hospital_earnings_read", "hospital_earnings"),
    ("hospital_earnings_post", "hospital_earnings"),
    ("booking_notifications_read", "booking_notifications"),
    ("booking_notifications_send", "booking_notifications"),
    ("blood_requests_read", "blood_requests"),
    ("blood_requests_post", "blood_requests"),
    ("blood_requests_change", "blood_requests"),
    ("resource_audit_log_read", "resource_audit_log"),
    ("resource_audit_log_post", "resource_audit_log"),
    ("admin_audit_log_read", "admin_audit_log"),
    ("admin_audit_log_post", "admin_audit_log"),
    ("idempotency_keys_actor", "idempotency_keys"),
]

SQLITE_DOWN = ["DROP VIEW booking_holds"]

POSTGRES_DOWN = (
    [f"DROP POLICY {name} ON {table}" for name, table in POLICY_NAMES]
    + [f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY" for table in POLICY_TABLES]
    + [
        "ALTER FUNCTION balance_transactions_before_insert_chain() RESET search_path",
        "ALTER FUNCTION balance_transactions_before_insert_chain() SECURITY INVOKER",
        """
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM rapidcare_service
        """,
        """
        ALTER DEFAULT PRIVILEGES IN SCHEMA public
            REVOKE USAGE, SELECT ON SEQUENCES FROM rapidcare_service
        """,
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM rapidcare_service",
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM rapidcare_service",
        "REVOKE USAGE ON SCHEMA public FROM rapidcare_service",
        "DROP FUNCTION rapidcare_actor_is(bigint)",
        "DROP FUNCTION rapidcare_actor_manages(bigint)",
        "DROP FUNCTION rapidcare_actor_sees_all()",
        "DROP FUNCTION rapidcare_actor_hospital_id()",
        "DROP FUNCTION rapidcare_actor_role()",
        "DROP FUNCTION rapidcare_actor_id()",
        "DROP VIEW booking_holds",
    ]
)
