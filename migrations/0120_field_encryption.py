"""Personal fields encrypted at rest; a blind index for patient-name search (issue #18
items 1-3; README "Encryption at rest").

The application seals the personal fields of bookings and blood requests with
AES-256-GCM (app/crypto/fields.py) before they reach the database, so the columns
hold text like ``enc1:k1:…`` instead of the values their CHECKs constrained:

- The CHECKs on those columns (lengths, ``patient_age BETWEEN 0 AND 150``,
  ``patient_gender IN (…)``) are dropped; the request schemas and services already
  validate the same rules on the way in. ``bookings.patient_age`` becomes text.
  SQLite cannot drop a CHECK: each column is swapped for a plain TEXT one (add,
  copy, drop the old one, rename; its CHECK names only itself, so DROP COLUMN is
  allowed once the two status triggers that read ``authority_notes`` are dropped
  first; they are created again below). NOT NULL columns keep NOT NULL (with a
  DEFAULT '' that no INSERT of the service ever relies on: ADD COLUMN needs one).
- ``blood_requests.record_key``: a random id fixed at INSERT that binds each
  sealed value to its row (bookings use their immutable ``booking_reference``).
- ``booking_name_tokens``: the keyed blind index (HMAC-SHA256 of normalized name
  tokens) that replaces ``LIKE`` on the patient name.
- Copies of personal values elsewhere stop: the status history no longer copies
  the hospital's notes (they stay on the booking, sealed, and the history read
  shows them on the approval or decline that set them) and the patient's
  notification says that the hospital added notes instead of quoting them. Legacy
  copies are cleared here: history notes (already on the booking; the append-only
  trigger is lifted for this one statement), notes quoted in notifications, patient
  names in overstay notices, and the bodies of sent booking/blood mails (pending
  ones are blanked after sending, like mails that carry a token).

The migration has no key, so it seals nothing: legacy rows stay readable as
plaintext until ``flask keys reencrypt`` (README) seals them in batches and builds
their blind index. After upgrade + that step no personal field is in plaintext.
"""

BOOKING_REQUIRED = ("patient_name", "patient_age", "patient_gender", "medical_condition",
                    "emergency_contact_name", "emergency_contact_phone",
                    "emergency_contact_relationship")
BOOKING_OPTIONAL = ("notes", "authority_notes")
BLOOD_REQUIRED = ("patient_name", "contact_phone")
BLOOD_OPTIONAL = ("medical_condition", "notes")

_NOTES_QUOTED = " Notes from the hospital: "
_NOTES_ADDED = " The hospital added notes to the booking."
_PERSONAL_MAIL_KINDS = "'booking_approved', 'booking_declined', 'payment_receipt', 'refund', 'blood_match'"

_STAFF_CANCELLED_MESSAGE = """
    'Booking ' || NEW.booking_reference || ' (' || NEW.resource_type || ') was cancelled by the patient'
    || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
            THEN ': ' || NEW.status_reason ELSE '.' END
"""

_OVERSTAY_MESSAGE = """
    (SELECT 'Booking ' || b.booking_reference || ' (' || b.resource_type || ') ended at '
            || b.scheduled_end || ' and is not completed. Complete it, extend it, or mark '
            || 'the unit occupied.'
     FROM bookings AS b WHERE b.id = booking_notifications.booking_id)
"""


def _sqlite_swap(table, column, required):
    """Replace ``column`` by a plain TEXT column holding the same values."""
    kind = "TEXT NOT NULL DEFAULT ''" if required else "TEXT"
    return [
        f"ALTER TABLE {table} ADD COLUMN {column}_sealed {kind}",
        f"UPDATE {table} SET {column}_sealed = CAST({column} AS TEXT)",
        f"ALTER TABLE {table} DROP COLUMN {column}",
        f"ALTER TABLE {table} RENAME COLUMN {column}_sealed TO {column}",
    ]


def _postgres_unconstrain(table, column):
    return [f"ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_check"]


SQLITE_HISTORY_TRIGGER = """
    CREATE TRIGGER bookings_after_update_history
    AFTER UPDATE OF status ON bookings
    WHEN OLD.status <> NEW.status
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason,
                                            created_at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by, NEW.status_reason,
                NEW.updated_at);
    END
"""

