"""Settling gateway payments, only on a verified answer: the signed IPN checked
against the gateway's validation API, or (for an attempt left 'processing') the
gateway's transaction query. Both end in ``settle_validated``: the payment
completed with its earnings row or wallet credit in one transaction, harmless twice.
"""
import logging
from datetime import timedelta

from app.db import transaction
from app.errors import BadGateway, BadRequest, Conflict, NotFound
from app.mail import notices
from app.money import parse_minor, split_fee
from app.payments import queries
from app.payments.queries import PAID_STATUSES
from app.payments.sslcommerz import (
    FAILED_STATUSES,
    VALID_STATUSES,
    GatewayNotConfigured,
    GatewayRefused,
    GatewayUnavailable,
)
from app.pricing.queries import get_payment_policy
from app.timeutil import from_iso, to_iso
from app.wallet.ledger import post_credit

log = logging.getLogger(__name__)


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
        notices.payment_received(conn, completed, now=now)
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
