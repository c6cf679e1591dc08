"""Initial schema: the whole seed system.

Accounts and tokens, hospitals (+ FTS5 index), resources with their audit log,
pricing and payment policy, bookings with status history and notifications,
transactions, refunds, wallets and their ledger, blood requests and donor
matches, reconciliation, idempotency keys, the admin audit log and job runs.

Conventions:
- Money is INTEGER minor units (poisha); every money column ends in ``_minor``.
  Rates are INTEGER basis points (``_bp``: 10000 = 100 %, 15000 = 1.5x).
- Times are UTC ISO-8601 TEXT written by the application (``app.timeutil.to_iso``).
- Tables are STRICT, so a float can never slip into a money column.
- Triggers: booking status history + notifications, the booking transition
  matrix, forward-only payment states, append-only ledgers and audit logs, and
  the hospital full-text index.
"""

TABLES = [
    """
    CREATE TABLE users (
        id             INTEGER PRIMARY KEY,
        name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        email          TEXT NOT NULL COLLATE NOCASE UNIQUE CHECK (length(email) <= 254),
        password_hash  TEXT NOT NULL,
        phone          TEXT CHECK (phone IS NULL OR length(phone) <= 32),
        role           TEXT NOT NULL DEFAULT 'user'
                       CHECK (role IN ('user', 'hospital-authority', 'admin')),
        hospital_id    INTEGER REFERENCES hospitals (id),
        status         TEXT NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'inactive', 'suspended')),
        last_login_at  TEXT,
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL,
        CHECK (hospital_id IS NULL OR role = 'hospital-authority')
    ) STRICT
    """,
    "CREATE INDEX idx_users_role ON users (role)",
    "CREATE INDEX idx_users_hospital ON users (hospital_id) WHERE hospital_id IS NOT NULL",
    """
    CREATE TABLE api_tokens (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        token_hash    TEXT NOT NULL UNIQUE,  -- sha256 of the bearer token; the token itself is never stored
        created_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        revoked_at    TEXT
    ) STRICT
    """,
    "CREATE INDEX idx_api_tokens_user ON api_tokens (user_id, revoked_at)",
    """
    CREATE TABLE login_attempts (
        id          INTEGER PRIMARY KEY,
        email       TEXT NOT NULL COLLATE NOCASE,
        ip_address  TEXT,
        succeeded   INTEGER NOT NULL CHECK (succeeded IN (0, 1)),
        created_at  TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_login_attempts_email ON login_attempts (email, created_at)",
    "CREATE INDEX idx_login_attempts_ip ON login_attempts (ip_address, created_at)",
    """
    CREATE TABLE hospitals (
        id                 INTEGER PRIMARY KEY,
        name               TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        description        TEXT CHECK (description IS NULL OR length(description) <= 5000),
        address            TEXT NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
        city               TEXT CHECK (city IS NULL OR length(city) <= 100),
        phone              TEXT CHECK (phone IS NULL OR length(phone) <= 32),
        email              TEXT CHECK (email IS NULL OR length(email) <= 254),
        website            TEXT CHECK (website IS NULL OR length(website) <= 500),
        specialties        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(specialties)),
        timezone           TEXT NOT NULL DEFAULT 'Asia/Dhaka',
        status             TEXT NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'approved', 'rejected', 'suspended')),
        created_by         INTEGER REFERENCES users (id),
        approved_by        INTEGER REFERENCES users (id),
        approved_at        TEXT,
        rejection_reason   TEXT,
        suspension_reason  TEXT,
        created_at         TEXT NOT NULL,
        updated_at         TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_hospitals_status_name ON hospitals (status, name, id)",
    """
    CREATE VIRTUAL TABLE hospitals_fts USING fts5 (
        name, address, city, specialties,
        content = 'hospitals', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TABLE hospital_resources (
        id             INTEGER PRIMARY KEY,
        hospital_id    INTEGER NOT NULL REFERENCES hospitals (id),
        resource_type  TEXT NOT NULL CHECK (resource_type IN ('beds', 'icu', 'operationTheatres')),
        total          INTEGER NOT NULL CHECK (total >= 0),
        available      INTEGER NOT NULL CHECK (available >= 0),
        occupied       INTEGER NOT NULL DEFAULT 0 CHECK (occupied >= 0),
        reserved       INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
        maintenance    INTEGER NOT NULL DEFAULT 0 CHECK (maintenance >= 0),
        updated_by     INTEGER REFERENCES users (id),
        last_updated   TEXT NOT NULL,
        UNIQUE (hospital_id, resource_type),
        CHECK (available + occupied + reserved + maintenance = total)
    ) STRICT
    """,
    "CREATE INDEX idx_resources_type_available ON hospital_resources (resource_type, available)",
    """
    CREATE TABLE resource_audit_log (
        id             INTEGER PRIMARY KEY,
        hospital_id    INTEGER NOT NULL REFERENCES hospitals (id),
        resource_type  TEXT NOT NULL,
        action         TEXT NOT NULL
                       CHECK (action IN ('create', 'update', 'delete', 'allocate', 'release')),
        old_values     TEXT CHECK (old_values IS NULL OR json_valid(old_values)),
        new_values     TEXT CHECK (new_values IS NULL OR json_valid(new_values)),
        reason         TEXT,
        booking_id     INTEGER REFERENCES bookings (id),
        changed_by     INTEGER REFERENCES users (id),
        ip_address     TEXT,
        user_agent     TEXT,
        created_at     TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_resource_audit_hospital ON resource_audit_log (hospital_id, created_at)",
    """
    CREATE TABLE hospital_pricing (
        id                       INTEGER PRIMARY KEY,
        hospital_id              INTEGER NOT NULL REFERENCES hospitals (id),
        resource_type            TEXT NOT NULL
                                 CHECK (resource_type IN ('beds', 'icu', 'operationTheatres')),
        base_price_minor         INTEGER NOT NULL CHECK (base_price_minor >= 0),
        price_per_hour_minor     INTEGER NOT NULL DEFAULT 0 CHECK (price_per_hour_minor >= 0),
        price_per_day_minor      INTEGER NOT NULL DEFAULT 0 CHECK (price_per_day_minor >= 0),
        emergency_multiplier_bp  INTEGER NOT NULL DEFAULT 10000
                                 CHECK (emergency_multiplier_bp BETWEEN 10000 AND 100000),
        currency                 TEXT NOT NULL DEFAULT 'BDT',
        effective_from           TEXT NOT NULL,
        effective_to             TEXT,  -- NULL while this row is the active price
        created_by               INTEGER REFERENCES users (id),
        created_at               TEXT NOT NULL
    ) STRICT
    """,
    """
    CREATE UNIQUE INDEX idx_pricing_one_active
        ON hospital_pricing (hospital_id, resource_type) WHERE effective_to IS NULL
    """,
    """
    CREATE INDEX idx_pricing_history
        ON hospital_pricing (hospital_id, resource_type, effective_from)
    """,
    """
    CREATE TABLE payment_policies (
        hospital_id                INTEGER PRIMARY KEY REFERENCES hospitals (id),
        platform_fee_bp            INTEGER NOT NULL CHECK (platform_fee_bp BETWEEN 0 AND 10000),
        cancellation_window_hours  INTEGER NOT NULL CHECK (cancellation_window_hours BETWEEN 0 AND 720),
        refund_inside_window_bp    INTEGER NOT NULL CHECK (refund_inside_window_bp BETWEEN 0 AND 10000),
        updated_by                 INTEGER REFERENCES users (id),
        updated_at                 TEXT NOT NULL
    ) STRICT
    """,
    """
    CREATE TABLE payment_config (
        id          INTEGER PRIMARY KEY,
        gateway     TEXT NOT NULL UNIQUE CHECK (gateway IN ('sslcommerz')),
        is_active   INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
        mode        TEXT NOT NULL DEFAULT 'sandbox' CHECK (mode IN ('sandbox', 'live')),
        settings    TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),  -- non-secret only
        updated_at  TEXT NOT NULL
    ) STRICT
    """,
    """
    CREATE TABLE booking_reference_counters (
        year        INTEGER PRIMARY KEY,
        last_value  INTEGER NOT NULL CHECK (last_value BETWEEN 1 AND 999999)
    ) STRICT
    """,
    """
    CREATE TABLE bookings (
        id                              INTEGER PRIMARY KEY,
        booking_reference               TEXT NOT NULL UNIQUE
                                        CHECK (booking_reference GLOB 'RC-[0-9][0-9][0-9][0-9]-[0-9][0-9][0-9][0-9][0-9][0-9]'),
        user_id                         INTEGER NOT NULL REFERENCES users (id),
        hospital_id                     INTEGER NOT NULL REFERENCES hospitals (id),
        resource_type                   TEXT NOT NULL
                                        CHECK (resource_type IN ('beds', 'icu', 'operationTheatres')),
        patient_name                    TEXT NOT NULL CHECK (length(patient_name) BETWEEN 1 AND 200),
        patient_age                     INTEGER NOT NULL CHECK (patient_age BETWEEN 0 AND 150),
        patient_gender                  TEXT NOT NULL CHECK (patient_gender IN ('male', 'female', 'other')),
        medical_condition               TEXT NOT NULL CHECK (length(medical_condition) BETWEEN 1 AND 2000),
        urgency                         TEXT NOT NULL DEFAULT 'medium'
                                        CHECK (urgency IN ('low', 'medium', 'high', 'critical')),
        -- 0 = critical … 3 = low, so the triage queue orders by an index
        urgency_rank                    INTEGER NOT NULL GENERATED ALWAYS AS (
                                            CASE urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                                         WHEN 'medium' THEN 2 ELSE 3 END) STORED,
        emergency_contact_name          TEXT NOT NULL CHECK (length(emergency_contact_name) BETWEEN 1 AND 200),
        emergency_contact_phone         TEXT NOT NULL CHECK (length(emergency_contact_phone) BETWEEN 1 AND 32),
        emergency_contact_relationship  TEXT NOT NULL CHECK (length(emergency_contact_relationship) BETWEEN 1 AND 100),
        scheduled_date                  TEXT NOT NULL,
        scheduled_day                   TEXT NOT NULL,  -- YYYY-MM-DD in the hospital's time zone
        estimated_duration_hours        INTEGER NOT NULL DEFAULT 24
                                        CHECK (estimated_duration_hours BETWEEN 1 AND 168),
        notes                           TEXT CHECK (notes IS NULL OR length(notes) <= 2000),
        status                          TEXT NOT NULL DEFAULT 'pending'
                                        CHECK (status IN ('pending', 'approved', 'declined', 'cancelled', 'completed')),
        -- units taken from hospital_resources at approval; complete/cancel release exactly this
        allocated_units                 INTEGER NOT NULL DEFAULT 0 CHECK (allocated_units >= 0),
        amount_minor                    INTEGER CHECK (amount_minor IS NULL OR amount_minor >= 0),
        currency                        TEXT NOT NULL DEFAULT 'BDT',
        -- who made the latest status change and why: read by the history/notification triggers
        status_changed_by               INTEGER REFERENCES users (id),
        status_reason                   TEXT CHECK (status_reason IS NULL OR length(status_reason) <= 1000),
        approved_by                     INTEGER REFERENCES users (id),
        approved_at                     TEXT,
        declined_at                     TEXT,
        cancelled_at                    TEXT,
        completed_at                    TEXT,
        created_at                      TEXT NOT NULL,
        updated_at                      TEXT NOT NULL,
        CHECK (status = 'approved' OR allocated_units = 0)
    ) STRICT
    """,
    "CREATE INDEX idx_bookings_user ON bookings (user_id, created_at)",
    """
    CREATE INDEX idx_bookings_queue
        ON bookings (hospital_id, status, urgency_rank, created_at)
    """,
    "CREATE INDEX idx_bookings_hospital_created ON bookings (hospital_id, created_at)",
    "CREATE INDEX idx_bookings_status ON bookings (status, created_at)",
    "CREATE INDEX idx_bookings_scheduled ON bookings (scheduled_date)",
    """
    CREATE UNIQUE INDEX idx_bookings_one_open_per_day
        ON bookings (user_id, hospital_id, resource_type, scheduled_day)
        WHERE status IN ('pending', 'approved')
    """,
    """
    CREATE TABLE booking_status_history (
        id          INTEGER PRIMARY KEY,
        booking_id  INTEGER NOT NULL REFERENCES bookings (id),
        old_status  TEXT,  -- NULL for the creation row
        new_status  TEXT NOT NULL,
        changed_by  INTEGER REFERENCES users (id),
        reason      TEXT,
        created_at  TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_booking_history_booking ON booking_status_history (booking_id, id)",
    """
    CREATE TABLE booking_notifications (
        id                INTEGER PRIMARY KEY,
        user_id           INTEGER NOT NULL REFERENCES users (id),
        booking_id        INTEGER REFERENCES bookings (id),
        blood_request_id  INTEGER REFERENCES blood_requests (id),
        type              TEXT NOT NULL,
        title             TEXT NOT NULL,
        message           TEXT NOT NULL,
        is_read           INTEGER NOT NULL DEFAULT 0 CHECK (is_read IN (0, 1)),
        created_at        TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_notifications_user ON booking_notifications (user_id, is_read, id)",
    """
    CREATE TABLE transactions (
        id                    INTEGER PRIMARY KEY,
        transaction_ref       TEXT NOT NULL UNIQUE,  -- our tran_id at the gateway
        kind                  TEXT NOT NULL CHECK (kind IN ('booking_payment', 'wallet_topup')),
        booking_id            INTEGER REFERENCES bookings (id),
        user_id               INTEGER NOT NULL REFERENCES users (id),
        hospital_id           INTEGER REFERENCES hospitals (id),
        amount_minor          INTEGER NOT NULL CHECK (amount_minor > 0),
        currency              TEXT NOT NULL DEFAULT 'BDT',
        method                TEXT CHECK (method IS NULL OR method IN ('wallet', 'sslcommerz')),
        status                TEXT NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'processing', 'completed', 'failed',
                                                'partially_refunded', 'refunded')),
        platform_fee_minor    INTEGER CHECK (platform_fee_minor IS NULL OR platform_fee_minor >= 0),
        hospital_share_minor  INTEGER CHECK (hospital_share_minor IS NULL OR hospital_share_minor >= 0),
        refunded_minor        INTEGER NOT NULL DEFAULT 0
                              CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
        gateway_session_key   TEXT,
        gateway_val_id        TEXT,
        gateway_bank_tran_id  TEXT,
        gateway_status        TEXT,
        failure_reason        TEXT,
        created_at            TEXT NOT NULL,
        updated_at            TEXT NOT NULL,
        completed_at          TEXT,
        CHECK (kind = 'wallet_topup' OR booking_id IS NOT NULL),
        CHECK (status NOT IN ('completed', 'partially_refunded', 'refunded')
               OR (method IS NOT NULL AND completed_at IS NOT NULL)),
        CHECK (kind <> 'booking_payment'
               OR status NOT IN ('completed', 'partially_refunded', 'refunded')
               OR platform_fee_minor + hospital_share_minor = amount_minor)
    ) STRICT
    """,
    """
    CREATE UNIQUE INDEX idx_transactions_one_live_per_booking
        ON transactions (booking_id) WHERE kind = 'booking_payment' AND status <> 'failed'
    """,
    "CREATE INDEX idx_transactions_user ON transactions (user_id, created_at)",
    "CREATE INDEX idx_transactions_hospital ON transactions (hospital_id, created_at)",
    "CREATE INDEX idx_transactions_status ON transactions (status, updated_at)",
    """
    CREATE TABLE refunds (
        id                  INTEGER PRIMARY KEY,
        transaction_id      INTEGER NOT NULL REFERENCES transactions (id),
        amount_minor        INTEGER NOT NULL CHECK (amount_minor > 0),
        reason              TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
        method              TEXT NOT NULL CHECK (method IN ('wallet', 'sslcommerz')),
        status              TEXT NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
        gateway_refund_ref  TEXT,
        requested_by        INTEGER REFERENCES users (id),
        created_at          TEXT NOT NULL,
        completed_at        TEXT
    ) STRICT
    """,
    "CREATE INDEX idx_refunds_transaction ON refunds (transaction_id)",
    """
    CREATE TABLE user_balance (
        user_id        INTEGER PRIMARY KEY REFERENCES users (id),
        balance_minor  INTEGER NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
        currency       TEXT NOT NULL DEFAULT 'BDT',
        updated_at     TEXT NOT NULL
    ) STRICT
    """,
    """
    CREATE TABLE balance_transactions (
        id                    INTEGER PRIMARY KEY,
        user_id               INTEGER NOT NULL REFERENCES users (id),
        transaction_id        INTEGER REFERENCES transactions (id),
        type                  TEXT NOT NULL CHECK (type IN ('credit', 'debit', 'refund', 'fee')),
        amount_minor          INTEGER NOT NULL CHECK (amount_minor > 0),  -- direction comes from type
        balance_before_minor  INTEGER NOT NULL CHECK (balance_before_minor >= 0),
        balance_after_minor   INTEGER NOT NULL CHECK (balance_after_minor >= 0),
        description           TEXT NOT NULL CHECK (length(description) <= 500),
        created_by            INTEGER REFERENCES users (id),
        created_at            TEXT NOT NULL,
        CHECK (balance_after_minor = balance_before_minor
               + CASE WHEN type IN ('credit', 'refund') THEN amount_minor ELSE -amount_minor END)
    ) STRICT
    """,
    "CREATE INDEX idx_balance_tx_user ON balance_transactions (user_id, id)",
    "CREATE INDEX idx_balance_tx_transaction ON balance_transactions (transaction_id)",
    """
    CREATE TABLE hospital_earnings (
        id              INTEGER PRIMARY KEY,
        hospital_id     INTEGER NOT NULL REFERENCES hospitals (id),
        transaction_id  INTEGER NOT NULL REFERENCES transactions (id),
        -- signed: + share of a completed payment, - the share given back by a refund
        share_minor     INTEGER NOT NULL,
        fee_minor       INTEGER NOT NULL,  -- the platform's part of the same event, signed alike
        description     TEXT NOT NULL,
        created_at      TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_hospital_earnings_hospital ON hospital_earnings (hospital_id, created_at)",
    """
    CREATE TABLE idempotency_keys (
        id                  INTEGER PRIMARY KEY,
        user_id             INTEGER NOT NULL REFERENCES users (id),
        endpoint            TEXT NOT NULL,
        idempotency_key     TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
        request_fingerprint TEXT NOT NULL,
        response_status     INTEGER,  -- NULL while the first request is still running
        response_body       TEXT,
        created_at          TEXT NOT NULL,
        expires_at          TEXT NOT NULL,
        UNIQUE (user_id, endpoint, idempotency_key)
    ) STRICT
    """,
    "CREATE INDEX idx_idempotency_expiry ON idempotency_keys (expires_at)",
    """
    CREATE TABLE blood_requests (
        id                 INTEGER PRIMARY KEY,
        requester_id       INTEGER NOT NULL REFERENCES users (id),
        patient_name       TEXT NOT NULL CHECK (length(patient_name) BETWEEN 1 AND 200),
        blood_type         TEXT NOT NULL
                           CHECK (blood_type IN ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')),
        units_needed       INTEGER NOT NULL CHECK (units_needed BETWEEN 1 AND 20),
        urgency            TEXT NOT NULL DEFAULT 'medium'
                           CHECK (urgency IN ('low', 'medium', 'high', 'critical')),
        urgency_rank       INTEGER NOT NULL GENERATED ALWAYS AS (
                               CASE urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                            WHEN 'medium' THEN 2 ELSE 3 END) STORED,
        hospital_id        INTEGER REFERENCES hospitals (id),
        contact_phone      TEXT NOT NULL CHECK (length(contact_phone) BETWEEN 1 AND 32),
        location           TEXT NOT NULL CHECK (length(location) BETWEEN 1 AND 300),
        medical_condition  TEXT CHECK (medical_condition IS NULL OR length(medical_condition) <= 2000),
        required_by        TEXT,
        notes              TEXT CHECK (notes IS NULL OR length(notes) <= 2000),
        status             TEXT NOT NULL DEFAULT 'active'
                           CHECK (status IN ('active', 'fulfilled', 'cancelled', 'expired')),
        created_at         TEXT NOT NULL,
        updated_at         TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_blood_active ON blood_requests (status, blood_type, urgency_rank, required_by)",
    "CREATE INDEX idx_blood_requester ON blood_requests (requester_id, created_at)",
    """
    CREATE TABLE blood_donor_matches (
        id                INTEGER PRIMARY KEY,
        blood_request_id  INTEGER NOT NULL REFERENCES blood_requests (id),
        donor_id          INTEGER NOT NULL REFERENCES users (id),
        donor_blood_type  TEXT NOT NULL
                          CHECK (donor_blood_type IN ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')),
        phone             TEXT CHECK (phone IS NULL OR length(phone) <= 32),
        created_at        TEXT NOT NULL,
        UNIQUE (blood_request_id, donor_id)
    ) STRICT
    """,
    """
    CREATE TABLE reconciliation_runs (
        id            INTEGER PRIMARY KEY,
        run_date      TEXT NOT NULL,  -- the day reconciled, YYYY-MM-DD in the platform time zone
        status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        summary       TEXT CHECK (summary IS NULL OR json_valid(summary)),
        triggered_by  INTEGER REFERENCES users (id),  -- NULL for the scheduler
        started_at    TEXT NOT NULL,
        finished_at   TEXT
    ) STRICT
    """,
    "CREATE INDEX idx_reconciliation_runs_date ON reconciliation_runs (run_date, id)",
    """
    CREATE TABLE reconciliation_discrepancies (
        id                INTEGER PRIMARY KEY,
        run_id            INTEGER NOT NULL REFERENCES reconciliation_runs (id),
        kind              TEXT NOT NULL,
        severity          TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        entity_type       TEXT NOT NULL,
        entity_id         INTEGER NOT NULL,
        details           TEXT NOT NULL CHECK (json_valid(details)),
        status            TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
        resolved_by       INTEGER REFERENCES users (id),
        resolved_at       TEXT,
        resolution_notes  TEXT,
        created_at        TEXT NOT NULL
    ) STRICT
    """,
    """
    CREATE UNIQUE INDEX idx_discrepancies_one_open
        ON reconciliation_discrepancies (kind, entity_type, entity_id) WHERE status = 'open'
    """,
    """
    CREATE TABLE admin_audit_log (
        id           INTEGER PRIMARY KEY,
        actor_id     INTEGER REFERENCES users (id),
        action       TEXT NOT NULL,
        target_type  TEXT NOT NULL,
        target_id    INTEGER,
        details      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details)),
        ip_address   TEXT,
        created_at   TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX idx_admin_audit_target ON admin_audit_log (target_type, target_id)",
    """
    CREATE TABLE job_runs (
        id           INTEGER PRIMARY KEY,
        job_name     TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        finished_at  TEXT,
        status       TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        message      TEXT
    ) STRICT
    """,
    "CREATE INDEX idx_job_runs_name ON job_runs (job_name, id)",
]

