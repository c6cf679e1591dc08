"""Scheduled capacity: a booking holds its unit only for its own window (issue #15).

- bookings.scheduled_end: scheduled_date + estimated_duration_hours, computed by the
  service (app.bookings.service) and stored, so a window is compared, never
  computed, in SQL. Backfilled here for every existing booking.
- bookings.overstay_notified_at: when the overstay job told the hospital's
  authorities that this approved booking's window ended without completion (once).
- idx_bookings_holds: the approved bookings of a (hospital, type) by window end,
  so the busiest instant of a window reads only the holds that reach into it,
  never the hospital's whole history.
- hospital_resources' counters now record only what the hospital marks by hand
  (walk-ins, reservations, maintenance): approval no longer moves them. Until
  now ``occupied`` also counted the units approved bookings held; those units are
  taken out of it here (never below 0: where an authority re-counted occupancy by
  hand below what the bookings held, nothing more is taken), and ``available``
  grows by as much, so the counters still add up to ``total``. The live
  counters (app.resources.queries.LIVE_COUNTERS) add the holds whose window
  contains now back in.
"""

SQLITE = [
    """
    ALTER TABLE bookings ADD COLUMN scheduled_end TEXT
        CHECK (scheduled_end IS NULL OR scheduled_end > scheduled_date)
    """,
    # whole hours added to the seconds part; the fraction and the +00:00 offset
    # (characters 20 on of every stored time) are kept as they were
    "ALTER TABLE bookings ADD COLUMN overstay_notified_at TEXT",
    """
    UPDATE bookings
    SET scheduled_end = strftime('%Y-%m-%dT%H:%M:%S', scheduled_date,
                                 '+' || estimated_duration_hours || ' hours')
                        || substr(scheduled_date, 20)
    """,
    """
    CREATE INDEX idx_bookings_holds
        ON bookings (hospital_id, resource_type, scheduled_end, scheduled_date)
        WHERE status = 'approved'
    """,
    """
    UPDATE hospital_resources
    SET occupied = occupied - min(occupied, h.held),
        available = available + min(occupied, h.held)
    FROM (SELECT hospital_id, resource_type, sum(allocated_units) AS held
          FROM bookings WHERE status = 'approved'
          GROUP BY hospital_id, resource_type) AS h
    WHERE h.hospital_id = hospital_resources.hospital_id
      AND h.resource_type = hospital_resources.resource_type
    """,
]

POSTGRES = [
    """
    ALTER TABLE bookings ADD COLUMN scheduled_end timestamptz,
        ADD COLUMN overstay_notified_at timestamptz,
        ADD CHECK (scheduled_end IS NULL OR scheduled_end > scheduled_date)
    """,
    """
    UPDATE bookings
    SET scheduled_end = scheduled_date + make_interval(hours => estimated_duration_hours)
    """,
    """
    CREATE INDEX idx_bookings_holds
        ON bookings (hospital_id, resource_type, scheduled_end, scheduled_date)
        WHERE status = 'approved'
    """,
    """
    UPDATE hospital_resources
    SET occupied = occupied - least(occupied, h.held),
        available = available + least(occupied, h.held)
    FROM (SELECT hospital_id, resource_type, sum(allocated_units) AS held
          FROM bookings WHERE status = 'approved'
          GROUP BY hospital_id, resource_type) AS h
    WHERE h.hospital_id = hospital_resources.hospital_id
      AND h.resource_type = hospital_resources.resource_type
    """,
]

# Undo (`flask db downgrade`): the counters count approved bookings' units in
# ``occupied`` again, as they did before: the units approved bookings hold go back
# from ``available`` into ``occupied`` (never more than is available, so the counters
# still add up to ``total``; the forward step's clipping cannot be known afterwards,
# so a hand count below the holds comes back as the holds, within total). Then the
# index and the two columns go (the CHECK on scheduled_end with them).
SQLITE_DOWN = [
    """
    UPDATE hospital_resources
    SET occupied = occupied + min(available, h.held),
        available = available - min(available, h.held)
    FROM (SELECT hospital_id, resource_type, sum(allocated_units) AS held
          FROM bookings WHERE status = 'approved'
          GROUP BY hospital_id, resource_type) AS h
    WHERE h.hospital_id = hospital_resources.hospital_id
      AND h.resource_type = hospital_resources.resource_type
    """,
    "DROP INDEX idx_bookings_holds",
    "ALTER TABLE bookings DROP COLUMN overstay_notified_at",
    "ALTER TABLE bookings DROP COLUMN scheduled_end",
]

POSTGRES_DOWN = [
    """
    UPDATE hospital_resources
    SET occupied = occupied + least(available, h.held),
        available = available - least(available, h.held)
    FROM (SELECT hospital_id, resource_type, sum(allocated_units) AS held
          FROM bookings WHERE status = 'approved'
          GROUP BY hospital_id, resource_type) AS h
    WHERE h.hospital_id = hospital_resources.hospital_id
      AND h.resource_type = hospital_resources.resource_type
    """,
    "DROP INDEX idx_bookings_holds",
    """
    ALTER TABLE bookings
        DROP COLUMN overstay_notified_at,
        DROP COLUMN scheduled_end
    """,
]
