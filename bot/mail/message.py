"""Building one email: addresses checked, a Message-ID made once, threading headers, plain text
(and an HTML alternative when the caller gives one)."""

from __future__ import annotations

import datetime as dt
import secrets
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr


class VerbatimHeader(UnstructuredHeader):
    """A header written as given on one line (an ASCII value up to RFC 5322's 998 characters):
    List-Unsubscribe's `<https://...>` must stay a URL in angle brackets for a mail client's
    one-click unsubscribe (RFC 2369, RFC 8058). The email package would fold a value with one
    word longer than 78 characters into RFC 2047 encoded words, which no client reads as a URL."""

    def fold(self, *, policy) -> str:
        value = str(self)
        line = f"{self.name}: {value}"
        if not value.isascii() or len(line) > 998 or "\r" in value or "\n" in value:
            return super().fold(policy=policy)
        return line + policy.linesep


# SMTP's policy, with the headers that must not be folded or encoded written verbatim
_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", VerbatimHeader)
POLICY = SMTP.clone(header_factory=_HEADERS)


class BadAddress(ValueError):
    """An email address the outbox cannot send to (or from)."""


def domain_of(address: str) -> str:
    """The domain of an address such as 'Support <help@shop.example>' (for Message-IDs)."""
    _, plain = parseaddr(address)
    if "@" not in plain:
        raise BadAddress(f"'{address}' is not an email address")
    return plain.rsplit("@", 1)[1].lower()


def plain_addresses(value: str | list[str]) -> list[str]:
    """The bare addresses of a header value or a list of them; a non-address is refused."""
    values = [value] if isinstance(value, str) else list(value)
    found = [plain for _, plain in getaddresses(values) if plain]
    for plain in found:
        if "@" not in plain or any(c.isspace() for c in plain):
            raise BadAddress(f"'{plain}' is not an email address")
    if not found:
        raise BadAddress("an email needs at least one recipient")
    return found


def new_message_id(sender: str, label: str = "") -> str:
    """A Message-ID on the sender's domain: <label.random@domain>."""
    return make_msgid(
        idstring=f"{label}.{secrets.token_hex(8)}" if label else None, domain=domain_of(sender)
    )


def compose(
    sender: str,
    to: str | list[str],
    subject: str,
    body: str,
    *,
    message_id: str | None = None,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    extra_headers: dict[str, str] | None = None,
    now: dt.datetime | None = None,
    automatic: bool = False,
    html: str | None = None,
) -> EmailMessage:
    """A plain-text email (UTF-8, quoted-printable) with its Message-ID fixed now; with html,
    multipart/alternative with that HTML as the second part (the caller escapes it); automatic
    marks a notice nobody should answer (RFC 3834 Auto-Submitted: no vacation replies), never
    the handoff a helpdesk must turn into a ticket."""
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = ", ".join(plain_addresses(to))
    message["Subject"] = " ".join(subject.split())[:250]  # never a header on several lines
    message["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    message["Message-ID"] = message_id or new_message_id(sender)
    if reply_to:
        message["Reply-To"] = reply_to
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    if automatic:
        message["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        message[name] = value
    message.set_content(body, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


def mailbox(name: str | None, address: str) -> str:
    """'Name <address>' with the name quoted as needed."""
    user, _, domain = address.partition("@")
    return str(Address(display_name=name or "", username=user, domain=domain))
