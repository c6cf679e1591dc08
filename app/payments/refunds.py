"""Refunds of booking payments: asked for by the hospital (or an admin), or granted
by the hospital's policy when a booking is cancelled.

A refund is reserved against the amount paid and the earnings reversed in the
caller's transaction; a wallet refund is credited at once, a gateway refund is
recorded 'pending' and sent to the gateway after commit (never under the write lock).
"""
import logging

from app.admin.queries import insert_audit_entry
from app.auth.policy import can_refund_payment
from app.bookings.queries import get_booking
from app.db import transaction
from app.errors import Conflict, NotFound
from app.mail import notices
from app.money import format_minor
from app.payments import queries
from app.payments.idempotency import record_effect, recorded_effect
from app.payments.sslcommerz import GatewayNotConfigured, GatewayRefused, GatewayUnavailable
from app.pricing.queries import get_payment_policy
from app.pricing.rules import refund_for_cancellation
from app.timeutil import from_iso, to_iso
from app.wallet.ledger import post_credit

log = logging.getLogger(__name__)


def prorate(part_minor, numerator, denominator):
    """part × numerator / denominator, rounded half up (all non-negative integers)."""
    return (2 * part_minor * numerator + denominator) // (2 * denominator)


def record_refund(conn, tx, *, amount_minor, reason, requested_by, now):
    """Inside the caller's transaction: reserve the refund against the amount paid
    (one guarded UPDATE), reverse the earnings proportionally (exactly), and pay a
    wallet refund at once. A gateway refund is left 'pending' for ``send_gateway_refund``.
    """
    if tx["kind"] != "booking_payment":
        raise Conflict("Only booking payments can be refunded.")
    if tx["status"] == "refunded":
        raise Conflict("The payment is already fully refunded.",
                       extra={"refundable": format_minor(0), "currency": tx["currency"]})
    if tx["status"] not in ("completed", "partially_refunded"):
        raise Conflict("Only a completed payment can be refunded.")
    updated = queries.add_refunded(conn, tx["id"], amount_minor, to_iso(now))
    if updated is None:
        current = queries.get_transaction(conn, tx["id"])
        refundable = max(0, current["amount_minor"] - current["refunded_minor"])
        raise Conflict(
            "The refund exceeds what is left to refund.",
            extra={"refundable": format_minor(refundable), "currency": current["currency"]},
        )
    refunded_after = updated["refunded_minor"]
    refunded_before = refunded_after - amount_minor
    fee_total, paid = updated["platform_fee_minor"], updated["amount_minor"]
    # Cumulative rounding: once fully refunded the reversals sum to the split exactly.
    fee_part = prorate(fee_total, refunded_after, paid) - prorate(fee_total, refunded_before, paid)
    share_part = amount_minor - fee_part
    queries.insert_earnings(
        conn, hospital_id=tx["hospital_id"], transaction_id=tx["id"], share_minor=-share_part,
        fee_minor=-fee_part, description=f"Refund: {reason}", now=to_iso(now),
    )
    if tx["method"] == "wallet":
        refund = queries.insert_refund(
            conn, transaction_id=tx["id"], amount_minor=amount_minor, reason=reason,
            method="wallet", status="completed", requested_by=requested_by, now=to_iso(now),
            completed_at=to_iso(now),
        )
        post_credit(
            conn, user_id=tx["user_id"], amount_minor=amount_minor, type="refund",
            description=f"Refund: {reason}", created_by=requested_by, now=now,
            currency=tx["currency"], transaction_id=tx["id"],
        )
    else:
        refund = queries.insert_refund(
            conn, transaction_id=tx["id"], amount_minor=amount_minor, reason=reason,
            method="sslcommerz", status="pending", requested_by=requested_by, now=to_iso(now),
        )
    notices.refund_issued(conn, tx, refund, now=now)
    return refund