BOOKING_TRIGGERS = [
    # The transition matrix, enforced where no code path can skip it.
    """
    CREATE TRIGGER bookings_before_update_transition
    BEFORE UPDATE OF status ON bookings
    WHEN OLD.status <> NEW.status AND NOT (
           (OLD.status = 'pending'  AND NEW.status IN ('approved', 'declined', 'cancelled'))
        OR (OLD.status = 'approved' AND NEW.status IN ('completed', 'cancelled')))
    BEGIN
        SELECT RAISE(ABORT, 'booking status transition not allowed');
    END
    """,
    # Exactly one history row at creation (the original wrote two).
    """
    CREATE TRIGGER bookings_after_insert_history
    AFTER INSERT ON bookings
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason, created_at)
        VALUES (NEW.id, NULL, NEW.status, NEW.status_changed_by, NEW.status_reason, NEW.created_at);
    END
    """,
    """
    CREATE TRIGGER bookings_after_insert_notify
    AFTER INSERT ON bookings
    BEGIN
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_created', 'Booking request received',
                'Your booking ' || NEW.booking_reference || ' is waiting for the hospital''s decision.',
                NEW.created_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        SELECT u.id, NEW.id, 'booking_request', 'New booking request',
               'Booking ' || NEW.booking_reference || ' (' || NEW.resource_type || ', '
               || NEW.urgency || ' urgency) is waiting for review.',
               NEW.created_at
        FROM users AS u
        WHERE u.hospital_id = NEW.hospital_id AND u.role = 'hospital-authority' AND u.status = 'active';
    END
    """,
    """
    CREATE TRIGGER bookings_after_update_history
    AFTER UPDATE OF status ON bookings
    WHEN OLD.status <> NEW.status
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason, created_at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by, NEW.status_reason, NEW.updated_at);
    END
    """,
    """
    CREATE TRIGGER bookings_after_update_notify
    AFTER UPDATE OF status ON bookings
    WHEN OLD.status <> NEW.status
    BEGIN
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_' || NEW.status,
                'Booking ' || NEW.status,
                'Your booking ' || NEW.booking_reference || ' is now ' || NEW.status
                || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
                        THEN ': ' || NEW.status_reason ELSE '.' END,
                NEW.updated_at);
    END
    """,
]

