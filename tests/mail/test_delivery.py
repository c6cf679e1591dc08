"""The outbox and its delivery by the scheduler's job, against a real SMTP server (aiosmtpd):
headers and Message-ID, STARTTLS / SSL with login, retries with backoff, permanent
refusals, the development folder, and what detailed health and /metrics show."""
import email
import email.policy
import logging
from datetime import timedelta

import pytest

from app.db import transaction
from app.mail import delivery
from app.mail.outbox import enqueue
from app.mail.templates import Mail
from app.timeutil import from_iso, utcnow
from tests.mail.helpers import deliver, our_log_lines, outbox, text
from tests.mail.smtp_server import SmtpServer, self_signed_certificate


def queue(db, user, *, subject="Hello", body="Body text\n", essential=True, secret=False):
    with transaction(db):
        return enqueue(db, user=user, now=utcnow(), essential=essential,
                       mail=Mail("test", subject, body, carries_secret=secret))


def test_a_queued_message_is_sent_with_a_stable_message_id_and_marked_sent(db, make, smtp, mail_config):
    user = make.user(email="reader@example.test")
    outbox_id = queue(db, user, subject="Booking RC-2025-000001 approved", body="Plain text ✓\n")
    assert outbox(db)[0]["status"] == "pending" and outbox(db)[0]["message_id"] is None

    status, message = deliver(mail_config)

    assert status == "succeeded", message
    assert message.startswith("sent 1,")
    [received] = smtp.messages
    assert received.envelope_to == ["reader@example.test"]
    assert received["To"] == "reader@example.test"
    assert received["From"] == mail_config["MAIL_FROM"]
    assert received["Subject"] == "Booking RC-2025-000001 approved"
    assert received.get_content_type() == "text/plain"
    assert text(received) == "Plain text ✓\n"
    row = outbox(db)[0]
    assert row["id"] == outbox_id and row["status"] == "sent" and row["attempts"] == 1
    assert received["Message-ID"] == row["message_id"]
    assert row["message_id"].endswith("@rapidcare.local>")
    # Nothing left to send: a second run sends nothing.
    assert deliver(mail_config)[1].startswith("sent 0,")
    assert len(smtp.messages) == 1


def test_a_body_that_carries_a_token_is_blanked_once_sent(db, make, smtp, mail_config):
    user = make.user()
    queue(db, user, body="your code: s3cret\n", secret=True)
    queue(db, user, body="a receipt\n", secret=False)
    deliver(mail_config)
    assert [text(m) for m in smtp.messages] == ["your code: s3cret\n", "a receipt\n"]
    assert [row["body"] for row in outbox(db)] == ["", "a receipt\n"]


def test_non_essential_mail_respects_the_users_choice(db, make):
    user = make.user()
    with transaction(db):
        db.execute("UPDATE users SET email_notifications = FALSE WHERE id = ?", (user["id"],))
    user = db.execute("SELECT * FROM users WHERE id = ?", (user["id"],)).fetchone()
    assert queue(db, user, essential=False) is None
    assert queue(db, user, essential=True) is not None
    assert len(outbox(db)) == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(str(tmp_path_factory.mktemp("tls")))


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login(db, make, app, tmp_path, certificate, monkeypatch, security):
    # The client verifies the server's certificate against the default trust store;
    # SSL_CERT_FILE makes the test's self-signed one that store.
    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    tls = {"starttls_cert": certificate} if security == "starttls" else {"ssl_cert": certificate}
    with SmtpServer(hostname="localhost", logins={"mailer": "pa55word"}, **tls) as server:
        config = {**app.config, "SMTP_HOST": "localhost", "SMTP_PORT": server.port,
                  "SMTP_SECURITY": security, "SMTP_USERNAME": "mailer",
                  "SMTP_PASSWORD": "pa55word"}
        user = make.user(email="tls@example.test")
        queue(db, user)
        status, message = deliver(config)
        assert status == "succeeded", message
        assert [m["To"] for m in server.messages] == ["tls@example.test"]

        # A wrong password is refused by the server: nothing is sent, the message waits.
        queue(db, user, subject="second")
        status, message = deliver({**config, "SMTP_PASSWORD": "wrong", "SMTP_TIMEOUT_SECONDS": 2})
        assert status == "failed" and "retrying 1" in message
        assert len(server.messages) == 1
        assert outbox(db)[-1]["status"] == "pending"
        assert outbox(db)[-1]["last_error"].startswith("SMTP")


