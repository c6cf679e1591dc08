"""Authority notes on bookings (issue #16): what the hospital tells the patient when
it approves or declines ("bring your reports, admission at 9").

- ``bookings.authority_notes``: the latest notes, shown on the booking.
- ``booking_status_history.notes``: the notes given with that transition.

The status triggers carry them: the history row of a transition gets the notes when
that transition changed them (so a later completion does not repeat the approval's
notes), and the patient's notification quotes them. SQLite: the two triggers are
dropped and created again; PostgreSQL: the one trigger function is replaced.
"""

SQLITE = [
    """
    ALTER TABLE bookings ADD COLUMN authority_notes TEXT
        CHECK (authority_notes IS NULL OR length(authority_notes) <= 2000)
    """,
    "ALTER TABLE booking_status_history ADD COLUMN notes TEXT",
    "DROP TRIGGER bookings_after_update_history",
    """
    CREATE TRIGGER bookings_after_update_history
    AFTER UPDATE OF status ON bookings
    WHEN OLD.status <> NEW.status
    BEGIN
        INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_by, reason,
                                            notes, created_at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_changed_by, NEW.status_reason,
                CASE WHEN NEW.authority_notes IS NOT OLD.authority_notes
                     THEN NEW.authority_notes END,
                NEW.updated_at);
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

POSTGRES = [
    """
    ALTER TABLE bookings ADD COLUMN authority_notes text
        CHECK (authority_notes IS NULL OR length(authority_notes) <= 2000)
    """,
    "ALTER TABLE booking_status_history ADD COLUMN notes text",
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

# Undo (`flask db downgrade`): the status triggers as migration 0001 wrote them, then
# the two columns go (SQLite drops a column only when no trigger names it), and with
# them the notes given so far.
SQLITE_DOWN = [
    "DROP TRIGGER bookings_after_update_notify",
    "DROP TRIGGER bookings_after_update_history",
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
    "ALTER TABLE booking_status_history DROP COLUMN notes",
    "ALTER TABLE bookings DROP COLUMN authority_notes",
]

POSTGRES_DOWN = [
    """
    CREATE OR REPLACE FUNCTION bookings_after_update_status() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
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
    "ALTER TABLE booking_status_history DROP COLUMN notes",
    "ALTER TABLE bookings DROP COLUMN authority_notes",
]
