"""Re-encrypt every personal field under the current key, online, in small batches
(``flask keys reencrypt`` and ``flask keys rotate``; README "Encryption at rest").

Each batch is its own short transaction: it reads BATCH_SIZE rows after the last id
done (locked: SQLite's BEGIN IMMEDIATE, PostgreSQL's FOR UPDATE), re-seals those not
wholly under the current key (legacy plaintext included) and, for bookings, rebuilds
their blind-index tokens under the current key. A service write to the same row
either commits before the batch reads it (and is re-sealed from what it wrote) or
waits for the batch and then writes over it: nothing is lost. Rows already under
the current key are skipped, so running it again continues where it stopped.
"""
import logging
from dataclasses import dataclass, field

from app.bookings import queries as booking_queries
from app.crypto import fields, sealed_rows
from app.db import transaction
from app.db.retry import run_again_after_conflicts

log = logging.getLogger(__name__)

BATCH_SIZE = 200
TABLES = tuple(fields.FIELDS)  # bookings, blood_requests, blood_donor_matches


@dataclass
class Report:
    resealed: dict = field(default_factory=dict)     # table -> rows re-sealed
    unreadable: dict = field(default_factory=dict)   # table -> ids that would not open


def _needs_work(row, table, current):
    """A row needs re-sealing if a sealed column is not under the current key, or if
    it still has fields in their own columns from before its table's envelope."""
    return (any(row[c] is not None and fields.key_id_of(row[c]) != current
                for c in fields.sealed_columns(table))
            or any(row[c] is not None for c in fields.legacy_columns(table)))


def _batch(conn, table, after_id, batch_size, report):
    """One transaction: the next batch re-sealed. Returns (last id seen, rows seen);
    (None, 0) when there are no more."""
    row_key_column = fields.ROW_KEY[table]
    current = fields.ring().current
    with transaction(conn):
        rows = sealed_rows.sealed_batch(conn, table, after_id, batch_size)
        for row in rows:
            if not _needs_work(row, table, current):
                continue
            row_key = row[row_key_column]
            try:
                opened = fields.open_row(table, row, strict=True)
            except fields.FieldIntegrityError as error:
                log.error("integrity: %s row %s cannot be re-encrypted: %s", table, row["id"], error)
                report.unreadable.setdefault(table, []).append(row["id"])
                continue
            plain = {c: opened.get(c) for c in fields.FIELDS[table]}
            sealed = fields.seal_row(table, plain, row_key)
            sealed_rows.store_sealed(conn, table, row["id"],
                                     {c: sealed.get(c) for c in sealed_rows.columns(table)})
            if table == "bookings":
                booking_queries.delete_name_tokens(conn, row["id"])
                booking_queries.insert_name_tokens(conn, row["id"], plain["patient_name"])
            report.resealed[table] = report.resealed.get(table, 0) + 1
    return (rows[-1]["id"], len(rows)) if rows else (None, 0)


def reencrypt(conn, *, batch_size=BATCH_SIZE, progress=lambda table, rows: None,
              between_batches=lambda: None, attempts=20):
    """Every table's rows under the current key. ``progress(table, rows_scanned)`` after
    each batch; ``between_batches()`` lets a test write between two batches."""
    if not fields.ring().enabled:
        raise RuntimeError("ENCRYPT_FIELDS is false: nothing would be sealed")
    report = Report()
    for table in TABLES:
        after_id = 0
        while True:
            def run(after=after_id):
                return _batch(conn, table, after, batch_size, report)
            last, seen = (run_again_after_conflicts(run, attempts, what="re-encryption batch")
                          if conn.dialect == "postgres" else run())
            if last is None:
                break
            progress(table, seen)
            after_id = last
            between_batches()
    return report


def status(conn):
    """{table: {key id or 'plaintext': rows}} plus the blind index's bookings per key."""
    return {
        **{table: sealed_rows.rows_per_key(conn, table) for table in TABLES},
        "booking_name_tokens": booking_queries.name_tokens_per_key(conn),
    }

