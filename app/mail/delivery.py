"""Sending the outbox: the scheduler's mail-delivery job.

One message at a time, each in three steps:

1. claim (one transaction): the oldest due 'pending' row becomes 'sending', its
   attempt is counted and its Message-ID fixed if it has none yet;
2. send it, outside any transaction: over SMTP (smtplib, STARTTLS / SSL / none,
   login if SMTP_USERNAME is set), or, without SMTP_HOST, as an .eml file in MAIL_DIR;
3. record the outcome (one transaction): 'sent'; or back to 'pending' with a later
   next_attempt_at (exponential backoff); or 'failed' after a permanent refusal
   (SMTP 5xx) or MAX_ATTEMPTS attempts.

A crash between the server's acceptance (2) and the 'sent' mark (3) leaves the row
'sending'. The next run puts it back to 'pending' and sends it again, under the
Message-ID fixed in step 1: the recipient may get the message twice, and the two
copies carry the same Message-ID (mail clients and many servers drop the second).
That is the guarantee: delivered once, or at worst twice with the same Message-ID;
never lost, since nothing is marked sent before the server accepted it.

Nothing that identifies a person is logged or recorded as an error: errors are
reduced to the exception's class and the SMTP reply code (smtplib's messages
can quote the recipient's address).
"""
import logging
import os
import smtplib
import ssl
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from app import files
from app.db import transaction
from app.mail import queries
from app.timeutil import from_iso, to_iso, utcnow

log = logging.getLogger("rapidcare.mail")

# 1, 2, 4, … minutes between attempts, at most 6 hours apart; after MAX_ATTEMPTS
# (about 1.5 days of trying) a message is given up as 'failed'.
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 6 * 3600
MAX_ATTEMPTS = 12
# One run sends at most this many, so a large backlog cannot hold the job for hours;
# the next run (a minute later) goes on.
MAX_PER_RUN = 500
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


class MailDeliveryFailed(RuntimeError):
    """Some messages were not delivered in this run; the job run is recorded as failed."""


class PermanentFailure(Exception):
    """The server refused the message for good (SMTP 5xx): no point in trying again."""


def retry_delay(attempts):
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS)


def sender_domain(config):
    address = parseaddr(config["MAIL_FROM"])[1]
    return address.rpartition("@")[2] or "rapidcare.local"


def new_message_id(config):
    return f"<{uuid.uuid4().hex}@{sender_domain(config)}>"


def build_message(row, config):
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = row["to_address"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(from_iso(row["created_at"]))
    message["Message-ID"] = row["message_id"]
    message["Auto-Submitted"] = "auto-generated"  # no vacation replies, please
    message.set_content(row["body"])
    return message


def describe_error(error):
    """What we record and log about a failure: never its text, which may quote an address."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code = next(iter(error.recipients.values()), (None,))[0]
    return f"{type(error).__name__}" + (f" (SMTP {code})" if code else "")


def is_permanent(error):
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    code = getattr(error, "smtp_code", None)
    return isinstance(error, smtplib.SMTPResponseException) and code is not None and code >= 500


class SmtpTransport:
    """One SMTP connection, opened on the first message and reused for the run."""

    def __init__(self, config):
        self.config = config
        self.connection = None

    def _connect(self):
        config = self.config
        security = config["SMTP_SECURITY"]
        port = config["SMTP_PORT"] or DEFAULT_PORTS[security]
        timeout = config["SMTP_TIMEOUT_SECONDS"]
        if security == "ssl":
            connection = smtplib.SMTP_SSL(config["SMTP_HOST"], port, timeout=timeout,
                                          context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(config["SMTP_HOST"], port, timeout=timeout)
            if security == "starttls":
                connection.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            connection.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        return connection

    def send(self, message, row):
        if self.connection is None:
            self.connection = self._connect()
        try:
            self.connection.send_message(message, to_addrs=[row["to_address"]])
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError):
            self._reset()  # the session is still usable: RSET and go on with the next one
            raise
        except Exception:
            self.close()  # a broken connection: the next message opens a new one
            raise

    def _reset(self):
        try:
            self.connection.rset()
        except Exception:
            self.close()

    def close(self):
        if self.connection is not None:
            try:
                self.connection.quit()
            except Exception:
                pass  # closing a connection that already failed; nothing to report
            self.connection = None


class FolderTransport:
    """Development: each message becomes MAIL_DIR/<outbox id>-<kind>.eml."""

    def __init__(self, config):
        self.directory = config["MAIL_DIR"]

    def send(self, message, row):
        files.private_directory(self.directory)  # messages carry names and links: owner-only
        path = os.path.join(self.directory, f"{row['id']:08d}-{row['kind']}.eml")
        partial = f"{path}.partial"
        with files.open_private(partial) as file:
            file.write(message.as_bytes())
        os.replace(partial, path)  # a file under the final name is always complete

    def close(self):
        pass


def transport_for(config):
    return SmtpTransport(config) if config["SMTP_HOST"] else FolderTransport(config)


def deliver_due(conn, *, now, config, clock=utcnow):
    """Send every message due at ``now`` (at most MAX_PER_RUN). Returns counts
    {"sent", "retrying", "failed", "requeued"}."""
    counts = {"sent": 0, "retrying": 0, "failed": 0, "requeued": 0}
    with transaction(conn):
        counts["requeued"] = queries.requeue_interrupted(conn, now=to_iso(now))
    if counts["requeued"]:
        log.warning("mail: %d message(s) interrupted mid-send are sent again", counts["requeued"])
    transport = transport_for(config)
    try:
        for _ in range(MAX_PER_RUN):
            with transaction(conn):
                row = queries.claim_next_due(conn, now=to_iso(now),
                                             message_id=new_message_id(config))
            if row is None:
                break
            outcome = _send_one(conn, transport, row, config, clock)
            counts[outcome] += 1
            if outcome == "retrying":
                # The server or the network is down: the rest would fail alike.
                break
    finally:
        transport.close()
    return counts


def _send_one(conn, transport, row, config, clock):
    try:
        transport.send(build_message(row, config), row)
    except Exception as error:  # every failure is recorded on the row; the run goes on
        described = describe_error(error)
        finished = clock()
        with transaction(conn):
            if is_permanent(error) or row["attempts"] >= MAX_ATTEMPTS:
                queries.mark_failed(conn, row["id"], error=described, now=to_iso(finished))
                outcome = "failed"
            else:
                retry_at = finished + timedelta(seconds=retry_delay(row["attempts"]))
                queries.mark_retry(conn, row["id"], error=described,
                                   next_attempt_at=to_iso(retry_at), now=to_iso(finished))
                outcome = "retrying"
        log.warning("mail: message %s (%s) attempt %d %s: %s", row["id"], row["kind"],
                    row["attempts"], "gave up" if outcome == "failed" else "will be retried",
                    described)
        return outcome
    with transaction(conn):
        queries.mark_sent(conn, row["id"], now=to_iso(clock()))
    return "sent"
