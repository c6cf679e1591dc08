"""The mails users expect, queued by the domain services inside their own transactions.

Each function reads what its message needs through the owning domains' queries
and queues it (app/mail/outbox.py): booking decisions, payment receipts,
refunds, blood matches, password changes. Account tokens (verification, reset)
are mailed by app/auth/account_mail.py.
"""
from app.auth.queries import get_user
from app.bookings.queries import get_booking
from app.hospitals.queries import get_hospital
from app.mail import templates
from app.mail.outbox import enqueue


def booking_decided(conn, booking, *, now):
    """Approved or declined: ``booking`` is the row as the transition left it."""
    user = get_user(conn, booking["user_id"])
    hospital = get_hospital(conn, booking["hospital_id"])
    return enqueue(conn, user=user, now=now, mail=templates.booking_decided(
        name=user["name"], booking=booking, hospital=hospital))


def payment_received(conn, payment, *, now):
    """A completed booking payment (wallet or gateway). Top-ups have their own
    ledger line and mail nothing."""
    if payment["kind"] != "booking_payment":
        return None
    user = get_user(conn, payment["user_id"])
    booking = get_booking(conn, payment["booking_id"])
    hospital = get_hospital(conn, booking["hospital_id"])
    return enqueue(conn, user=user, now=now, mail=templates.payment_receipt(
        name=user["name"], booking=booking, hospital=hospital, payment=payment))


def refund_issued(conn, payment, refund_row, *, now):
    user = get_user(conn, payment["user_id"])
    booking = get_booking(conn, payment["booking_id"])
    hospital = get_hospital(conn, booking["hospital_id"])
    return enqueue(conn, user=user, now=now, mail=templates.refund(
        name=user["name"], booking=booking, hospital=hospital, refund_row=refund_row,
        currency=payment["currency"]))


def blood_match(conn, request, *, donor_name, donor_blood_type, now):
    user = get_user(conn, request["requester_id"])
    return enqueue(conn, user=user, now=now, mail=templates.blood_match(
        name=user["name"], request=request, donor_name=donor_name,
        donor_blood_type=donor_blood_type))


def password_changed(conn, user_id, *, now, tz_name, by_reset):
    user = get_user(conn, user_id)
    return enqueue(conn, user=user, now=now, essential=True, mail=templates.password_changed(
        name=user["name"], when=now, tz_name=tz_name, by_reset=by_reset))
