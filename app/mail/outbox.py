"""Queueing mail: a row in mail_outbox, written inside the caller's transaction.

The mail is part of what the transaction commits: a booking approved is mailed
if and only if the approval committed, and a rolled-back request mails nothing.
Sending is the scheduler's job (app/mail/delivery.py), never the request's, so
no request waits for an SMTP server or fails because one is down.

Essential mail is about the account itself (verification, password reset,
password changed) and is always sent. Everything else is sent only to users who
have not turned email notifications off.
"""
from app.mail import queries
from app.timeutil import to_iso


def enqueue(conn, *, user, mail, now, essential=False):
    """Queue ``mail`` (a templates.Mail) to ``user`` (a users row with email and
    email_notifications). Returns the outbox id, or None when the user turned
    non-essential mail off."""
    if not essential and not user["email_notifications"]:
        return None
    return queries.insert_message(
        conn, kind=mail.kind, user_id=user["id"], to_address=user["email"],
        subject=mail.subject, body=mail.body, carries_secret=mail.carries_secret,
        now=to_iso(now),
    )
