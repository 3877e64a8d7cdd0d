"""The mail server from smtp_url, and one email handed to it.

smtp://user:pass@host:587 speaks STARTTLS and refuses to go on without it (a password is never
sent in clear); smtps://user:pass@host:465 is TLS from the first byte; smtp+insecure://host:25 is
plain SMTP, meant for a relay on this machine. User and password are percent-decoded. Nothing
here logs the URL: `where` (scheme, host and port) is what errors and logs name.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

SCHEMES = {"smtp": 587, "smtps": 465, "smtp+insecure": 25}


class MailConfigError(ValueError):
    """smtp_url cannot be used; the message says why (without the password)."""


class DeliveryError(RuntimeError):
    """The mail server did not take the email; permanent when retrying cannot help (5xx)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to reach the mail server (parsed from smtp_url)."""

    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    timeout: float = 20.0
    # the TLS context checks the server's certificate; tests pass one that trusts their own
    context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_url(
        cls, url: str, timeout: float = 20.0, context: ssl.SSLContext | None = None
    ) -> SmtpServer:
        """Parse smtp_url; a wrong scheme or a missing host is a MailConfigError."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise MailConfigError(f"smtp_url is not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise MailConfigError(f"smtp_url: scheme '{scheme}' is not one of {', '.join(SCHEMES)}")
        if not parts.hostname:
            raise MailConfigError("smtp_url has no host, e.g. smtp://user:pass@mail.example:587")
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port or SCHEMES[scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
            context=context,
        )

    @property
    def where(self) -> str:
        """scheme://host:port, with no user or password: for logs and errors."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def _tls(self) -> ssl.SSLContext:
        return self.context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if self.scheme == "smtp":
                if not client.has_extn("starttls"):
                    raise DeliveryError(
                        f"{self.where} does not offer STARTTLS; refusing plain text"
                    )
                client.starttls(context=self._tls())
                client.ehlo()
            if self.username:
                client.login(self.username, self.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def send(self, sender: str, recipients: list[str], raw: str) -> None:
        """Hand one email to the server; raises DeliveryError saying why it did not take it."""
        try:
            client = self._connect()
            try:
                refused = client.sendmail(sender, recipients, raw.encode("utf-8"))
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"{self.where} refused every recipient: {_codes(exc.recipients)}",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{self.where} refused the user and password ({exc.smtp_code})"
            ) from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            raise DeliveryError(
                f"{self.where} refused the email: {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=exc.smtp_code >= 500,
            ) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise DeliveryError(f"{self.where}: {exc.__class__.__name__}: {exc}") from None
        if refused:
            # some recipients took it: sending again would repeat it to them, so it counts as
            # sent and the refusals are reported by the caller's log
            raise PartialDelivery(f"{self.where} refused {_codes(refused)}")


class PartialDelivery(DeliveryError):
    """Some recipients took the email and some did not (it is not sent again)."""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _codes(refused: dict) -> str:
    return ", ".join(f"{rcpt} ({code} {_text(msg)})" for rcpt, (code, msg) in refused.items())