PAYMENT_TRIGGERS = [
    # Payment states only move forward.
    """
    CREATE TRIGGER transactions_before_update_status
    BEFORE UPDATE OF status ON transactions
    WHEN OLD.status <> NEW.status AND NOT (
           (OLD.status = 'pending'    AND NEW.status IN ('processing', 'completed', 'failed'))
        OR (OLD.status = 'processing' AND NEW.status IN ('completed', 'failed'))
        OR (OLD.status = 'completed'  AND NEW.status IN ('partially_refunded', 'refunded'))
        OR (OLD.status = 'partially_refunded' AND NEW.status = 'refunded'))
    BEGIN
        SELECT RAISE(ABORT, 'payment status transition not allowed');
    END
    """,
]


def append_only(table):
    """Two triggers that make ``table`` append-only: corrections are new rows."""
    return [
        f"""
        CREATE TRIGGER {table}_before_update_append_only
        BEFORE UPDATE ON {table}
        BEGIN
            SELECT RAISE(ABORT, '{table} is append-only');
        END
        """,
        f"""
        CREATE TRIGGER {table}_before_delete_append_only
        BEFORE DELETE ON {table}
        BEGIN
            SELECT RAISE(ABORT, '{table} is append-only');
        END
        """,
    ]


APPEND_ONLY_TABLES = [
    "balance_transactions",
    "hospital_earnings",
    "resource_audit_log",
    "admin_audit_log",
    "booking_status_history",
]

