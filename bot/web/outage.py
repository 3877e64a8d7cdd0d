"""What the chat gateway says when the bot's actions cannot run (the action server is down).

Rasa answers a turn whose custom actions fail with nothing at all. The gateway notices (no
reply, the action server's health check fails, no person owns the conversation) and, instead of
silence, adds to the conversation either
- an apology with a "Talk to a person" button, or
- when the customer asked for a person (that button, or in their own words), a ticket in the
  handoff queue with the transcript, the same reply and conversation state as `action_handoff`
  gives (the handoff slots set in Rasa's tracker), so the bot stays quiet while an agent owns
  the conversation and comes back when they resolve it.
"""

from __future__ import annotations

import logging

from bot.conversations import ConversationLog, transcript_lines
from bot.dialogue.replies import TALK_TO_A_PERSON, UNAVAILABLE, handoff_text, meta
from bot.handoff import HandoffQueue, NewTicket
from bot.web.rasa_client import RasaClient

logger = logging.getLogger("bot.turns")

APOLOGY = UNAVAILABLE
OFFER = [{"title": TALK_TO_A_PERSON.title, "payload": TALK_TO_A_PERSON.payload}]
ASKS_FOR_PERSON = frozenset({"request_human", "complaint"})


class Outage:
    """The gateway's replies while the actions are down."""

    def __init__(self, queue: HandoffQueue, rasa: RasaClient, log: ConversationLog) -> None:
        self.queue, self.rasa, self.log = queue, rasa, log

    def reply(self, conversation_id: str) -> None:
        """Answer the turn that got nothing (raises RasaUnavailable when Rasa is down too)."""
        events = self.log.events(conversation_id)
        intent = _latest_intent(events)
        if intent in ASKS_FOR_PERSON:
            self._hand_over(conversation_id, events, intent)
            return
        logger.error("turn conversation=%s outcome=actions_unavailable", conversation_id)
        self.rasa.say(conversation_id, APOLOGY, OFFER, meta("unavailable", intent))

    def _hand_over(self, conversation_id: str, events: list[dict], intent: str) -> None:
        reason = "complaint" if intent == "complaint" else "customer_request"
        lines = [{**line, "text": line["text"][:4000]} for line in transcript_lines(events)]
        ticket, _ = self.queue.create(
            NewTicket(
                conversation_id=conversation_id,
                reason=reason,
                transcript=lines,
                idempotency_key=f"{conversation_id}:outage:{events[-1].get('row', len(events))}",
            )
        )
        position = self.queue.position(ticket.id)
        logger.error(
            "turn conversation=%s outcome=handoff (actions unavailable) ticket=%s",
            conversation_id,
            ticket.id,
        )
        self.rasa.say(
            conversation_id,
            handoff_text(reason, position),
            [],
            meta("handoff", intent, ticket_id=ticket.id, position=position, reason=reason),
            then=[  # what action_handoff sets, so Rasa knows a person owns the conversation
                {"event": "slot", "name": "handoff_active", "value": True},
                {"event": "slot", "name": "handoff_ticket", "value": float(ticket.id)},
                {"event": "slot", "name": "handoff_offer_reason", "value": None},
                {"event": "slot", "name": "handoff_relayed", "value": False},
                {"event": "slot", "name": "unresolved_turns", "value": 0.0},
            ],
        )


def _latest_intent(events: list[dict]) -> str | None:
    """The intent Rasa's NLU gave the customer's last message."""
    for item in reversed(events):
        if item.get("event") == "user":
            return ((item.get("parse_data") or {}).get("intent") or {}).get("name")
    return None
