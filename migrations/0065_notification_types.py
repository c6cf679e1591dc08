"""Notification types as the platform names them, constrained; staff told of a patient's
cancellation (issue #16).

- The patient's notice of a new booking is ``booking_submitted`` (it was
  ``booking_created``; existing rows are renamed).
- ``booking_notifications.type`` is one of TYPES. PostgreSQL: a CHECK constraint.
  SQLite cannot add a CHECK to an existing table: two triggers refuse any other type
  on insert and on update, with the same message.
- When the patient cancels (the status change is theirs), every active authority of
  the hospital gets a ``booking_cancelled`` notice too.

SQLite's two booking notification triggers are dropped and created again (the update
one as migration 0062 left it, plus the staff's notice); PostgreSQL's two trigger
functions are replaced.
"""

TYPES = (
    "booking_submitted", "booking_request", "booking_approved", "booking_declined",
    "booking_cancelled", "booking_completed", "booking_overstay",
    "payment_completed", "payment_received",
    "blood_request_fulfilled", "blood_request_cancelled", "blood_request_expired", "blood_match",
)
_TYPE_LIST = ", ".join(f"'{t}'" for t in TYPES)

_STAFF_CANCELLED_MESSAGE = """
    'Booking ' || NEW.booking_reference || ' (' || NEW.resource_type || ') was cancelled by the patient'
    || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
            THEN ': ' || NEW.status_reason ELSE '.' END
"""

SQLITE = [
    "UPDATE booking_notifications SET type = 'booking_submitted' WHERE type = 'booking_created'",
    f"""
    CREATE TRIGGER booking_notifications_before_insert_type
    BEFORE INSERT ON booking_notifications
    WHEN NEW.type NOT IN ({_TYPE_LIST})
    BEGIN
        SELECT RAISE(ABORT, 'notification type not allowed');
    END
    """,
    f"""
    CREATE TRIGGER booking_notifications_before_update_type
    BEFORE UPDATE OF type ON booking_notifications
    WHEN NEW.type NOT IN ({_TYPE_LIST})
    BEGIN
        SELECT RAISE(ABORT, 'notification type not allowed');
    END
    """,
    "DROP TRIGGER bookings_after_insert_notify",
    """
    CREATE TRIGGER bookings_after_insert_notify
    AFTER INSERT ON bookings
    BEGIN
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_submitted', 'Booking request received',
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
    "DROP TRIGGER bookings_after_update_notify",
    f"""
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
                        THEN ' Notes from the hospital: ' || NEW.authority_notes ELSE '' END,
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
    """,
]

POSTGRES = [
    "UPDATE booking_notifications SET type = 'booking_submitted' WHERE type = 'booking_created'",
    f"""
    ALTER TABLE booking_notifications
        ADD CONSTRAINT booking_notifications_type_check CHECK (type IN ({_TYPE_LIST}))
    """,
    """
    CREATE OR REPLACE FUNCTION bookings_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason, created_at)
        VALUES (NEW.id, NULL, NEW.status, NEW.status_changed_by, NEW.status_reason, NEW.created_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_submitted', 'Booking request received',
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
    f"""
    CREATE OR REPLACE FUNCTION bookings_after_update_status() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason,
                                            notes, created_at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by, NEW.status_reason,
                CASE WHEN NEW.authority_notes IS DISTINCT FROM OLD.authority_notes
                     THEN NEW.authority_notes END,
                NEW.updated_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_' || NEW.status,
                'Booking ' || NEW.status,
                'Your booking ' || NEW.booking_reference || ' is now ' || NEW.status
                || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
                        THEN ': ' || NEW.status_reason ELSE '.' END
                || CASE WHEN NEW.authority_notes IS DISTINCT FROM OLD.authority_notes
                             AND NEW.authority_notes IS NOT NULL
                        THEN ' Notes from the hospital: ' || NEW.authority_notes ELSE '' END,
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
    """,
]

# Undo (`flask db downgrade`): any type is accepted again, the patient's notice of a new
# booking is ``booking_created`` again (existing rows renamed back), and a patient's
# cancellation no longer notifies the staff (notices sent so far stay). The triggers
# (SQLite) and functions (PostgreSQL) as migrations 0001 and 0062 left them.
SQLITE_DOWN = [
    "DROP TRIGGER booking_notifications_before_update_type",
    "DROP TRIGGER booking_notifications_before_insert_type",
    "UPDATE booking_notifications SET type = 'booking_created' WHERE type = 'booking_submitted'",
    "DROP TRIGGER bookings_after_insert_notify",
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
    "DROP TRIGGER bookings_after_update_notify",
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
                        THEN ': ' || NEW.status_reason ELSE '.' END
                || CASE WHEN NEW.authority_notes IS NOT OLD.authority_notes
                             AND NEW.authority_notes IS NOT NULL
                        THEN ' Notes from the hospital: ' || NEW.authority_notes ELSE '' END,
                NEW.updated_at);
    END
    """,
]

POSTGRES_DOWN = [
    "ALTER TABLE booking_notifications DROP CONSTRAINT booking_notifications_type_check",
    "UPDATE booking_notifications SET type = 'booking_created' WHERE type = 'booking_submitted'",
    """
    CREATE OR REPLACE FUNCTION bookings_after_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
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
    CREATE OR REPLACE FUNCTION bookings_after_update_status() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason,
                                            notes, created_at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by, NEW.status_reason,
                CASE WHEN NEW.authority_notes IS DISTINCT FROM OLD.authority_notes
                     THEN NEW.authority_notes END,
                NEW.updated_at);
        INSERT INTO booking_notifications (user_id, booking_id, type, title, message, created_at)
        VALUES (NEW.user_id, NEW.id, 'booking_' || NEW.status,
                'Booking ' || NEW.status,
                'Your booking ' || NEW.booking_reference || ' is now ' || NEW.status
                || CASE WHEN NEW.status_reason IS NOT NULL AND NEW.status_reason <> ''
                        THEN ': ' || NEW.status_reason ELSE '.' END
                || CASE WHEN NEW.authority_notes IS DISTINCT FROM OLD.authority_notes
                             AND NEW.authority_notes IS NOT NULL
                        THEN ' Notes from the hospital: ' || NEW.authority_notes ELSE '' END,
                NEW.updated_at);
        RETURN NULL;
    END $$
    """,
]
