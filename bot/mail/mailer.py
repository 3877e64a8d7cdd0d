"""Which emails a ticket sends, queued in the ticket's own transaction (HandoffQueue's mail):
the handoff to the team's address, the customer's later messages in its thread, agents' notices."""

from __future__ import annotations

import logging

from sqlalchemy import Connection

from bot.mail.inbound import EMAIL_AGENT, reply_address
from bot.mail.message import BadAddress
from bot.mail.outbox import Outbox
from bot.mail.tickets import agent_notice, answer_email, followup_email, handoff_email

log = logging.getLogger(__name__)


class TicketMailer:
    """Queues a ticket's emails in the outbox; the mail worker sends them."""

    def __init__(
        self,
        outbox: Outbox,
        sender: str,
        public_url: str,
        team_address: str | None = None,
        agent_addresses: list[str] | None = None,
        agent_reasons: list[str] | None = None,
        inbound: tuple[str, str] | None = None,  # (secret, domain) of the reply addresses
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.public_url = public_url
        self.team_address = team_address
        self.agent_addresses = agent_addresses or []
        self.agent_reasons = set(agent_reasons or [])
        self.inbound = inbound

    @classmethod
    def from_settings(cls, settings, outbox: Outbox) -> TicketMailer:
        """The mailer the settings ask for. There is always one: an agent's answer to an
        after-hours ticket goes to the customer's email even when the team gets no emails."""
        inbound = None
        if settings.inbound_mail_domain:
            inbound = (inbound_secret(settings), settings.inbound_mail_domain)
        return cls(
            outbox,
            settings.mail_from,
            settings.public_url,
            settings.handoff_email_to,
            settings.agent_notify_emails,
            settings.agent_notify_reasons,
            inbound,
        )

    def reply_address(self, ticket_id: int) -> str | None:
        """The ticket's signed reply address, when inbound mail is set up."""
        if self.inbound is None:
            return None
        secret, domain = self.inbound
        return reply_address(secret, domain, ticket_id)

    def ticket_created(self, conn: Connection, ticket: dict) -> None:
        """The handoff email to the team, and the agents' notice when its reason is wanted."""
        try:
            if self.team_address:
                self.outbox.enqueue(
                    handoff_email(
                        ticket,
                        self.sender,
                        self.team_address,
                        self.public_url,
                        self.reply_address(ticket["id"]),
                    ),
                    "handoff",
                    dedupe_key=f"ticket:{ticket['id']}:{ticket['created_at']}:created",
                    ticket_id=ticket["id"],
                    conn=conn,
                )
            wanted = not self.agent_reasons or ticket["reason"] in self.agent_reasons
            if self.agent_addresses and wanted:
                self.outbox.enqueue(
                    agent_notice(ticket, self.sender, self.agent_addresses, self.public_url),
                    "agent_notice",
                    dedupe_key=f"ticket:{ticket['id']}:{ticket['created_at']}:notice",
                    ticket_id=ticket["id"],
                    conn=conn,
                )
        except BadAddress as exc:  # a settings mistake must not lose the ticket itself
            log.error("ticket %s: its email was not queued: %s", ticket["id"], exc)

    def message_added(self, conn: Connection, ticket: dict, message: dict) -> None:
        """A later message of the ticket: the customer's (or the bot's note) joins the ticket's
        thread at the team's address; an agent's answer to an after-hours ticket goes to the
        customer's email (unless it came from the helpdesk, which wrote to them already)."""
        try:
            sender = message.get("sender")
            if sender in ("customer", "system") and self.team_address:
                self.outbox.enqueue(
                    followup_email(
                        ticket,
                        message,
                        self.sender,
                        self.team_address,
                        self.reply_address(ticket["id"]),
                    ),
                    "handoff_followup",
                    ticket_id=ticket["id"],
                    conn=conn,
                )
            elif sender == "agent" and ticket.get("after_hours") and ticket.get("customer_email"):
                verified = (ticket.get("verified") or {}).get("email")
                by_email = message.get("actor") == EMAIL_AGENT
                if by_email and verified == ticket["customer_email"]:
                    return  # the helpdesk answered the customer (Reply-To) itself
                self.outbox.enqueue(
                    answer_email(ticket, message, self.sender, self.team_address),
                    "answer",
                    ticket_id=ticket["id"],
                    conn=conn,
                )
        except BadAddress as exc:
            log.error("ticket %s: a follow-up email was not queued: %s", ticket["id"], exc)


def inbound_secret(settings) -> str:
    """inbound_mail_secret, or the one generated once in data_dir/inbound-mail.key."""
    if settings.inbound_mail_secret:
        return settings.inbound_mail_secret
    from bot.tokens import stored_secret

    return stored_secret(settings.data_dir / "inbound-mail.key")


def open_outbox(settings, engine) -> Outbox:
    """The outbox over the handoff database's engine, with the settings' retry policy."""
    return Outbox(
        engine,
        max_attempts=settings.mail_max_attempts,
        backoff_seconds=settings.mail_backoff_seconds,
        backoff_max_seconds=settings.mail_backoff_max_seconds,
        lease_seconds=settings.mail_lease_seconds,
    )
