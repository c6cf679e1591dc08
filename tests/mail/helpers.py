"""Helpers of the mail tests."""
import re

from app.ops.scheduler import JOBS, run_job

MAIL_JOB = next(spec for spec in JOBS if spec.name == "mail-delivery")


def deliver(config, *, clock=None):
    """Run the mail-delivery job as the scheduler runs it (recorded in job_runs)."""
    return run_job(MAIL_JOB, config, **({"clock": clock} if clock else {}))


def outbox(db, where="1 = 1", params=()):
    return db.execute(f"SELECT * FROM mail_outbox WHERE {where} ORDER BY id", params).fetchall()


def token_in(message):
    """The code a verification or reset mail carries."""
    found = re.search(r"code in the app: (\S+)", text(message))
    assert found, text(message)
    return found.group(1)


def to(messages, address):
    return [m for m in messages if m["To"] == address]


def text(message):
    """The body, with SMTP's CRLF line ends as the \n the outbox stored."""
    return message.get_content().replace("\r\n", "\n")


def our_log_lines(caplog):
    """Every log line the service wrote (not the test SMTP server's, aiosmtpd's "mail.log")."""
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if not r.name.startswith("mail.log"))
