"""A real SMTP server for the tests: aiosmtpd in a thread of the test process.

``SmtpServer`` records every message it accepts (as parsed email messages, with
the envelope's recipients), can refuse recipients or data with a given reply
code, can require STARTTLS and a login, or speak implicit TLS, and can run a
callback after storing a message and before replying 250 (the crash test kills
the scheduler there: the server has the message, the client never heard "250").
"""
import email
import email.policy
import os
import socket
import subprocess
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed_certificate(directory):
    """(cert path, key path) of a certificate for "localhost", made with openssl."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


class Recorder:
    """The aiosmtpd handler: stores accepted messages; refusals on demand."""

    def __init__(self):
        self.messages = []  # email.message.EmailMessage, with .envelope_to set
        self.refuse_rcpt = None  # "550 No such user" etc.: refuse every recipient
        self.refuse_data = None  # "451 Try later": refuse after reading the data
        self.after_store = None  # callable(message), run before the 250 reply
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message.envelope_to = list(envelope.rcpt_tos)
        message.envelope_from = envelope.mail_from
        if self.refuse_data:
            with self.lock:
                self.refused = getattr(self, "refused", []) + [message]
            return self.refuse_data
        with self.lock:
            self.messages.append(message)
        if self.after_store is not None:
            self.after_store(message)
        return "250 Message accepted for delivery"


class _TlsController(Controller):
    """Controller whose readiness probe can speak implicit TLS (aiosmtpd's own probe
    would wrap the socket with the server's context)."""

    def _trigger_server(self):
        import ssl

        client = ssl.create_default_context()
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        with socket.create_connection((self.hostname, self.port), 2.0) as raw:
            with client.wrap_socket(raw, server_hostname=self.hostname) as tls:
                tls.recv(1024)


class SmtpServer:
    """``with SmtpServer() as server:`` then server.port, server.messages."""

    def __init__(self, *, hostname="127.0.0.1", starttls_cert=None, ssl_cert=None, logins=None):
        self.recorder = Recorder()
        self.hostname = hostname
        self.port = free_port()
        self.logins = logins  # {"user": "password"}: AUTH required
        kwargs = {}
        controller_class = Controller
        if starttls_cert:
            kwargs["tls_context"] = self._server_context(starttls_cert)
            kwargs["require_starttls"] = True
        if ssl_cert:
            kwargs["ssl_context"] = self._server_context(ssl_cert)
            # aiosmtpd does not count implicit TLS as TLS for AUTH; the session is encrypted.
            kwargs["auth_require_tls"] = False
            controller_class = _TlsController
        if logins:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
        self.controller = controller_class(self.recorder, hostname=hostname, port=self.port, **kwargs)

    @staticmethod
    def _server_context(cert_and_key):
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert_and_key)
        return context

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and self.logins.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok)

    @property
    def messages(self):
        with self.recorder.lock:
            return list(self.recorder.messages)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