SQLITE_NOTIFY_TRIGGER = f"""
    CREATE TRIGGER bookings_after_update_notify
    AFTER UPDATE OF status ON bookings
    WHEN OLD.status <> NEW.status
    BEGIN
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_' || NEW.status,
                'Booking ' || NEW.status,
                'Your booking ' || NEW.booking_reference || ' is now ' || NEW.status
                || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
                        THEN ': ' || NEW.status_reason ELSE '.' END
                || CASE WHEN NEW.authority_notes IS NOT OLD.authority_notes
                             AND NEW.authority_notes IS NOT NULL
                        THEN '{_NOTES_ADDED}' ELSE '' END,
                NEW.updated_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        SELECT u.id, NEW.id, 'booking_cancelled', 'Booking cancelled by the patient',
               {_STAFF_CANCELLED_MESSAGE},
               NEW.updated_at
        FROM users AS u
        WHERE NEW.status = 'cancelled' AND NEW.status_changed_by = NEW.user_id
          AND u.hospital_id = NEW.hospital_id AND u.role = 'hospital-authority'
          AND u.status = 'active';
    END
"""

SQLITE = [
    "DROP TRIGGER bookings_after_update_history",
    "DROP TRIGGER bookings_after_update_notify",
    *[s for c in BOOKING_REQUIRED for s in _sqlite_swap("bookings", c, True)],
    *[s for c in BOOKING_OPTIONAL for s in _sqlite_swap("bookings", c, False)],
    *[s for c in BLOOD_REQUIRED for s in _sqlite_swap("blood_requests", c, True)],
    *[s for c in BLOOD_OPTIONAL for s in _sqlite_swap("blood_requests", c, False)],
    SQLITE_HISTORY_TRIGGER,
    SQLITE_NOTIFY_TRIGGER,
    "ALTER TABLE blood_requests ADD COLUMN record_key TEXT",
    "UPDATE blood_requests SET record_key = lower(hex(randomblob(16)))",
    "CREATE UNIQUE INDEX idx_blood_requests_record_key ON blood_requests (record_key)",
    """
    CREATE TABLE booking_name_tokens (
        booking_id  INTEGER NOT NULL REFERENCES bookings (id),
        key_id      TEXT NOT NULL,   -- the ring key the HMAC key was derived from
        token_hmac  TEXT NOT NULL,   -- hex HMAC-SHA256 of one normalized name token
        PRIMARY KEY (booking_id, token_hmac)
    ) STRICT
    """,
    "CREATE INDEX idx_booking_name_tokens_hmac ON booking_name_tokens (token_hmac, booking_id)",
    # legacy copies of personal values
    "DROP TRIGGER booking_status_history_before_update_append_only",
    "UPDATE booking_status_history SET notes = NULL WHERE notes IS NOT NULL",
    """
    CREATE TRIGGER booking_status_history_before_update_append_only
    BEFORE UPDATE ON booking_status_history
    BEGIN
        SELECT RAISE(ABORT, 'booking_status_history is append-only');
    END
    """,
    f"""
    UPDATE booking_notifications
    SET message = substr(message, 1, instr(message, '{_NOTES_QUOTED}') - 1) || '{_NOTES_ADDED}'
    WHERE instr(message, '{_NOTES_QUOTED}') > 0
    """,
    f"UPDATE booking_notifications SET message = {_OVERSTAY_MESSAGE} WHERE type = 'booking_overstay'",
    f"UPDATE mail_outbox SET body = '' WHERE status = 'sent' AND kind IN ({_PERSONAL_MAIL_KINDS})",
    f"UPDATE mail_outbox SET carries_secret = 1 WHERE status <> 'sent' AND kind IN ({_PERSONAL_MAIL_KINDS})",
]

