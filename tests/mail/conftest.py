"""Fixtures of the mail tests: a real SMTP server (aiosmtpd) and the configuration
that points the mail-delivery job at it."""
import pytest

from tests.mail.smtp_server import SmtpServer


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_config(app, smtp, tmp_path):
    """The app's configuration with the SMTP server of this test (no TLS, no login)."""
    return {**app.config, "SMTP_HOST": smtp.hostname, "SMTP_PORT": smtp.port,
            "SMTP_SECURITY": "none", "MAIL_DIR": str(tmp_path / "mail")}
