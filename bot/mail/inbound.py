"""Agents' replies by email reaching the customer's chat.

Each ticket has its own reply address, reply+<ticket>.<signature>@inbound_mail_domain, where the
signature is an HMAC of the ticket id under inbound_mail_secret: an address cannot be guessed
for another ticket. The domain's MX points at an inbound-parse service (Mailgun Routes, Postmark
Inbound, SendGrid Inbound Parse, or any that POSTs the email), which POSTs each email to
/api/mail/inbound?token=<inbound token>; parse() reads the fields those services send (form or
JSON) and the web app adds the reply to the ticket as the agent's message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr

ADDRESS = re.compile(r"^reply\+(\d{1,10})\.([0-9a-f]{16})@(.+)$", re.IGNORECASE)
# A reply's quoted history starts at one of these lines; only the new text goes to the chat.
QUOTE_START = re.compile(
    r"^(>|On .{0,200}wrote:\s*$|-{2,}\s*Original Message\s*-{2,}|From: .+@)", re.IGNORECASE
)
MAX_REPLY = 4000
# The name an emailed reply is written under in the ticket (and shown in the chat).
EMAIL_AGENT = "Support team (email)"


def _signature(secret: str, ticket_id: int) -> str:
    return hmac.new(secret.encode(), f"ticket:{ticket_id}".encode(), hashlib.sha256).hexdigest()[
        :16
    ]


def reply_address(secret: str, domain: str, ticket_id: int) -> str:
    """The ticket's signed reply address."""
    return f"reply+{ticket_id}.{_signature(secret, ticket_id)}@{domain}"


def inbound_token(secret: str) -> str:
    """The token the inbound-parse service adds to the webhook's URL."""
    return hmac.new(secret.encode(), b"inbound-webhook", hashlib.sha256).hexdigest()[:32]


def ticket_of(secret: str, domain: str, recipients: str) -> int | None:
    """The ticket whose signed reply address is among recipients (None: none is, or forged)."""
    for _, address in getaddresses([recipients]):
        match = ADDRESS.match(address.strip())
        if not match or match.group(3).lower() != domain.lower():
            continue
        ticket_id = int(match.group(1))
        if hmac.compare_digest(match.group(2).lower(), _signature(secret, ticket_id)):
            return ticket_id
    return None


def new_text(body: str) -> str:
    """The reply without the quoted email under it (and without a signature after '-- ')."""
    kept = []
    for line in body.replace("\r\n", "\n").split("\n"):
        if QUOTE_START.match(line.strip()) or line == "-- ":
            break
        kept.append(line)
    return "\n".join(kept).strip()[:MAX_REPLY]


@dataclass(frozen=True)
class InboundReply:
    """What an inbound-parse service POSTed, reduced to what the chat needs."""

    recipients: str
    sender: str
    text: str


def parse(fields: dict) -> InboundReply:
    """Read Mailgun's ('recipient', 'sender', 'stripped-text'/'body-plain'), Postmark's
    ('OriginalRecipient'/'To', 'From', 'StrippedTextReply'/'TextBody') or SendGrid's ('to',
    'from', 'text') fields; a missing recipient or text is a ValueError naming it."""

    def first(*names: str) -> str:
        for name in names:
            value = fields.get(name)
            if isinstance(value, str) and value.strip():
                return value
        return ""

    recipients = first("recipient", "OriginalRecipient", "To", "to")
    if not recipients:
        raise ValueError("the email has no recipient (recipient, To or to)")
    stripped = first("stripped-text", "StrippedTextReply")
    text = (
        stripped.strip()[:MAX_REPLY]
        if stripped
        else new_text(first("body-plain", "TextBody", "text"))
    )
    if not text:
        raise ValueError("the email has no text (stripped-text, body-plain, TextBody or text)")
    sender = parseaddr(first("sender", "from", "From"))[1]
    return InboundReply(recipients=recipients, sender=sender, text=text)
