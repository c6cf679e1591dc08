"""Payment rules: paying a booking, top-ups, the verified gateway path, refunds, receipts.

Money moves only inside ``transaction(conn)`` and only together with its record:
a wallet debit with the completed payment and its earnings row; a gateway
payment only after its IPN signature AND the gateway's validation API agree with
our transaction (tran_id, amount, currency). Network calls never happen while
the write lock is held. A gateway answer we could not get (timeout, 5xx) leaves
the payment 'processing' for reconciliation; nothing is retried blindly.

Idempotent operations (paying, topping up, refunding) take the request's
Idempotency-Key ``claim`` and link their effect to it inside the transaction
that commits the effect (app.payments.idempotency): run again under the same
claim (a retry after the first worker died), they answer from the committed
effect instead of repeating it.
"""
import logging
import secrets
from datetime import timedelta

from app.auth.policy import can_refund_payment, can_see_payment, scope_for
from app.auth.queries import get_user
from app.bookings.queries import get_booking
from app.db import transaction
from app.errors import (
    BadGateway, BadRequest, Conflict, NotFound, PaymentRequired, ServiceUnavailable,
)
from app.hospitals.queries import get_hospital
from app.money import format_minor, parse_minor, split_fee
from app.payments import queries
from app.payments.idempotency import record_effect, recorded_effect
from app.payments.queries import PAID_STATUSES
from app.payments.sslcommerz import (
    FAILED_STATUSES, VALID_STATUSES, GatewayNotConfigured, GatewayRefused, GatewayUnavailable,
)
from app.pricing.queries import get_payment_policy
from app.pricing.rules import refund_for_cancellation
from app.timeutil import from_iso, to_iso
from app.wallet.ledger import balance_of, post_credit, post_debit

log = logging.getLogger(__name__)

IPN_PATH = "/api/payments/sslcommerz/ipn"
RETURN_PATH = "/api/payments/sslcommerz/return/"


def new_transaction_ref():
    """Our tran_id at the gateway: unguessable, 26 characters (SSLCommerz allows 30)."""
    return "RC" + secrets.token_hex(12).upper()


def prorate(part_minor, numerator, denominator):
    """part × numerator / denominator, rounded half up (all non-negative integers)."""
    return (2 * part_minor * numerator + denominator) // (2 * denominator)


# -- visibility --------------------------------------------------------------------


def get_visible_transaction(conn, user, transaction_id):
    tx = queries.get_transaction(conn, transaction_id)
    if tx is None or not can_see_payment(user, tx):
        raise NotFound("Payment not found.")
    return tx


# -- paying a booking ---------------------------------------------------------------


def _payable_booking(conn, user, booking_id):
    booking = get_booking(conn, booking_id)
    if booking is None or booking["user_id"] != user.id:
        raise NotFound("Booking not found.")
    if booking["status"] != "approved":
        raise Conflict("Only an approved booking can be paid.")
    return booking


def _open_payment_due(conn, booking, now):
    """The booking's live payment row; after a failed attempt, a fresh pending one."""
    live = queries.get_live_booking_payment(conn, booking["id"])
    if live is not None:
        if live["status"] == "processing":
            raise Conflict("A gateway payment for this booking is in progress.")
        if live["status"] in PAID_STATUSES:
            raise Conflict("This booking is already paid.")
        return live
    last = queries.get_latest_booking_payment(conn, booking["id"])
    if last is None:
        raise Conflict("No payment is due for this booking.")
    return queries.insert_transaction(
        conn, transaction_ref=new_transaction_ref(), kind="booking_payment",
        booking_id=booking["id"], user_id=last["user_id"], hospital_id=last["hospital_id"],
        amount_minor=last["amount_minor"], currency=last["currency"], method=None,
        status="pending", now=to_iso(now),
    )


def process_payment(conn, *, user, booking_id, method, now, config, gateway, claim=None):
    """Pay an approved booking. Returns (transaction, gateway_url or None).

    :raise 404: no such booking, or not the caller's.
    :raise 409: not approved, already paid, a gateway attempt in progress, nothing due.
    :raise 402: wallet short (body: required, balance, shortfall).
    :raise 502: the gateway refused or did not answer (the attempt is then failed,
                or left 'processing' for reconciliation when the outcome is unknown).
    """
    if method == "wallet":
        return pay_from_wallet(conn, user=user, booking_id=booking_id, now=now,
                               config=config, claim=claim), None
    return pay_by_gateway(conn, user=user, booking_id=booking_id, now=now, config=config,
                          gateway=gateway, claim=claim)


