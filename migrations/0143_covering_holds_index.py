"""The holds index covers what capacity reads of a hold, so they never read the booking row.

Every capacity read (the live counters' units held now, a window's busiest instant,
the holds an approval or extension must fit beside) reads a range of
idx_bookings_holds and, for each hold in it, ``allocated_units``. The index did not
hold that column, so each hold cost a read of its booking's row: at 1M bookings,
60-120 rows scattered over the table for one window. With it in the index those
reads are index-only (SQLite: "USING COVERING INDEX"; PostgreSQL: an index-only scan
where the visibility map allows): at 1M bookings a window's busiest instant took 29
µs instead of 59, the units held now 17 µs instead of 29 (benchmarks/RESULTS.md §0i2).

SQLite indexes have no INCLUDE, so the column is a key column after those searched
on, and so is ``status``: SQLite (3.40 here) does not count the column of a partial
index's WHERE as covered, so without it every read still went to the table.
PostgreSQL INCLUDEs ``allocated_units`` and needs nothing more.
"""

_OLD = """
    CREATE INDEX idx_bookings_holds
        ON bookings (hospital_id, resource_type, scheduled_end, scheduled_date)
        WHERE status = 'approved'
"""

SQLITE = [
    "DROP INDEX idx_bookings_holds",
    """
    CREATE INDEX idx_bookings_holds
        ON bookings (hospital_id, resource_type, scheduled_end, scheduled_date, allocated_units,
                     status)
        WHERE status = 'approved'
    """,
]

POSTGRES = [
    "DROP INDEX idx_bookings_holds",
    """
    CREATE INDEX idx_bookings_holds
        ON bookings (hospital_id, resource_type, scheduled_end, scheduled_date)
        INCLUDE (allocated_units)
        WHERE status = 'approved'
    """,
]

SQLITE_DOWN = ["DROP INDEX idx_bookings_holds", _OLD]
POSTGRES_DOWN = ["DROP INDEX idx_bookings_holds", _OLD]
