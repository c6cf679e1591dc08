"""The text of every mail: plain text, one function per kind, no I/O.

Times are shown in the zone the reader cares about (the hospital's for a
booking), with the zone's name, because a mail is read later and elsewhere.
Subjects are single lines: anything user-supplied in them is flattened.
"""
from typing import NamedTuple
from zoneinfo import ZoneInfo

from app.money import format_minor
from app.timeutil import from_iso

RESOURCE_NAMES = {"beds": "a bed", "icu": "an ICU bed", "operationTheatres": "an operation theatre"}
SIGNATURE = "\n-- \nRapidCare\n"


class Mail(NamedTuple):
    kind: str
    subject: str
    body: str
    carries_secret: bool = False  # the body holds a token: blanked once sent


def local_time(moment, tz_name):
    """'Friday 14 March 2025, 10:30 (Asia/Dhaka)' for an ISO text or a datetime."""
    if isinstance(moment, str):
        moment = from_iso(moment)
    local = moment.astimezone(ZoneInfo(tz_name))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({tz_name})"


def _one_line(text):
    return " ".join(str(text).split())


def _subject(text):
    return _one_line(text)[:300]


def verification(*, name, link, token, ttl_hours):
    return Mail("verify_email", "Confirm your email address", (
        f"Hello {name},\n\n"
        "please confirm that this is your email address by opening this link:\n\n"
        f"  {link}\n\n"
        f"or by entering this code in the app: {token}\n\n"
        f"The link works once and expires in {ttl_hours} hours. If you did not create a "
        "RapidCare account, ignore this message.\n" + SIGNATURE
    ), carries_secret=True)


def password_reset(*, name, link, token, ttl_minutes):
    return Mail("reset_password", "Reset your RapidCare password", (
        f"Hello {name},\n\n"
        "someone (hopefully you) asked to reset the password of your RapidCare account. "
        "To choose a new password, open this link:\n\n"
        f"  {link}\n\n"
        f"or enter this code in the app: {token}\n\n"
        f"The link works once and expires in {ttl_minutes} minutes. If you did not ask "
        "for this, ignore this message: your password stays as it is.\n" + SIGNATURE
    ), carries_secret=True)


def password_changed(*, name, when, tz_name, by_reset):
    if by_reset:
        how, ended = "with a password reset link", "Every login of the account has been ended"
    else:
        how, ended = "from your account settings", "Every other login of the account has been ended"
    return Mail("password_changed", "Your RapidCare password was changed", (
        f"Hello {name},\n\n"
        f"the password of your RapidCare account was changed {how} on "
        f"{local_time(when, tz_name)}. {ended}; log in again with the new password.\n\n"
        "If this was not you, reset your password at once and contact the RapidCare team.\n"
        + SIGNATURE
    ))


def _booking_lines(booking, hospital):
    what = RESOURCE_NAMES.get(booking["resource_type"], booking["resource_type"])
    return (
        f"  Booking reference: {booking['booking_reference']}\n"
        f"  Hospital:          {hospital['name']}\n"
        # No patient data: mail bodies are stored unencrypted in mail_outbox (migration 0120).
        f"  For:               {what}\n"
        f"  Scheduled:         {local_time(booking['scheduled_date'], hospital['timezone'])}\n"
    )


def booking_decided(*, name, booking, hospital):
    """Approved or declined, with the hospital's notes (the reason it gave), if any."""
    approved = booking["status"] == "approved"
    decision = "approved" if approved else "declined"
    notes = booking["status_reason"]
    lines = [f"Hello {name},\n\n",
             f"{hospital['name']} has {decision} your booking request.\n\n",
             _booking_lines(booking, hospital)]
    if approved and booking["amount_minor"]:
        lines.append(f"  Amount due:        {format_minor(booking['amount_minor'])} "
                     f"{booking['currency']}\n")
    if notes:
        lines.append(f"\nNotes from the hospital:\n{notes}\n")
    if approved and booking["amount_minor"]:
        lines.append("\nYou can now pay for the booking in the app.\n")
    lines.append(SIGNATURE)
    return Mail(f"booking_{decision}",
                _subject(f"Booking {booking['booking_reference']} {decision}"), "".join(lines))


def payment_receipt(*, name, booking, hospital, payment):
    return Mail("payment_receipt", _subject(f"Receipt for booking {booking['booking_reference']}"), (
        f"Hello {name},\n\n"
        "thank you: we received your payment.\n\n"
        + _booking_lines(booking, hospital) +
        f"  Amount paid:       {format_minor(payment['amount_minor'])} {payment['currency']}\n"
        f"  Paid by:           {'wallet' if payment['method'] == 'wallet' else 'card (SSLCommerz)'}\n"
        f"  Payment reference: {payment['transaction_ref']}\n"
        f"  Paid on:           {local_time(payment['completed_at'], hospital['timezone'])}\n"
        + SIGNATURE
    ))


def refund(*, name, booking, hospital, refund_row, currency):
    if refund_row["method"] == "wallet":
        where = "It has been credited to your RapidCare wallet."
    else:
        where = ("It has been sent back to the card you paid with; your bank may take a few "
                 "days to show it.")
    return Mail("refund", _subject(f"Refund for booking {booking['booking_reference']}"), (
        f"Hello {name},\n\n"
        f"a refund of {format_minor(refund_row['amount_minor'])} {currency} was issued for your "
        f"booking. {where}\n\n"
        + _booking_lines(booking, hospital) +
        f"  Reason:            {refund_row['reason']}\n"
        f"  Issued on:         {local_time(refund_row['created_at'], hospital['timezone'])}\n"
        + SIGNATURE
    ))


def blood_match(*, name, request, donor_name, donor_blood_type):
    return Mail("blood_match", _subject(f"A donor volunteered for blood request #{request['id']}"), (
        f"Hello {name},\n\n"
        f"{donor_name} ({donor_blood_type}) volunteered to donate for your blood request "
        f"#{request['id']} ({request['blood_type']}, {request['units_needed']} unit(s)).\n\n"
        "Open the request's matches in the app to see the donor's phone number.\n" + SIGNATURE
    ))
