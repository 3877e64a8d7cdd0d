"""Hand the conversation to a person, stay quiet while they own it, and come back after."""

from __future__ import annotations

import contextlib
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import intent_of, queue, top_intents, transcript
from bot.dialogue.replies import handoff_text, meta, queue_place
from bot.handoff import NewMessage, NewTicket, TicketConflict, TicketNotFound

REASONS = {"complaint": "complaint", "request_human": "customer_request"}


def _routed_intent(tracker: Tracker) -> str | None:
    """The intent the router chose when it sent this message to a person (else None)."""
    if tracker.get_slot("route") != "handoff" or tracker.latest_action_name != "action_kb_answer":
        return None  # not this turn's routing: an earlier handoff's, say
    routes = (tracker.get_slot("last_routing") or {}).get("routes") or [{}]
    label = str(routes[0].get("label") or "")
    return label.split(":", 1)[1] if label.startswith("intent:") else None


def handoff_reason(tracker: Tracker, intent: str | None) -> str:
    """Why the customer reaches a person: what they asked for now, not an earlier failure.

    A complaint is a complaint; a typed "I want a real person" is a customer request even after
    a failed flow; "yes" or the offer's button accepts the bot's offer and keeps its reason.
    """
    offered = tracker.get_slot("handoff_offer_reason")
    typed = not (tracker.latest_message.get("text") or "").startswith("/")
    if intent == "complaint":
        return "complaint"
    if offered and (intent == "affirm" or not typed):
        return offered
    return REASONS.get(intent or "", "customer_request")


class ActionHandoff(Action):
    """Create the ticket with the whole context; the bot goes quiet for this conversation."""

    def name(self) -> str:
        return "action_handoff"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        intent = _routed_intent(tracker) or intent_of(tracker)
        reason = handoff_reason(tracker, intent)
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
        dispatcher.utter_message(
            text=handoff_text(reason, position),
            json_message=meta(
                "handoff", intent, ticket_id=ticket.id, position=position, reason=reason
            ),
        )
        return [
            SlotSet("handoff_active", True),
            SlotSet("handoff_ticket", float(ticket.id)),
            SlotSet("handoff_offer_reason", None),
            SlotSet("handoff_relayed", False),
            SlotSet("unresolved_turns", 0.0),
        ]


class ActionHandoffRelay(Action):
    """While a person owns the chat: add the message to the ticket and give a short status."""

    def name(self) -> str:
        return "action_handoff_relay"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        ticket = queue().active_for_conversation(tracker.sender_id)
        if ticket is None:
            dispatcher.utter_message(
                text="You're back with the assistant. What can I help you with?",
                json_message=meta("handoff", intent_of(tracker), state="bot_back"),
            )
            return [SlotSet("handoff_active", False), SlotSet("handoff_ticket", None)]
        text = tracker.latest_message.get("text") or ""
        with contextlib.suppress(TicketConflict, TicketNotFound):  # closed a moment ago
            queue().add_message(ticket.id, NewMessage(sender="customer", text=text[:4000] or "…"))
        if tracker.get_slot("handoff_relayed"):
            return []  # said once; the agent sees every message in the ticket
        position = queue().position(ticket.id)
        state = "waiting" if position is not None else "agent_joined"
        lead = (
            "I've added that to your request, and I'll add anything else you send."
            if position is not None
            else "I've passed that to the agent, and I'll pass on anything else you send."
        )
        dispatcher.utter_message(
            text=f"{lead} {queue_place(position)}",
            json_message=meta(
                "handoff", intent_of(tracker), ticket_id=ticket.id, position=position, state=state
            ),
        )
        return [SlotSet("handoff_relayed", True)]


class ActionHandoffResumed(Action):
    """An agent resolved the ticket or handed the chat back: the bot answers again."""

    def name(self) -> str:
        return "action_handoff_resumed"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        resolved = intent_of(tracker) == "EXTERNAL_handoff_resolved"
        text = (
            "Our agent has marked your request as resolved. I'm back if you need anything else."
            if resolved
            else "Our agent has handed you back to me. How else can I help?"
        )
        dispatcher.utter_message(
            text=text,
            json_message=meta("handoff", intent_of(tracker), state="bot_back", resolved=resolved),
        )
        return [SlotSet("handoff_active", False), SlotSet("handoff_ticket", None)]


class ActionDeclineHandoff(Action):
    """The customer said no to a person: keep helping."""

    def name(self) -> str:
        return "action_decline_handoff"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            text="No problem. Try asking in other words, or pick a topic: orders, delivery, "
            "returns, payments or your account.",
            json_message=meta("smalltalk", intent_of(tracker)),
        )
        return [SlotSet("handoff_offer_reason", None), SlotSet("unresolved_turns", 0.0)]
