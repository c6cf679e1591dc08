"""Writing off what a completed booking still owes (issue #16 item 8).

Only an approved booking can be paid, so a booking completed while its payment
was due owes its amount for ever; reconciliation reports it ('completed_unpaid').
Its hospital's staff or an admin close the books by writing the due off with a
reason: the booking's paymentStatus becomes ``written_off``, its open payment due
(a 'pending' transaction) is failed so it can never be taken later, the
reconciliation finding is resolved and the admin audit log records who, how much,
why and from where. No money moves: no ledger, balance or earnings row is written.

Idempotent under an Idempotency-Key like the other money operations. The write-off
row names the claim it was made under, so a retry that takes over a dead request's
claim answers from the write-off instead of refusing it as already written off.
"""
from app.admin.queries import insert_audit_entry
from app.auth.policy import can_write_off_payment
from app.bookings.queries import get_booking
from app.db import transaction
from app.errors import Conflict, NotFound
from app.payments import queries
from app.reconciliation import queries as reconciliation_queries
from app.reconciliation.service import COMPLETED_UNPAID
from app.timeutil import to_iso


def write_off(conn, *, actor, booking_id, reason, now, claim=None, ip_address=None):
    """POST /api/bookings/{id}/write-off. Returns (write-off row, booking).

    :raise 404: no such booking, or not of the caller's hospital.
    :raise 409: not completed, nothing owed (paid, refunded, free), already written
                off, or a gateway payment still in progress.
    """
    with transaction(conn):
        if claim is not None:
            done = queries.get_write_off_made_under(conn, booking_id, claim)
            if done is not None:
                return done, get_booking(conn, booking_id)
        booking = get_booking(conn, booking_id)
        if booking is None or not can_write_off_payment(actor, booking):
            raise NotFound("Booking not found.")
        if booking["payment_status"] == "written_off":
            raise Conflict("This booking's payment due is already written off.")
        if booking["status"] != "completed":
            raise Conflict("Only a completed booking's unpaid due can be written off.")
        if booking["payment_status"] != "unpaid":
            raise Conflict(f"Nothing is owed on this booking (payment: "
                           f"{booking['payment_status']}).")
        live = queries.get_live_booking_payment(conn, booking_id)
        if live is not None and live["status"] == "processing":
            raise Conflict("A gateway payment for this booking is in progress; wait for its "
                           "outcome.")
        if live is not None:
            queries.fail_transaction(conn, live["id"], reason=f"Written off: {reason}",
                                     gateway_status=None, now=to_iso(now))
        row = queries.insert_write_off(
            conn, booking_id=booking_id, hospital_id=booking["hospital_id"],
            user_id=booking["user_id"], amount_minor=booking["amount_minor"],
            currency=booking["currency"], reason=reason, written_off_by=actor.id,
            idempotency_claim_id=claim, now=to_iso(now),
        )
        insert_audit_entry(
            conn, actor_id=actor.id, action="payment.write_off", target_type="booking",
            target_id=booking_id, ip_address=ip_address, now=to_iso(now),
            details={"write_off_id": row["id"], "amount_minor": row["amount_minor"],
                     "currency": row["currency"], "reason": reason,
                     "transaction_id": live["id"] if live is not None else None},
        )
        reconciliation_queries.resolve_open_finding(
            conn, kind=COMPLETED_UNPAID, entity_type="booking", entity_id=booking_id,
            resolved_by=actor.id, notes=f"Written off: {reason}", now=to_iso(now),
        )
    return row, get_booking(conn, booking_id)