def pay_from_wallet(conn, *, user, booking_id, now, config, claim=None):
    with transaction(conn):
        paid = recorded_effect(conn, claim, "transaction")
        if paid is not None:
            return queries.get_transaction(conn, paid)
        booking = _payable_booking(conn, user, booking_id)
        tx = _open_payment_due(conn, booking, now)
        if tx["user_id"] != user.id or tx["currency"] != config["CURRENCY"]:
            raise Conflict("This payment cannot be made from your wallet.")
        policy = get_payment_policy(conn, tx["hospital_id"], config)
        fee, share = split_fee(tx["amount_minor"], policy["platform_fee_bp"])
        entry = post_debit(
            conn, user_id=user.id, amount_minor=tx["amount_minor"],
            description=f"Payment for booking {booking['booking_reference']}",
            created_by=user.id, now=now, transaction_id=tx["id"],
        )
        if entry is None:
            balance = balance_of(conn, user.id)
            raise PaymentRequired("Insufficient wallet balance.", extra={
                "required": format_minor(tx["amount_minor"]),
                "balance": format_minor(balance),
                "shortfall": format_minor(tx["amount_minor"] - balance),
                "currency": tx["currency"],
            })
        completed = queries.complete_transaction(
            conn, tx["id"], method="wallet", platform_fee_minor=fee, hospital_share_minor=share,
            val_id=None, bank_tran_id=None, gateway_status=None, now=to_iso(now),
        )
        if completed is None:  # cannot happen under the write lock; the guard stays anyway
            raise Conflict("This payment is no longer open.")
        queries.insert_earnings(
            conn, hospital_id=tx["hospital_id"], transaction_id=tx["id"], share_minor=share,
            fee_minor=fee, description=f"Payment for booking {booking['booking_reference']}",
            now=to_iso(now),
        )
        record_effect(conn, claim, "transaction", tx["id"])
    return completed


def _require_gateway(conn, gateway):
    if not gateway.configured:
        raise ServiceUnavailable("Online payment is not configured.")
    setting = queries.get_payment_config(conn, "sslcommerz")
    if setting is not None and not setting["is_active"]:
        raise ServiceUnavailable("Online payment is currently disabled.")


def pay_by_gateway(conn, *, user, booking_id, now, config, gateway, claim=None):
    _require_gateway(conn, gateway)
    live = queries.get_live_booking_payment(conn, booking_id)
    if (live is not None and live["user_id"] == user.id and live["status"] == "processing"
            and is_stale(live, now, config)):
        # An abandoned attempt: ask the gateway before refusing a new one.
        refresh_processing(conn, live, now=now, config=config, gateway=gateway)
    with transaction(conn):
        started = recorded_effect(conn, claim, "transaction")
        if started is None:
            booking = _payable_booking(conn, user, booking_id)
            tx = _open_payment_due(conn, booking, now)
            tx = queries.mark_processing(conn, tx["id"], "sslcommerz", to_iso(now))
            if tx is None:  # cannot happen under the write lock; the guard stays anyway
                raise Conflict("This payment is no longer open.")
            record_effect(conn, claim, "transaction", tx["id"])
    if started is not None:
        raise _lost_gateway_answer(queries.get_transaction(conn, started))
    return _open_session(
        conn, tx, user_id=user.id, now=now, config=config, gateway=gateway,
        product_name=f"Booking {booking['booking_reference']}",
        product_category="Hospital booking",
    )


def start_topup(conn, *, user, amount_minor, now, config, gateway, claim=None):
    """Open a gateway session for a wallet top-up; the wallet is credited only by a
    verified IPN. Returns (transaction, gateway_url)."""
    _require_gateway(conn, gateway)
    with transaction(conn):
        started = recorded_effect(conn, claim, "transaction")
        if started is None:
            tx = queries.insert_transaction(
                conn, transaction_ref=new_transaction_ref(), kind="wallet_topup",
                booking_id=None, user_id=user.id, hospital_id=None, amount_minor=amount_minor,
                currency=config["CURRENCY"], method="sslcommerz", status="processing",
                now=to_iso(now),
            )
            record_effect(conn, claim, "transaction", tx["id"])
    if started is not None:
        raise _lost_gateway_answer(queries.get_transaction(conn, started))
    return _open_session(conn, tx, user_id=user.id, now=now, config=config, gateway=gateway,
                         product_name="Wallet top-up", product_category="Wallet")