def send_gateway_refund(conn, refund_id, *, now, gateway):
    """Call the gateway refund API for a 'pending' refund (outside any transaction).

    Accepted -> 'processing' with the gateway's refund reference (reconciliation
    later confirms it); refused -> 'failed' (reconciliation reports it: the
    customer is owed the money); no answer -> stays 'pending'. Only the request
    that takes over a dead one's Idempotency-Key claim sends it again, and under
    the same reference (refe_id = RF<refund id>): the same refund to the gateway,
    never a second one.
    """
    refund = queries.get_refund(conn, refund_id)
    if refund is None or refund["status"] != "pending":
        return refund
    tx = queries.get_transaction(conn, refund["transaction_id"])
    try:
        result = gateway.refund(
            bank_tran_id=tx["gateway_bank_tran_id"] or "", amount_minor=refund["amount_minor"],
            remarks=refund["reason"], refe_id=f"RF{refund['id']}",
        )
    except (GatewayRefused, GatewayNotConfigured) as error:
        log.warning("gateway refused refund %s: %s", refund_id, error)
        status, reference = "failed", None
    except GatewayUnavailable:
        log.warning("gateway refund %s: outcome unknown, left pending", refund_id)
        return refund
    else:
        status, reference = "processing", result["refund_ref_id"]
    with transaction(conn):
        updated = queries.update_refund(conn, refund_id, from_statuses=("pending",),
                                        status=status, gateway_refund_ref=reference,
                                        now=to_iso(now))
    return updated or queries.get_refund(conn, refund_id)


def refund_payment(conn, *, actor, transaction_id, amount_minor, reason, now, gateway,
                   claim=None, ip_address=None):
    """POST /api/payments/{id}/refund. Returns (refund, transaction). Audited
    (``payment.refund``: who, amount, reason, IP) in the refund's transaction.

    Under a claim whose refund already committed (the first request died), the
    refund is not recorded again: it is answered from, and a gateway refund still
    'pending' is sent again under its own reference.

    :raise 404: no such payment, or not of the caller's hospital.
    :raise 409: not a completed booking payment, or more than is left to refund.
    """
    # Refunds of one payment update its row one after the other: they queue.
    with queries.refund_lock(conn, transaction_id), transaction(conn):
        recorded = recorded_effect(conn, claim, "refund")
        if recorded is not None:
            refund = queries.get_refund(conn, recorded)
        else:
            tx = queries.get_transaction(conn, transaction_id)
            if tx is None or not can_refund_payment(actor, tx):
                raise NotFound("Payment not found.")
            refund = record_refund(conn, tx, amount_minor=amount_minor, reason=reason,
                                   requested_by=actor.id, now=now)
            insert_audit_entry(
                conn, actor_id=actor.id, action="payment.refund", target_type="transaction",
                target_id=transaction_id, ip_address=ip_address, now=to_iso(now),
                details={"refund_id": refund["id"], "booking_id": tx["booking_id"],
                         "amount_minor": amount_minor, "currency": tx["currency"],
                         "method": refund["method"], "reason": reason},
            )
            record_effect(conn, claim, "refund", refund["id"])
    if refund["method"] == "sslcommerz":
        refund = send_gateway_refund(conn, refund["id"], now=now, gateway=gateway)
    return refund, queries.get_transaction(conn, transaction_id)


def refund_cancelled_booking(conn, booking_id, *, actor_id, now, config, gateway_factory):
    """The cancellation hook's work, inside the bookings service's open transaction.

    An unpaid payment due (pending, or a gateway attempt still processing) is
    failed: nothing is owed any more. A paid one is refunded by the hospital's
    policy (hours before scheduledDate), minus whatever was refunded already;
    a wallet refund is credited now, a gateway refund is returned as a callable
    to run after commit.
    """
    live = queries.get_live_booking_payment(conn, booking_id)
    if live is None:
        return None
    if live["status"] in ("pending", "processing"):
        queries.fail_transaction(conn, live["id"], reason="Booking cancelled before payment.",
                                 gateway_status=None, now=to_iso(now))
        return None
    if live["status"] not in ("completed", "partially_refunded"):
        return None
    booking = get_booking(conn, booking_id)
    policy = get_payment_policy(conn, live["hospital_id"], config)
    hours_before = (from_iso(booking["scheduled_date"]) - now).total_seconds() / 3600
    entitled = refund_for_cancellation(live["amount_minor"], hours_before_start=hours_before,
                                       policy=policy)
    amount = min(entitled, live["amount_minor"]) - live["refunded_minor"]
    if amount <= 0:
        return None
    share = "full" if entitled == live["amount_minor"] else "partial"
    refund = record_refund(
        conn, live, amount_minor=amount,
        reason=f"Booking {booking['booking_reference']} cancelled ({share} refund by policy)",
        requested_by=actor_id, now=now,
    )
    if refund["method"] != "sslcommerz":
        return None

    def send_after_commit():
        return send_gateway_refund(conn, refund["id"], now=now, gateway=gateway_factory())

    return send_after_commit