FTS_TRIGGERS = [
    """
    CREATE TRIGGER hospitals_after_insert_fts
    AFTER INSERT ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (rowid, name, address, city, specialties)
        VALUES (NEW.id, NEW.name, NEW.address, NEW.city, NEW.specialties);
    END
    """,
    """
    CREATE TRIGGER hospitals_after_update_fts
    AFTER UPDATE OF name, address, city, specialties ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (hospitals_fts, rowid, name, address, city, specialties)
        VALUES ('delete', OLD.id, OLD.name, OLD.address, OLD.city, OLD.specialties);
        INSERT INTO hospitals_fts (rowid, name, address, city, specialties)
        VALUES (NEW.id, NEW.name, NEW.address, NEW.city, NEW.specialties);
    END
    """,
    """
    CREATE TRIGGER hospitals_after_delete_fts
    AFTER DELETE ON hospitals
    BEGIN
        INSERT INTO hospitals_fts (hospitals_fts, rowid, name, address, city, specialties)
        VALUES ('delete', OLD.id, OLD.name, OLD.address, OLD.city, OLD.specialties);
    END
    """,
]


SQLITE = TABLES + BOOKING_TRIGGERS + PAYMENT_TRIGGERS + FTS_TRIGGERS
for _table in APPEND_ONLY_TABLES:
    SQLITE += append_only(_table)