def _lost_gateway_answer(tx):
    """The 502 for a retry whose first run started gateway attempt ``tx`` and died
    before its answer was stored. The session page it may have opened is not kept,
    so the attempt is left to the verified path: an IPN, or reconciliation (and a
    new attempt once it is stale) asking the gateway by tran_id."""
    return BadGateway(
        f"The first request with this Idempotency-Key started payment {tx['id']} "
        f"({tx['transaction_ref']}) but its gateway answer was lost; the payment is "
        f"'{tx['status']}' and is settled by the gateway's notification or by reconciliation."
    )


def _open_session(conn, tx, *, user_id, now, config, gateway, product_name, product_category):
    customer = get_user(conn, user_id)
    base = str(config["PUBLIC_BASE_URL"]).rstrip("/")
    try:
        session = gateway.create_session(
            tran_id=tx["transaction_ref"], amount_minor=tx["amount_minor"],
            currency=tx["currency"], success_url=base + RETURN_PATH + "success",
            fail_url=base + RETURN_PATH + "fail", cancel_url=base + RETURN_PATH + "cancel",
            ipn_url=base + IPN_PATH,
            customer={"name": customer["name"], "email": customer["email"],
                      "phone": customer["phone"]},
            product_name=product_name, product_category=product_category,
        )
    except (GatewayRefused, GatewayNotConfigured) as error:
        # A definite no: this attempt is over, and a new one may start.
        with transaction(conn):
            queries.fail_transaction(conn, tx["id"], reason=str(error),
                                     gateway_status="SESSION_REFUSED", now=to_iso(now))
        raise BadGateway(str(error)) from None
    except GatewayUnavailable as error:
        # Unknown outcome: keep 'processing' for reconciliation rather than guess.
        raise BadGateway(
            f"{error} The payment stays 'processing' until it is reconciled."
        ) from None
    with transaction(conn):
        updated = queries.set_session_key(conn, tx["id"], session["sessionkey"], to_iso(now))
    return updated or queries.get_transaction(conn, tx["id"]), session["gateway_url"]


# -- the verified gateway path --------------------------------------------------------


def handle_ipn(conn, *, form, now, config, gateway):
    """An IPN from SSLCommerz. Returns {"result", "transactionStatus"}.

    :raise 400: the signature does not verify (nothing is read from the form).
    :raise 404: the signed tran_id is not one of ours.
    :raise 409: the IPN's own signed amount or currency, or then the gateway's
                validation record (which decides), disagrees with our transaction.
    :raise 502: the validation API could not be reached (the gateway retries the IPN).
    """
    if not gateway.verify_ipn(form):
        log.warning("IPN with an invalid signature refused")
        raise BadRequest("Invalid IPN signature.")
    tx = queries.get_transaction_by_ref(conn, form["tran_id"])
    if tx is None:
        log.warning("signed IPN for an unknown tran_id refused")
        raise NotFound("Unknown transaction.")
    # The IPN's own signed figures first; the validation record decides after them.
    problems = _amount_and_currency_problems(form, tx)
    if problems:
        log.warning("signed IPN for transaction %s does not match: %s", tx["id"],
                    ", ".join(problems))
        raise Conflict("The notification does not match this payment: " + ", ".join(problems))
    status = str(form["status"]).upper()
    if status in VALID_STATUSES:
        if not form.get("val_id"):
            raise BadRequest("A paid notification must carry val_id.")
        try:
            record = gateway.validate(form["val_id"])
        except (GatewayUnavailable, GatewayRefused, GatewayNotConfigured) as error:
            raise BadGateway(f"Could not validate the payment: {error}") from None
        return settle_validated(conn, tx, record, now=now, config=config)
    if status in FAILED_STATUSES:
        with transaction(conn):
            failed = queries.fail_transaction(
                conn, tx["id"], reason=str(form.get("error") or status.lower()),
                gateway_status=status, now=to_iso(now),
            )
        current = failed or queries.get_transaction(conn, tx["id"])
        return {"result": "failed" if failed else "ignored",
                "transaction_status": current["status"]}
    return {"result": "ignored", "transaction_status": tx["status"]}


