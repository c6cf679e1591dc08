"""Payment rules: paying a booking, wallet top-ups, reading payments and receipts.

Money moves only inside ``transaction(conn)`` and only together with its record:
a wallet debit with the completed payment and its earnings row. A gateway payment
is only started here (a session opened, the row 'processing'); it is settled by
the verified path of app.payments.settlement (IPN or reconciliation), and refunds
live in app.payments.refunds. Network calls never happen while the write lock is
held. A gateway answer we could not get (timeout, 5xx) leaves the payment
'processing' for reconciliation; nothing is retried blindly.

Idempotent operations (paying, topping up, refunding) take the request's
Idempotency-Key ``claim`` and link their effect to it inside the transaction
that commits the effect (app.payments.idempotency): run again under the same
claim (a retry after the first worker died), they answer from the committed
effect instead of repeating it.
"""
import logging
import secrets

from app.auth.policy import can_see_payment, scope_for
from app.auth.queries import get_user
from app.bookings.queries import get_booking
from app.db import transaction
from app.errors import BadGateway, Conflict, NotFound, PaymentRequired, ServiceUnavailable
from app.hospitals.queries import get_hospital
from app.mail import notices
from app.money import format_minor, split_fee
from app.payments import queries
from app.payments.idempotency import record_effect, recorded_effect
from app.payments.queries import PAID_STATUSES
from app.payments.settlement import is_stale, refresh_processing
from app.payments.sslcommerz import GatewayNotConfigured, GatewayRefused, GatewayUnavailable
from app.pricing.queries import get_payment_policy
from app.timeutil import to_iso
from app.wallet.ledger import balance_of, post_debit

log = logging.getLogger(__name__)

IPN_PATH = "/api/payments/sslcommerz/ipn"
RETURN_PATH = "/api/payments/sslcommerz/return/"


def new_transaction_ref():
    """Our tran_id at the gateway: unguessable, 26 characters (SSLCommerz allows 30)."""
    return "RC" + secrets.token_hex(12).upper()


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
        notices.payment_received(conn, completed, now=now)
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


def booking_payment(conn, *, user, booking):
    """The latest payment row of ``booking`` (one the caller already may see), or None
    while nothing is due (pending, or a free booking)."""
    tx = queries.get_latest_booking_payment(conn, booking["id"])
    if tx is None or not can_see_payment(user, tx):
        return None
    return tx


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