# --- PostgreSQL ---------------------------------------------------------------------
# The same schema in PostgreSQL's own terms: identity keys (BY DEFAULT, so a copy from
# SQLite keeps its ids), timestamptz, date, boolean, bigint money, jsonb, the same
# CHECKs and partial indexes; triggers in PL/pgSQL; hospital search as a generated
# tsvector with a GIN index instead of the FTS5 table. Foreign keys between tables
# created in a cycle (users <-> hospitals, ...) are added once both exist.

POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    # unaccent() is only STABLE (its dictionary could change); pinning the dictionary
    # makes it safe for a generated column, as PostgreSQL's documentation suggests.
    """
    CREATE FUNCTION rapidcare_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN public.unaccent('public.unaccent'::regdictionary, $1)
    """,
    """
    CREATE TABLE users (
        id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        email          text NOT NULL CHECK (length(email) <= 254),
        password_hash  text NOT NULL,
        phone          text CHECK (phone IS NULL OR length(phone) <= 32),
        role           text NOT NULL DEFAULT 'user'
                       CHECK (role IN ('user', 'hospital-authority', 'admin')),
        hospital_id    bigint,
        status         text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'inactive', 'suspended')),
        last_login_at  timestamptz,
        created_at     timestamptz NOT NULL,
        updated_at     timestamptz NOT NULL,
        CHECK (hospital_id IS NULL OR role = 'hospital-authority')
    )
    """,
    # Emails are stored lower-cased by the service; the index makes "one account per
    # address" hold whatever the case, as COLLATE NOCASE does on SQLite.
    "CREATE UNIQUE INDEX users_email_key ON users (lower(email))",
    "CREATE INDEX idx_users_email ON users (email)",
    "CREATE INDEX idx_users_role ON users (role)",
    "CREATE INDEX idx_users_hospital ON users (hospital_id) WHERE hospital_id IS NOT NULL",
    """
    CREATE TABLE api_tokens (
        id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id       bigint NOT NULL REFERENCES users (id),
        token_hash    text NOT NULL UNIQUE,
        created_at    timestamptz NOT NULL,
        expires_at    timestamptz NOT NULL,
        revoked_at    timestamptz
    )
    """,
    "CREATE INDEX idx_api_tokens_user ON api_tokens (user_id, revoked_at)",
    """
    CREATE TABLE login_attempts (
        id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        email       text NOT NULL,
        ip_address  text,
        succeeded   boolean NOT NULL,
        created_at  timestamptz NOT NULL
    )
    """,
    "CREATE INDEX idx_login_attempts_email ON login_attempts (email, created_at)",
    "CREATE INDEX idx_login_attempts_ip ON login_attempts (ip_address, created_at)",
    """
    CREATE TABLE hospitals (
        id                 bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        description        text CHECK (description IS NULL OR length(description) <= 5000),
        address            text NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
        city               text CHECK (city IS NULL OR length(city) <= 100),
        phone              text CHECK (phone IS NULL OR length(phone) <= 32),
        email              text CHECK (email IS NULL OR length(email) <= 254),
        website            text CHECK (website IS NULL OR length(website) <= 500),
        specialties        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(specialties) = 'array'),
        timezone           text NOT NULL DEFAULT 'Asia/Dhaka',
        status             text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'approved', 'rejected', 'suspended')),
        created_by         bigint REFERENCES users (id),
        approved_by        bigint REFERENCES users (id),
        approved_at        timestamptz,
        rejection_reason   text,
        suspension_reason  text,
        created_at         timestamptz NOT NULL,
        updated_at         timestamptz NOT NULL,
        -- What search matches: the words of name, address, city and specialties,
        -- lower-cased and without accents (FTS5's unicode61 remove_diacritics on SQLite).
        search_vector      tsvector GENERATED ALWAYS AS (to_tsvector('simple', rapidcare_unaccent(
                               name || ' ' || address || ' ' || coalesce(city, '') || ' '
                               || specialties::text))) STORED
    )
    """,
    "ALTER TABLE users ADD FOREIGN KEY (hospital_id) REFERENCES hospitals (id)",
    "CREATE INDEX idx_hospitals_status_name ON hospitals (status, name, id)",
    "CREATE INDEX idx_hospitals_search ON hospitals USING gin (search_vector)",
    """
    CREATE TABLE hospital_resources (
        id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        hospital_id    bigint NOT NULL REFERENCES hospitals (id),
        resource_type  text NOT NULL CHECK (resource_type IN ('beds', 'icu', 'operationTheatres')),
        total          integer NOT NULL CHECK (total >= 0),
        available      integer NOT NULL CHECK (available >= 0),
        occupied       integer NOT NULL DEFAULT 0 CHECK (occupied >= 0),
        reserved       integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
        maintenance    integer NOT NULL DEFAULT 0 CHECK (maintenance >= 0),
        updated_by     bigint REFERENCES users (id),
        last_updated   timestamptz NOT NULL,
        UNIQUE (hospital_id, resource_type),
        CHECK (available + occupied + reserved + maintenance = total)
    )
    """,
    "CREATE INDEX idx_resources_type_available ON hospital_resources (resource_type, available)",
    """
    CREATE TABLE resource_audit_log (
        id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        hospital_id    bigint NOT NULL REFERENCES hospitals (id),
        resource_type  text NOT NULL,
        action         text NOT NULL
                       CHECK (action IN ('create', 'update', 'delete', 'allocate', 'release')),
        old_values     jsonb,
        new_values     jsonb,
        reason         text,
        booking_id     bigint,
        changed_by     bigint REFERENCES users (id),
        ip_address     text,
        user_agent     text,
        created_at     timestamptz NOT NULL
    )
    """,
    "CREATE INDEX idx_resource_audit_hospital ON resource_audit_log (hospital_id, created_at)",
    """
    CREATE TABLE hospital_pricing (
        id                       bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        hospital_id              bigint NOT NULL REFERENCES hospitals (id),
        resource_type            text NOT NULL
                                 CHECK (resource_type IN ('beds', 'icu', 'operationTheatres')),
        base_price_minor         bigint NOT NULL CHECK (base_price_minor >= 0),
        price_per_hour_minor     bigint NOT NULL DEFAULT 0 CHECK (price_per_hour_minor >= 0),
        price_per_day_minor      bigint NOT NULL DEFAULT 0 CHECK (price_per_day_minor >= 0),
        emergency_multiplier_bp  integer NOT NULL DEFAULT 10000
                                 CHECK (emergency_multiplier_bp BETWEEN 10000 AND 100000),
        currency                 text NOT NULL DEFAULT 'BDT',
        effective_from           timestamptz NOT NULL,
        effective_to             timestamptz,
        created_by               bigint REFERENCES users (id),
        created_at               timestamptz NOT NULL
    )
    """,
    """
    CREATE UNIQUE INDEX idx_pricing_one_active
        ON hospital_pricing (hospital_id, resource_type) WHERE effective_to IS NULL
    """,
    "CREATE INDEX idx_pricing_history ON hospital_pricing (hospital_id, resource_type, effective_from)",
    """
    CREATE TABLE payment_policies (
        hospital_id                bigint PRIMARY KEY REFERENCES hospitals (id),
        platform_fee_bp            integer NOT NULL CHECK (platform_fee_bp BETWEEN 0 AND 10000),
        cancellation_window_hours  integer NOT NULL CHECK (cancellation_window_hours BETWEEN 0 AND 720),
        refund_inside_window_bp    integer NOT NULL CHECK (refund_inside_window_bp BETWEEN 0 AND 10000),
        updated_by                 bigint REFERENCES users (id),
        updated_at                 timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE payment_config (
        id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        gateway     text NOT NULL UNIQUE CHECK (gateway IN ('sslcommerz')),
        is_active   boolean NOT NULL DEFAULT true,
        mode        text NOT NULL DEFAULT 'sandbox' CHECK (mode IN ('sandbox', 'live')),
        settings    jsonb NOT NULL DEFAULT '{}',
        updated_at  timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE booking_reference_counters (
        year        integer PRIMARY KEY,
        last_value  integer NOT NULL CHECK (last_value BETWEEN 1 AND 999999)
    )
    """,
    """
    CREATE TABLE bookings (
        id                              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        booking_reference               text NOT NULL UNIQUE
                                        CHECK (booking_reference ~ '^RC-[0-9]{4}-[0-9]{6}$'),
        user_id                         bigint NOT NULL REFERENCES users (id),
        hospital_id                     bigint NOT NULL REFERENCES hospitals (id),
        resource_type                   text NOT NULL
                                        CHECK (resource_type IN ('beds', 'icu', 'operationTheatres')),
        patient_name                    text NOT NULL CHECK (length(patient_name) BETWEEN 1 AND 200),
        patient_age                     integer NOT NULL CHECK (patient_age BETWEEN 0 AND 150),
        patient_gender                  text NOT NULL CHECK (patient_gender IN ('male', 'female', 'other')),
        medical_condition               text NOT NULL CHECK (length(medical_condition) BETWEEN 1 AND 2000),
        urgency                         text NOT NULL DEFAULT 'medium'
                                        CHECK (urgency IN ('low', 'medium', 'high', 'critical')),
        urgency_rank                    integer NOT NULL GENERATED ALWAYS AS (
                                            CASE urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                                         WHEN 'medium' THEN 2 ELSE 3 END) STORED,
        emergency_contact_name          text NOT NULL CHECK (length(emergency_contact_name) BETWEEN 1 AND 200),
        emergency_contact_phone         text NOT NULL CHECK (length(emergency_contact_phone) BETWEEN 1 AND 32),
        emergency_contact_relationship  text NOT NULL CHECK (length(emergency_contact_relationship) BETWEEN 1 AND 100),
        scheduled_date                  timestamptz NOT NULL,
        scheduled_day                   date NOT NULL,
        estimated_duration_hours        integer NOT NULL DEFAULT 24
                                        CHECK (estimated_duration_hours BETWEEN 1 AND 168),
        notes                           text CHECK (notes IS NULL OR length(notes) <= 2000),
        status                          text NOT NULL DEFAULT 'pending'
                                        CHECK (status IN ('pending', 'approved', 'declined', 'cancelled', 'completed')),
        allocated_units                 integer NOT NULL DEFAULT 0 CHECK (allocated_units >= 0),
        amount_minor                    bigint CHECK (amount_minor IS NULL OR amount_minor >= 0),
        currency                        text NOT NULL DEFAULT 'BDT',
        status_changed_by               bigint REFERENCES users (id),
        status_reason                   text CHECK (status_reason IS NULL OR length(status_reason) <= 1000),
        approved_by                     bigint REFERENCES users (id),
        approved_at                     timestamptz,
        declined_at                     timestamptz,
        cancelled_at                    timestamptz,
        completed_at                    timestamptz,
        created_at                      timestamptz NOT NULL,
        updated_at                      timestamptz NOT NULL,
        CHECK (status = 'approved' OR allocated_units = 0)
    )
    """,
    "ALTER TABLE resource_audit_log ADD FOREIGN KEY (booking_id) REFERENCES bookings (id)",
    "CREATE INDEX idx_bookings_user ON bookings (user_id, created_at)",
    "CREATE INDEX idx_bookings_queue ON bookings (hospital_id, status, urgency_rank, created_at)",
    "CREATE INDEX idx_bookings_hospital_created ON bookings (hospital_id, created_at)",
    "CREATE INDEX idx_bookings_status ON bookings (status, created_at)",
    "CREATE INDEX idx_bookings_scheduled ON bookings (scheduled_date)",
    """
    CREATE UNIQUE INDEX idx_bookings_one_open_per_day
        ON bookings (user_id, hospital_id, resource_type, scheduled_day)
        WHERE status IN ('pending', 'approved')
    """,
    """
    CREATE TABLE booking_status_history (
        id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        booking_id  bigint NOT NULL REFERENCES bookings (id),
        old_status  text,
        new_status  text NOT NULL,
        changed_by  bigint REFERENCES users (id),
        reason      text,
        created_at  timestamptz NOT NULL
    )
    """,
    "CREATE INDEX idx_booking_history_booking ON booking_status_history (booking_id, id)",
    """
    CREATE TABLE booking_notifications (
        id                bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id           bigint NOT NULL REFERENCES users (id),
        booking_id        bigint REFERENCES bookings (id),
        blood_request_id  bigint,
        type              text NOT NULL,
        title             text NOT NULL,
        message           text NOT NULL,
        is_read           boolean NOT NULL DEFAULT false,
        created_at        timestamptz NOT NULL
    )
    """,
    "CREATE INDEX idx_notifications_user ON booking_notifications (user_id, is_read, id)",
    """
    CREATE TABLE transactions (
        id                    bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        transaction_ref       text NOT NULL UNIQUE,
        kind                  text NOT NULL CHECK (kind IN ('booking_payment', 'wallet_topup')),
        booking_id            bigint REFERENCES bookings (id),
        user_id               bigint NOT NULL REFERENCES users (id),
        hospital_id           bigint REFERENCES hospitals (id),
        amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
        currency              text NOT NULL DEFAULT 'BDT',
        method                text CHECK (method IS NULL OR method IN ('wallet', 'sslcommerz')),
        status                text NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'processing', 'completed', 'failed',
                                                'partially_refunded', 'refunded')),
        platform_fee_minor    bigint CHECK (platform_fee_minor IS NULL OR platform_fee_minor >= 0),
        hospital_share_minor  bigint CHECK (hospital_share_minor IS NULL OR hospital_share_minor >= 0),
        refunded_minor        bigint NOT NULL DEFAULT 0
                              CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
        gateway_session_key   text,
        gateway_val_id        text,
        gateway_bank_tran_id  text,
        gateway_status        text,
        failure_reason        text,
        created_at            timestamptz NOT NULL,
        updated_at            timestamptz NOT NULL,
        completed_at          timestamptz,
        CHECK (kind = 'wallet_topup' OR booking_id IS NOT NULL),
        CHECK (status NOT IN ('completed', 'partially_refunded', 'refunded')
               OR (method IS NOT NULL AND completed_at IS NOT NULL)),
        CHECK (kind <> 'booking_payment'
               OR status NOT IN ('completed', 'partially_refunded', 'refunded')
               OR platform_fee_minor + hospital_share_minor = amount_minor)
    )
    """,
    """
    CREATE UNIQUE INDEX idx_transactions_one_live_per_booking
        ON transactions (booking_id) WHERE kind = 'booking_payment' AND status <> 'failed'
    """,
    "CREATE INDEX idx_transactions_user ON transactions (user_id, created_at)",
    "CREATE INDEX idx_transactions_hospital ON transactions (hospital_id, created_at)",
    "CREATE INDEX idx_transactions_status ON transactions (status, updated_at)",
    """
    CREATE TABLE refunds (
        id                  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        transaction_id      bigint NOT NULL REFERENCES transactions (id),
        amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
        reason              text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
        method              text NOT NULL CHECK (method IN ('wallet', 'sslcommerz')),
        status              text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
        gateway_refund_ref  text,
        requested_by        bigint REFERENCES users (id),
        created_at          timestamptz NOT NULL,
        completed_at        timestamptz
    )
    """,
    "CREATE INDEX idx_refunds_transaction ON refunds (transaction_id)",
    """
    CREATE TABLE user_balance (
        user_id        bigint PRIMARY KEY REFERENCES users (id),
        balance_minor  bigint NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
        currency       text NOT NULL DEFAULT 'BDT',
        updated_at     timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE balance_transactions (
        id                    bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id               bigint NOT NULL REFERENCES users (id),
        transaction_id        bigint REFERENCES transactions (id),
        type                  text NOT NULL CHECK (type IN ('credit', 'debit', 'refund', 'fee')),
        amount_minor          bigint NOT NULL CHECK (amount_minor > 0),
        balance_before_minor  bigint NOT NULL CHECK (balance_before_minor >= 0),
        balance_after_minor   bigint NOT NULL CHECK (balance_after_minor >= 0),
        description           text NOT NULL CHECK (length(description) <= 500),
        created_by            bigint REFERENCES users (id),
        created_at            timestamptz NOT NULL,
        CHECK (balance_after_minor = balance_before_minor
               + CASE WHEN type IN ('credit', 'refund') THEN amount_minor ELSE -amount_minor END)
    )
    """,
    "CREATE INDEX idx_balance_tx_user ON balance_transactions (user_id, id)",
    "CREATE INDEX idx_balance_tx_transaction ON balance_transactions (transaction_id)",
    """
    CREATE TABLE hospital_earnings (
        id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        hospital_id     bigint NOT NULL REFERENCES hospitals (id),
        transaction_id  bigint NOT NULL REFERENCES transactions (id),
        share_minor     bigint NOT NULL,
        fee_minor       bigint NOT NULL,
        description     text NOT NULL,
        created_at      timestamptz NOT NULL
    )
    """,
    "CREATE INDEX idx_hospital_earnings_hospital ON hospital_earnings (hospital_id, created_at)",
    """
    CREATE TABLE idempotency_keys (
        id                  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id             bigint NOT NULL REFERENCES users (id),
        endpoint            text NOT NULL,
        idempotency_key     text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
        request_fingerprint text NOT NULL,
        response_status     integer,
        response_body       text,
        created_at          timestamptz NOT NULL,
        expires_at          timestamptz NOT NULL,
        UNIQUE (user_id, endpoint, idempotency_key)
    )
    """,
    "CREATE INDEX idx_idempotency_expiry ON idempotency_keys (expires_at)",
    """
    CREATE TABLE blood_requests (
        id                 bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        requester_id       bigint NOT NULL REFERENCES users (id),
        patient_name       text NOT NULL CHECK (length(patient_name) BETWEEN 1 AND 200),
        blood_type         text NOT NULL
                           CHECK (blood_type IN ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')),
        units_needed       integer NOT NULL CHECK (units_needed BETWEEN 1 AND 20),
        urgency            text NOT NULL DEFAULT 'medium'
                           CHECK (urgency IN ('low', 'medium', 'high', 'critical')),
        urgency_rank       integer NOT NULL GENERATED ALWAYS AS (
                               CASE urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                                            WHEN 'medium' THEN 2 ELSE 3 END) STORED,
        hospital_id        bigint REFERENCES hospitals (id),
        contact_phone      text NOT NULL CHECK (length(contact_phone) BETWEEN 1 AND 32),
        location           text NOT NULL CHECK (length(location) BETWEEN 1 AND 300),
        medical_condition  text CHECK (medical_condition IS NULL OR length(medical_condition) <= 2000),
        required_by        timestamptz,
        notes              text CHECK (notes IS NULL OR length(notes) <= 2000),
        status             text NOT NULL DEFAULT 'active'
                           CHECK (status IN ('active', 'fulfilled', 'cancelled', 'expired')),
        created_at         timestamptz NOT NULL,
        updated_at         timestamptz NOT NULL
    )
    """,
    "ALTER TABLE booking_notifications ADD FOREIGN KEY (blood_request_id) REFERENCES blood_requests (id)",
    "CREATE INDEX idx_blood_active ON blood_requests (status, blood_type, urgency_rank, required_by)",
    "CREATE INDEX idx_blood_requester ON blood_requests (requester_id, created_at)",
    """
    CREATE TABLE blood_donor_matches (
        id                bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        blood_request_id  bigint NOT NULL REFERENCES blood_requests (id),
        donor_id          bigint NOT NULL REFERENCES users (id),
        donor_blood_type  text NOT NULL
                          CHECK (donor_blood_type IN ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')),
        phone             text CHECK (phone IS NULL OR length(phone) <= 32),
        created_at        timestamptz NOT NULL,
        UNIQUE (blood_request_id, donor_id)
    )
    """,
    """
    CREATE TABLE reconciliation_runs (
        id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run_date      date NOT NULL,
        status        text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
        summary       jsonb,
        triggered_by  bigint REFERENCES users (id),
        started_at    timestamptz NOT NULL,
        finished_at   timestamptz
    )
    """,
    "CREATE INDEX idx_reconciliation_runs_date ON reconciliation_runs (run_date, id)",
    """
    CREATE TABLE reconciliation_discrepancies (
        id                bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        run_id            bigint NOT NULL REFERENCES reconciliation_runs (id),
        kind              text NOT NULL,
        severity          text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        entity_type       text NOT NULL,
        entity_id         bigint NOT NULL,
        details           jsonb NOT NULL,
        status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
        resolved_by       bigint REFERENCES users (id),
        resolved_at       timestamptz,
        resolution_notes  text,
        created_at        timestamptz NOT NULL
    )
    """,
    """
    CREATE UNIQUE INDEX idx_discrepancies_one_open
        ON reconciliation_discrepancies (kind, entity_type, entity_id) WHERE status = 'open'
    """,
    """
    CREATE TABLE admin_audit_log (
        id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        actor_id     bigint REFERENCES users (id),
        action       text NOT NULL,
        target_type  text NOT NULL,
        target_id    bigint,
        details      jsonb NOT NULL DEFAULT '{}',
        ip_address   text,
        created_at   timestamptz NOT NULL
    )
    """,
    "CREATE INDEX idx_admin_audit_target ON admin_audit_log (target_type, target_id)",
    """
    CREATE TABLE job_runs (
        id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        job_name     text NOT NULL,
        started_at   timestamptz NOT NULL,
        finished_at  timestamptz,
        status       text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        message      text
    )
    """,
    "CREATE INDEX idx_job_runs_name ON job_runs (job_name, id)",

    # Triggers. A refusal raises check_violation (SQLSTATE 23514), an integrity
    # error like SQLite's RAISE(ABORT), with the same message.
    """
    CREATE FUNCTION bookings_before_update_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT ((OLD.status = 'pending'  AND NEW.status IN ('approved', 'declined', 'cancelled'))
             OR (OLD.status = 'approved' AND NEW.status IN ('completed', 'cancelled'))) THEN
            RAISE EXCEPTION 'booking status transition not allowed' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER bookings_before_update_transition
    BEFORE UPDATE OF status ON bookings
    FOR EACH ROW WHEN (OLD.status <> NEW.status)
    EXECUTE FUNCTION bookings_before_update_transition()
    """,
    # Status history and notifications are written by the database itself, whoever
    # writes the booking (SECURITY DEFINER: they write to tables the caller may not see).
    """
    CREATE FUNCTION bookings_after_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public AS $$
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason, created_at)
        VALUES (NEW.id, NULL, NEW.status, NEW.status_changed_by, NEW.status_reason, NEW.created_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_created', 'Booking request received',
                'Your booking ' || NEW.booking_reference || ' is waiting for the hospital''s decision.',
                NEW.created_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        SELECT u.id, NEW.id, 'booking_request', 'New booking request',
               'Booking ' || NEW.booking_reference || ' (' || NEW.resource_type || ', '
               || NEW.urgency || ' urgency) is waiting for review.',
               NEW.created_at
        FROM users AS u
        WHERE u.hospital_id = NEW.hospital_id AND u.role = 'hospital-authority' AND u.status = 'active'
        ORDER BY u.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER bookings_after_insert
    AFTER INSERT ON bookings
    FOR EACH ROW EXECUTE FUNCTION bookings_after_insert()
    """,
    """
    CREATE FUNCTION bookings_after_update_status() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public AS $$
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason, created_at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by, NEW.status_reason, NEW.updated_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_' || NEW.status,
                'Booking ' || NEW.status,
                'Your booking ' || NEW.booking_reference || ' is now ' || NEW.status
                || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
                        THEN ': ' || NEW.status_reason ELSE '.' END,
                NEW.updated_at);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER bookings_after_update_status
    AFTER UPDATE OF status ON bookings
    FOR EACH ROW WHEN (OLD.status <> NEW.status)
    EXECUTE FUNCTION bookings_after_update_status()
    """,
    """
    CREATE FUNCTION transactions_before_update_status() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT ((OLD.status = 'pending'    AND NEW.status IN ('processing', 'completed', 'failed'))
             OR (OLD.status = 'processing' AND NEW.status IN ('completed', 'failed'))
             OR (OLD.status = 'completed'  AND NEW.status IN ('partially_refunded', 'refunded'))
             OR (OLD.status = 'partially_refunded' AND NEW.status = 'refunded')) THEN
            RAISE EXCEPTION 'payment status transition not allowed' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER transactions_before_update_status
    BEFORE UPDATE OF status ON transactions
    FOR EACH ROW WHEN (OLD.status <> NEW.status)
    EXECUTE FUNCTION transactions_before_update_status()
    """,
    # Append-only tables: one function, the table's name in its message.
    """
    CREATE FUNCTION refuse_change_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'check_violation';
    END $$
    """,
]
for _table in APPEND_ONLY_TABLES:
    POSTGRES += [
        f"""
        CREATE TRIGGER {_table}_append_only
        BEFORE UPDATE OR DELETE ON {_table}
        FOR EACH ROW EXECUTE FUNCTION refuse_change_append_only()
        """,
        # TRUNCATE skips row triggers; refuse it too.
        f"""
        CREATE TRIGGER {_table}_append_only_truncate
        BEFORE TRUNCATE ON {_table}
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_append_only()
        """,
    ]