def _amount_and_currency_problems(fields, tx):
    """Whether an IPN's or a validation record's amount and currency are ours."""
    try:
        amount = parse_minor(str(fields.get("amount")))
    except (ValueError, ArithmeticError):
        amount = None
    problems = []
    if amount != tx["amount_minor"]:
        problems.append("amount")
    if fields.get("currency") != tx["currency"]:
        problems.append("currency")
    return problems


def validation_problems(record, tx):
    """What in the gateway's validation record does not match our transaction."""
    problems = []
    if str(record.get("status") or "").upper() not in VALID_STATUSES:
        problems.append(f"status {record.get('status')!r}")
    if record.get("tran_id") != tx["transaction_ref"]:
        problems.append("tran_id")
    problems += _amount_and_currency_problems(record, tx)
    if not record.get("val_id"):
        problems.append("val_id")
    return problems


def settle_validated(conn, tx, record, *, now, config):
    """Complete ``tx`` from a gateway validation record, in one transaction; harmless twice."""
    problems = validation_problems(record, tx)
    if problems:
        log.warning("gateway record for transaction %s does not match: %s", tx["id"],
                    ", ".join(problems))
        raise Conflict("The gateway's record does not match this payment: " + ", ".join(problems))
    with transaction(conn):
        current = queries.get_transaction(conn, tx["id"])
        if current["status"] in PAID_STATUSES:
            return {"result": "duplicate", "transaction_status": current["status"]}
        if current["status"] == "failed":
            noted = queries.note_paid_after_failure(
                conn, tx["id"], val_id=record["val_id"], bank_tran_id=record.get("bank_tran_id"),
                now=to_iso(now),
            )
            if noted:
                log.warning("gateway took payment on failed transaction %s", tx["id"])
            return {"result": "ignored", "transaction_status": "failed"}
        fee = share = None
        if current["kind"] == "booking_payment":
            policy = get_payment_policy(conn, current["hospital_id"], config)
            fee, share = split_fee(current["amount_minor"], policy["platform_fee_bp"])
        completed = queries.complete_transaction(
            conn, current["id"], method="sslcommerz", platform_fee_minor=fee,
            hospital_share_minor=share, val_id=record["val_id"],
            bank_tran_id=record.get("bank_tran_id"),
            gateway_status=str(record.get("status")).upper(), now=to_iso(now),
        )
        if current["kind"] == "booking_payment":
            queries.insert_earnings(
                conn, hospital_id=current["hospital_id"], transaction_id=current["id"],
                share_minor=share, fee_minor=fee,
                description=f"SSLCommerz payment {current['transaction_ref']}", now=to_iso(now),
            )
        else:
            post_credit(
                conn, user_id=current["user_id"], amount_minor=current["amount_minor"],
                description="Wallet top-up via SSLCommerz", created_by=current["user_id"],
                now=now, currency=current["currency"], transaction_id=current["id"],
            )
    return {"result": "completed", "transaction_status": completed["status"]}


def is_stale(tx, now, config):
    age = now - from_iso(tx["updated_at"])
    return age >= timedelta(minutes=float(config["PAYMENT_STALE_MINUTES"]))


