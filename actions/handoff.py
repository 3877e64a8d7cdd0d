"""Hand the conversation to a person, stay quiet while they own it, and come back after."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import intent_of, limits, queue, render, settings, top_intents, transcript
from bot.conversations import button_titles, products_discussed, said
from bot.dialogue.guides import Walk
from bot.dialogue.handoff import (
    after_hours_message,
    bot_back,
    declined,
    email_noted,
    handed_off,
    handed_off_away,
    handoff_limited,
    handoff_reason,
    relayed,
)
from bot.dialogue.replies import when_back
from bot.handoff import NewMessage, NewTicket, TicketConflict, TicketNotFound
from bot.handoff.availability import current
from bot.handoff.queue import Ticket
from bot.hours import customer_zone
from bot.web.limits import ticket_refused


def _routed_intent(tracker: Tracker) -> str | None:
    """The intent the router chose when it sent this message to a person (else None)."""
    if tracker.get_slot("route") != "handoff" or tracker.latest_action_name != "action_kb_answer":
        return None  # not this turn's routing: an earlier handoff's, say
    routes = (tracker.get_slot("last_routing") or {}).get("routes") or [{}]
    label = str(routes[0].get("label") or "")
    return label.split(":", 1)[1] if label.startswith("intent:") else None


class ActionHandoff(Action):
    """Create the ticket with the whole context; the bot goes quiet for this conversation."""

    def name(self) -> str:
        return "action_handoff"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        intent = _routed_intent(tracker) or intent_of(tracker)
        client = (tracker.latest_message.get("metadata") or {}).get("client")
        refused = ticket_refused(limits(), settings(), client)
        if refused is not None:
            return render(dispatcher, handoff_limited(intent, refused.retry_after))
        typed = not (tracker.latest_message.get("text") or "").startswith("/")
        reason = handoff_reason(intent, tracker.get_slot("handoff_offer_reason"), typed)
        now = dt.datetime.now(dt.UTC)
        available = current(settings(), queue().engine, now)
        walk = Walk.from_slot(tracker.get_slot("guide"))
        ticket, _ = queue().create(
            NewTicket(
                conversation_id=tracker.sender_id,
                reason=reason,
                # verified (or given for a reset), never the form's last attempt or a typo
                customer_email=tracker.get_slot("customer_email"),
                order_number=tracker.get_slot("verified_order_number"),
                # the pair the store confirmed (an order found with that email): marked verified
                verified={
                    "email": tracker.get_slot("verified_email"),
                    "order_number": tracker.get_slot("verified_order_number"),
                },
                intents=top_intents(tracker),
                articles=(tracker.get_slot("kb_articles_tried") or [])[-5:],
                products=products_discussed(tracker.events),
                guide=walk.for_ticket() if walk else None,
                transcript=[{**m, "text": m["text"][:4000]} for m in transcript(tracker)],
                idempotency_key=f"{tracker.sender_id}:{len(tracker.events)}",
                after_hours=not available.live,
            )
        )
        if ticket.after_hours:
            zone = customer_zone(tracker.latest_message.get("metadata"))
            back = when_back(available.back_at, now, zone) if available.back_at else None
            email = ticket.customer_email
            plan = handed_off_away(intent, reason, ticket.id, back, email)
        else:
            plan = handed_off(intent, reason, ticket.id, queue().position(ticket.id))
        return render(dispatcher, plan)


class ActionHandoffRelay(Action):
    """While a person owns the chat: add the message to the ticket and give a short status."""

    def name(self) -> str:
        return "action_handoff_relay"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        ticket = queue().active_for_conversation(tracker.sender_id)
        if ticket is None:
            return render(dispatcher, bot_back(intent_of(tracker)))
        text = tracker.latest_message.get("text") or ""
        # the agent reads what the customer saw: a button's title, not its payload
        last = next((e for e in reversed(tracker.events) if e.get("event") == "user"), {})
        shown = said(last, button_titles(tracker.events)) if text.startswith("/") else text
        with contextlib.suppress(TicketConflict, TicketNotFound):  # closed a moment ago
            queue().add_message(ticket.id, NewMessage(sender="customer", text=shown[:4000] or "…"))
        said_before = bool(tracker.get_slot("handoff_relayed"))
        if ticket.after_hours and ticket.status == "open":
            emails = [e.get("value") for e in tracker.latest_message.get("entities") or []
                      if e.get("entity") == "email"]  # fmt: skip
            return render(
                dispatcher, _after_hours(ticket, intent_of(tracker), text, emails, said_before)
            )
        agent_replied = any(m["sender"] == "agent" for m in ticket.transcript)
        position = None if said_before else queue().position(ticket.id)
        return render(
            dispatcher,
            relayed(intent_of(tracker), ticket.id, position, said_before, agent_replied),
        )


def _after_hours(
    ticket: Ticket, intent: str | None, text: str, emails: list[str], said_before: bool
):
    """The after-hours step for a message: keep the email or remember the typo question."""
    last = next(
        (e["detail"] for e in reversed(ticket.events) if e["kind"] == "email_suggested"), None
    )
    step = after_hours_message(
        intent, ticket.id, text, emails, ticket.customer_email, last, said_before
    )
    with contextlib.suppress(TicketConflict, TicketNotFound):
        if step.keep_email:
            kept = queue().set_contact_email(ticket.id, step.keep_email).customer_email
            if kept and kept != step.keep_email:  # the store's verified email stays
                return email_noted(intent, ticket.id, kept)
        elif step.suggested:
            queue().note(ticket.id, "email_suggested", "bot", step.suggested)
    return step.plan


class ActionHandoffResumed(Action):
    """An agent resolved the ticket or handed the chat back: the bot answers again."""

    def name(self) -> str:
        return "action_handoff_resumed"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        intent = intent_of(tracker)
        return render(dispatcher, bot_back(intent, resolved=intent == "EXTERNAL_handoff_resolved"))


class ActionDeclineHandoff(Action):
    """The customer said no to a person: keep helping."""

    def name(self) -> str:
        return "action_decline_handoff"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        return render(dispatcher, declined(intent_of(tracker)))
