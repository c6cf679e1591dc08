"""A booking read finds its payment through an index, never by reading every payment."""
from app.bookings.queries import BOOKING_SELECT


def test_a_booking_read_finds_its_payment_through_the_index_not_a_scan(db, make):
    """BOOKING_SELECT's payment join states the partial index's terms word for word, as
    SQLite needs to use it: at 1M bookings the scan cost 0.3 s a read (RESULTS.md §0f)."""
    booking = make.booking(make.user(), make.hospital(resources={"beds": 1}))
    if db.dialect == "sqlite":
        plan = " / ".join(row["detail"] for row in db.execute(
            f"EXPLAIN QUERY PLAN {BOOKING_SELECT} WHERE b.id = ?", (booking["id"],)))
        assert "SCAN p" not in plan, plan
    else:  # a planner facing a tiny table prefers a scan: can it use an index at all?
        db.execute("SET enable_seqscan = off")
        try:
            plan = " / ".join(row["QUERY PLAN"] for row in db.execute(
                f"EXPLAIN {BOOKING_SELECT} WHERE b.id = ?", (booking["id"],)))
        finally:
            db.execute("RESET enable_seqscan")
        assert "Seq Scan on transactions" not in plan, plan
    assert "idx_transactions_one_live_per_booking" in plan, plan