POSTGRES_HISTORY_AND_NOTIFY = f"""
    CREATE OR REPLACE FUNCTION bookings_after_update_status() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason,
                                            created_at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by, NEW.status_reason,
                NEW.updated_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_' || NEW.status,
                'Booking ' || NEW.status,
                'Your booking ' || NEW.booking_reference || ' is now ' || NEW.status
                || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
                        THEN ': ' || NEW.status_reason ELSE '.' END
                || CASE WHEN NEW.authority_notes IS DISTINCT FROM OLD.authority_notes
                             AND NEW.authority_notes IS NOT NULL
                        THEN '{_NOTES_ADDED}' ELSE '' END,
                NEW.updated_at);
        IF NEW.status = 'cancelled' AND NEW.status_changed_by = NEW.user_id THEN
            INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
            SELECT u.id, NEW.id, 'booking_cancelled', 'Booking cancelled by the patient',
                   {_STAFF_CANCELLED_MESSAGE},
                   NEW.updated_at
            FROM users AS u
            WHERE u.hospital_id = NEW.hospital_id AND u.role = 'hospital-authority'
              AND u.status = 'active'
            ORDER BY u.id;
        END IF;
        RETURN NULL;
    END $$
"""

POSTGRES = [
    *[s for c in BOOKING_REQUIRED + BOOKING_OPTIONAL for s in _postgres_unconstrain("bookings", c)],
    "ALTER TABLE bookings ALTER COLUMN patient_age TYPE text USING patient_age::text",
    *[s for c in BLOOD_REQUIRED + BLOOD_OPTIONAL for s in _postgres_unconstrain("blood_requests", c)],
    POSTGRES_HISTORY_AND_NOTIFY,
    "ALTER TABLE blood_requests ADD COLUMN record_key text",
    "UPDATE blood_requests SET record_key = gen_random_uuid()::text",
    "ALTER TABLE blood_requests ALTER COLUMN record_key SET NOT NULL",
    "CREATE UNIQUE INDEX idx_blood_requests_record_key ON blood_requests (record_key)",
    """
    CREATE TABLE booking_name_tokens (
        booking_id  bigint NOT NULL REFERENCES bookings (id),
        key_id      text NOT NULL,
        token_hmac  text NOT NULL,
        PRIMARY KEY (booking_id, token_hmac)
    )
    """,
    "CREATE INDEX idx_booking_name_tokens_hmac ON booking_name_tokens (token_hmac, booking_id)",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON booking_name_tokens TO rapidcare_service",
    # Tokens of a booking: for whoever may see the booking (its policy, read through
    # the subquery as the same actor), and written with it.
    "ALTER TABLE booking_name_tokens ENABLE ROW LEVEL SECURITY",
    """
    CREATE POLICY booking_name_tokens_actor ON booking_name_tokens
        USING (EXISTS (SELECT FROM bookings AS b WHERE b.id = booking_name_tokens.booking_id))
        WITH CHECK (EXISTS (SELECT FROM bookings AS b WHERE b.id = booking_name_tokens.booking_id))
    """,
    "ALTER TABLE booking_status_history DISABLE TRIGGER booking_status_history_append_only",
    "UPDATE booking_status_history SET notes = NULL WHERE notes IS NOT NULL",
    "ALTER TABLE booking_status_history ENABLE TRIGGER booking_status_history_append_only",
    f"""
    UPDATE booking_notifications
    SET message = substr(message, 1, strpos(message, '{_NOTES_QUOTED}') - 1) || '{_NOTES_ADDED}'
    WHERE strpos(message, '{_NOTES_QUOTED}') > 0
    """,
    f"UPDATE booking_notifications SET message = {_OVERSTAY_MESSAGE} WHERE type = 'booking_overstay'",
    f"UPDATE mail_outbox SET body = '' WHERE status = 'sent' AND kind IN ({_PERSONAL_MAIL_KINDS})",
    f"UPDATE mail_outbox SET carries_secret = TRUE WHERE status <> 'sent' AND kind IN ({_PERSONAL_MAIL_KINDS})",
]

# No undo. Below this migration the columns carry CHECKs (lengths, patient_age a number
# between 0 and 150, patient_gender one of three words) that sealed values cannot meet, and
# the legacy copies cleared above are gone: a downgrade would need every value decrypted
# first, which the database alone cannot do. `flask db downgrade` refuses to go below it.
IRREVERSIBLE = ("personal fields are sealed with keys the database does not hold, and the "
                "CHECKs below this migration cannot hold for sealed values")