def test_a_temporary_refusal_is_retried_with_backoff_under_the_same_message_id(db, make, smtp,
                                                                               mail_config):
    user = make.user()
    queue(db, user)
    smtp.recorder.refuse_data = "451 4.3.0 Try again later"
    before = utcnow()
    status, message = deliver(mail_config)
    assert status == "failed" and "retrying 1" in message
    row = outbox(db)[0]
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["last_error"] == "SMTPDataError (SMTP 451)"
    wait = from_iso(row["next_attempt_at"]) - before
    assert timedelta(seconds=delivery.FIRST_RETRY_SECONDS) <= wait < timedelta(
        seconds=delivery.FIRST_RETRY_SECONDS + 30)
    first_id = smtp.recorder.refused[0]["Message-ID"]
    assert first_id == row["message_id"]

    # Not due yet: a run now does not touch it.
    deliver(mail_config)
    assert outbox(db)[0]["attempts"] == 1

    # Second failure: the wait doubles.
    later = utcnow() + timedelta(minutes=2)
    deliver(mail_config, clock=lambda: later)
    row = outbox(db)[0]
    assert row["attempts"] == 2
    assert from_iso(row["next_attempt_at"]) - utcnow() >= timedelta(
        seconds=2 * delivery.FIRST_RETRY_SECONDS - 5)

    smtp.recorder.refuse_data = None
    later = utcnow() + timedelta(minutes=5)
    status, _ = deliver(mail_config, clock=lambda: later)
    assert status == "succeeded"
    [received] = smtp.messages
    assert received["Message-ID"] == first_id
    assert [r["Message-ID"] for r in smtp.recorder.refused] == [first_id, first_id]
    row = outbox(db)[0]
    assert row["status"] == "sent" and row["attempts"] == 3 and row["last_error"] is None


def test_a_permanent_refusal_fails_at_once_and_shows_in_health_and_metrics(client, db, make, world,
                                                                         smtp, mail_config, caplog):
    user = make.user(email="nobody@example.test")
    queue(db, user)
    smtp.recorder.refuse_rcpt = "550 5.1.1 <nobody@example.test>: no such user"
    with caplog.at_level(logging.DEBUG):
        status, message = deliver(mail_config)
    assert status == "failed" and "failed 1" in message
    row = outbox(db)[0]
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == "SMTPRecipientsRefused (SMTP 550)"
    # The server quoted the address; nothing we log or record does.
    assert "nobody@example.test" not in our_log_lines(caplog)
    assert "nobody@example.test" not in (row["last_error"] + message)

    health = client.get("/api/health/detailed", headers=world.headers["admin"]).json
    assert health["status"] == "degraded"
    assert health["mail"]["failedLastDay"] == 1
    assert health["mail"]["messages"]["failed"] == 1
    assert health["mail"]["latestError"]["error"] == "SMTPRecipientsRefused (SMTP 550)"
    assert any("could not be delivered" in w for w in health["warnings"])
    assert any(w.startswith("the last run of job mail-delivery failed at ") for w in health["warnings"])

    metrics = client.get("/metrics", headers=world.headers["admin"]).get_data(as_text=True)
    assert 'rapidcare_mail_messages{status="failed"} 1.0' in metrics
    assert "rapidcare_mail_failed_last_24h 1.0" in metrics


def test_an_unreachable_server_leaves_the_messages_waiting_and_health_says_so(client, db, make, world,
                                                                             app):
    from tests.mail.smtp_server import free_port

    config = {**app.config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port(),
              "SMTP_SECURITY": "none", "SMTP_TIMEOUT_SECONDS": 2}
    user = make.user()
    queue(db, user)
    queue(db, user)
    status, message = deliver(config)
    assert status == "failed" and "retrying 1" in message
    rows = outbox(db)
    # The first failed to connect; the run stopped there instead of failing every message.
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1), ("pending", 0)]
    assert rows[0]["last_error"] == "ConnectionRefusedError"

    in_two_hours = utcnow() + timedelta(hours=2)
    with transaction(db):  # as if the messages had waited for two hours
        db.execute("UPDATE mail_outbox SET created_at = ?, next_attempt_at = ?",
                   ((utcnow() - timedelta(hours=2)).isoformat(), utcnow().isoformat()))
    health = client.get("/api/health/detailed", headers=world.headers["admin"]).json
    assert any("mail is not going out" in w for w in health["warnings"]), health["warnings"]
    assert health["mail"]["oldestUnsentAgeSeconds"] >= 7000
    metrics = client.get("/metrics", headers=world.headers["admin"]).get_data(as_text=True)
    assert 'rapidcare_mail_messages{status="pending"} 2.0' in metrics
    assert in_two_hours  # (the clock the job would see; the rows were aged instead)


def test_a_message_is_given_up_after_the_last_attempt(db, make, smtp, mail_config):
    user = make.user()
    queue(db, user)
    smtp.recorder.refuse_data = "421 4.7.0 Busy"
    with transaction(db):
        db.execute("UPDATE mail_outbox SET attempts = ?", (delivery.MAX_ATTEMPTS - 1,))
    status, message = deliver(mail_config)
    assert status == "failed" and "failed 1" in message
    row = outbox(db)[0]
    assert row["status"] == "failed" and row["attempts"] == delivery.MAX_ATTEMPTS


def test_without_an_smtp_host_mail_is_written_to_the_mail_folder(db, make, app, tmp_path):
    config = {**app.config, "SMTP_HOST": "", "MAIL_DIR": str(tmp_path / "mail")}
    user = make.user(email="dev@example.test")
    outbox_id = queue(db, user, subject="Development", body="See the folder\n")
    status, message = deliver(config)
    assert status == "succeeded", message
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == [f"{outbox_id:08d}-test.eml"]
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "dev@example.test" and parsed["Subject"] == "Development"
    assert parsed["Message-ID"] == outbox(db)[0]["message_id"]
    assert parsed.get_content() == "See the folder\n"
    assert outbox(db)[0]["status"] == "sent"


def test_retry_delays_double_up_to_the_cap():
    assert [delivery.retry_delay(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert delivery.retry_delay(30) == delivery.MAX_RETRY_SECONDS
