"""A real SMTP server for the email tests (aiosmtpd on a free loopback port): plain, STARTTLS
with a certificate made for the test, TLS from the start, AUTH; it keeps what it received and
can be stopped and started again on the same port (a mail-server outage)."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.stack.ports import free_port


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp.crt", folder / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Received:
    """One email the server took."""

    sender: str
    recipients: list[str]
    data: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        """Parsed with Python's email package."""
        return email.message_from_bytes(self.data, policy=default)


@dataclass
class Handler:
    """aiosmtpd's handler: keeps every email."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
            )
        return "250 OK"


class Authenticator:
    """Accepts one user and password."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


class SmtpTestServer:
    """aiosmtpd on 127.0.0.1: mode 'plain', 'starttls' or 'tls' (implicit); AUTH when given."""

    def __init__(
        self,
        folder: Path,
        mode: str = "plain",
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.mode = mode
        self.auth = auth
        self.port = free_port()
        self.handler = Handler()
        self.cert = self.key = None
        if mode != "plain":
            self.cert, self.key = make_certificate(folder)
        self.controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        """What it has taken so far (across restarts)."""
        with self.handler.lock:
            return list(self.handler.received)

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this server's certificate (and checks it)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context

    def start(self) -> SmtpTestServer:
        """Listen (again) on the same port."""
        kwargs: dict = {}
        if self.mode == "starttls":
            kwargs.update(tls_context=self._server_context(), require_starttls=True)
        if self.mode == "tls":
            kwargs.update(ssl_context=self._server_context())
        if self.auth:
            kwargs.update(
                authenticator=Authenticator(*self.auth),
                auth_required=True,
                # aiosmtpd counts only STARTTLS as TLS (implicit TLS is TLS all the same)
                auth_require_tls=self.mode == "starttls",
            )
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kwargs
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening (what it received stays)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def url(self, scheme: str = "smtp+insecure", user: str = "", password: str = "") -> str:
        """The smtp_url for this server."""
        cred = f"{user}:{password}@" if user else ""
        return f"{scheme}://{cred}127.0.0.1:{self.port}"