def refresh_processing(conn, tx, *, now, config, gateway):
    """Ask the gateway what became of a 'processing' attempt and act on a verified answer.

    Returns "completed" | "duplicate" | "failed" | "pending" | "mismatch" | "unreachable".
    A paid attempt is settled through the validation API like an IPN; an attempt
    the gateway never saw, or saw fail, is failed; anything else stays as it is.
    """
    try:
        elements = gateway.query_transaction(tx["transaction_ref"])
    except (GatewayUnavailable, GatewayRefused, GatewayNotConfigured):
        return "unreachable"
    paid = [e for e in elements if str(e.get("status") or "").upper() in VALID_STATUSES]
    if paid:
        try:
            record = gateway.validate(paid[0].get("val_id") or "")
        except (GatewayUnavailable, GatewayRefused, GatewayNotConfigured):
            return "unreachable"
        try:
            return settle_validated(conn, tx, record, now=now, config=config)["result"]
        except Conflict:
            return "mismatch"
    finished = all(str(e.get("status") or "").upper() in FAILED_STATUSES for e in elements)
    if finished:
        reason = ("The gateway reports the payment " + str(elements[-1].get("status")).lower()
                  if elements else "The gateway has no record of this payment.")
        with transaction(conn):
            failed = queries.fail_transaction(conn, tx["id"], reason=reason,
                                              gateway_status="EXPIRED", now=to_iso(now))
        return "failed" if failed else "duplicate"
    return "pending"


# -- refunds ------------------------------------------------------------------------


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
        return refund
    return queries.insert_refund(
        conn, transaction_id=tx["id"], amount_minor=amount_minor, reason=reason,
        method="sslcommerz", status="pending", requested_by=requested_by, now=to_iso(now),
    )


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
                   claim=None):
    """POST /api/payments/{id}/refund. Returns (refund, transaction).

    Under a claim whose refund already committed (the first request died), the
    refund is not recorded again: it is answered from, and a gateway refund still
    'pending' is sent again under its own reference.

    :raise 404: no such payment, or not of the caller's hospital.
    :raise 409: not a completed booking payment, or more than is left to refund.
    """
    with transaction(conn):
        recorded = recorded_effect(conn, claim, "refund")
        if recorded is not None:
            refund = queries.get_refund(conn, recorded)
        else:
            tx = queries.get_transaction(conn, transaction_id)
            if tx is None or not can_refund_payment(actor, tx):
                raise NotFound("Payment not found.")
            refund = record_refund(conn, tx, amount_minor=amount_minor, reason=reason,
                                   requested_by=actor.id, now=now)
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


# -- reading ------------------------------------------------------------------------


def history(conn, *, user, status, kind, limit, offset):
    """Own transactions; an authority's hospital's; everything for an admin."""
    scope = scope_for(user)
    if scope is None:
        return [], 0  # an authority without a hospital: nothing, never everything
    rows = queries.list_transactions(conn, scope=scope, status=status, kind=kind,
                                     limit=limit, offset=offset)
    total = queries.count_transactions(conn, scope=scope, status=status, kind=kind)
    return rows, total


def _hospital_name(conn, hospital_id):
    """The paid hospital's name; None for a top-up (no hospital)."""
    hospital = get_hospital(conn, hospital_id) if hospital_id is not None else None
    return hospital["name"] if hospital else None


def receipt(conn, *, user, transaction_id):
    """:raise 404: not visible to the caller. :raise 409: not paid (no receipt yet)."""
    tx = get_visible_transaction(conn, user, transaction_id)
    if tx["status"] not in PAID_STATUSES:
        raise Conflict("There is no receipt: the payment is not completed.")
    payer = get_user(conn, tx["user_id"])
    booking = get_booking(conn, tx["booking_id"]) if tx["booking_id"] else None
    return {
        **tx,
        "receipt_number": f"RCPT-{tx['transaction_ref']}",
        "payer_name": payer["name"],
        "payer_email": payer["email"],
        "hospital_name": _hospital_name(conn, tx["hospital_id"]),
        "booking_reference": booking["booking_reference"] if booking else None,
        "resource_type": booking["resource_type"] if booking else None,
        "scheduled_date": booking["scheduled_date"] if booking else None,
        "net_paid_minor": tx["amount_minor"] - tx["refunded_minor"],
        "refunds": queries.list_refunds(conn, tx["id"]),
    }


def return_page(conn, *, outcome, tran_id):
    """The customer's browser coming back from the gateway: report, never change, state."""
    tx = queries.get_transaction_by_ref(conn, tran_id) if tran_id else None
    messages = {
        "success": "Thank you. The payment is confirmed once the gateway notifies us.",
        "fail": "The payment did not go through.",
        "cancel": "The payment was cancelled.",
    }
    return {
        "outcome": outcome,
        "tran_id": tx["transaction_ref"] if tx else None,
        "transaction_status": tx["status"] if tx else None,
        "message": messages[outcome],
    }
