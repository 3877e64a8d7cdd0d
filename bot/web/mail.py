"""POST /api/mail/inbound: an agent's reply by email reaches the customer's chat.

An inbound-parse service (Mailgun Routes, Postmark Inbound, SendGrid Inbound Parse) POSTs each
email sent to a ticket's reply address here, with ?token=<inbound token> in the URL (`bot mail
inbound-url` prints it). The reply address is signed per ticket (bot.mail.inbound), so a
forged or mistyped address is refused; the text without its quoted history becomes the
agent's message in the ticket, which the chat shows like any agent's reply.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from bot.handoff import HandoffQueue, NewMessage, TicketConflict, TicketNotFound
from bot.mail.inbound import EMAIL_AGENT, inbound_token, parse, ticket_of
from bot.mail.mailer import inbound_secret
from bot.settings import Settings

log = logging.getLogger(__name__)


def build_router(settings: Settings, queue: HandoffQueue) -> APIRouter:
    """The inbound-email webhook (404 until inbound_mail_domain is set)."""
    router = APIRouter(tags=["mail"])

    @router.post("/api/mail/inbound")
    async def inbound(
        request: Request,
        token: Annotated[str, Query(max_length=128, description="The inbound token.")] = "",
    ) -> dict:
        """Add an emailed reply to its ticket; 403 for a wrong token or reply address."""
        domain = settings.inbound_mail_domain
        if not domain:
            raise HTTPException(404, "Inbound email is not set up (inbound_mail_domain).")
        secret = inbound_secret(settings)
        if not hmac.compare_digest(token.encode(), inbound_token(secret).encode()):
            raise HTTPException(403, "The token in the URL is not this bot's inbound token.")
        kind = request.headers.get("content-type", "")
        try:
            if kind.startswith("application/json"):
                fields = json.loads(await request.body())
                if not isinstance(fields, dict):
                    raise ValueError("the JSON body is not an object")
            else:
                fields = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            reply = parse(fields)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HTTPException(422, f"Not an inbound email: {exc}") from None
        ticket_id = ticket_of(secret, domain, reply.recipients)
        if ticket_id is None:
            raise HTTPException(403, "No recipient is a valid reply address of a ticket.")
        try:
            queue.add_message(ticket_id, NewMessage(sender="agent", text=reply.text), EMAIL_AGENT)
        except TicketNotFound:
            raise HTTPException(404, f"Ticket {ticket_id} doesn't exist.") from None
        except TicketConflict as exc:
            raise HTTPException(409, str(exc)) from None
        log.info("inbound email added to ticket %s", ticket_id)
        return {"ticket_id": ticket_id, "added": True}

    return router
