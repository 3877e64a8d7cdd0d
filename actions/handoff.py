"""Hand the conversation to a person, stay quiet while they own it, and come back after."""

from __future__ import annotations

import contextlib
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import intent_of, limits, queue, render, settings, top_intents, transcript
from bot.dialogue.handoff import (
    bot_back,
    declined,
    handed_off,
    handoff_limited,
    handoff_reason,
    relayed,
)
from bot.handoff import NewMessage, NewTicket, TicketConflict, TicketNotFound
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
                transcript=[{**m, "text": m["text"][:4000]} for m in transcript(tracker)],
                idempotency_key=f"{tracker.sender_id}:{len(tracker.events)}",
            )
        )
        position = queue().position(ticket.id)
        return render(dispatcher, handed_off(intent, reason, ticket.id, position))


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
        with contextlib.suppress(TicketConflict, TicketNotFound):  # closed a moment ago
            queue().add_message(ticket.id, NewMessage(sender="customer", text=text[:4000] or "…"))
        said_before = bool(tracker.get_slot("handoff_relayed"))
        position = None if said_before else queue().position(ticket.id)
        return render(dispatcher, relayed(intent_of(tracker), ticket.id, position, said_before))


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
