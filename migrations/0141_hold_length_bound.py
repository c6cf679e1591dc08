"""A booking's window ends at most 168 hours after it starts, in the database too.

estimated_duration_hours is 1-168 by CHECK since 0001, and the service writes
scheduled_end = scheduled_date + that many hours; nothing in the schema tied the
two. The capacity reads (app/resources/queries.py) now stop their range over
idx_bookings_holds at the window's end + 168 hours: a hold that starts before the
window ends cannot end later than that. So a longer window must not exist:

- PostgreSQL: a CHECK on scheduled_end.
- SQLite: triggers on INSERT and on UPDATE of the two columns. SQLite cannot add a
  CHECK to an existing table; julianday() reads the stored ISO-8601 texts whatever
  their offset. The allowance of one second covers julianday's floating point.
"""

_SQLITE_REFUSE = """
    WHEN NEW.scheduled_end IS NOT NULL
     AND julianday(NEW.scheduled_end) - julianday(NEW.scheduled_date) > (168 * 3600 + 1) / 86400.0
    BEGIN
        SELECT RAISE(ABORT, 'a booking window lasts at most 168 hours');
    END
"""

SQLITE = [
    f"CREATE TRIGGER bookings_before_insert_window_bound BEFORE INSERT ON bookings {_SQLITE_REFUSE}",
    "CREATE TRIGGER bookings_before_update_window_bound "
    f"BEFORE UPDATE OF scheduled_date, scheduled_end ON bookings {_SQLITE_REFUSE}",
]

SQLITE_DOWN = [
    "DROP TRIGGER bookings_before_update_window_bound",
    "DROP TRIGGER bookings_before_insert_window_bound",
]

POSTGRES = [
    """
    ALTER TABLE bookings ADD CONSTRAINT bookings_window_at_most_168_hours
        CHECK (scheduled_end <= scheduled_date + interval '168 hours')
    """,
]

POSTGRES_DOWN = [
    "ALTER TABLE bookings DROP CONSTRAINT bookings_window_at_most_168_hours",
]
