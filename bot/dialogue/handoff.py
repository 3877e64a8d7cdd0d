"""What the bot says around a person: the handoff, the relay while they own it, and after."""

from __future__ import annotations

from bot.dialogue import replies
from bot.dialogue.plan import Plan, Say

REASONS = {"complaint": "complaint", "request_human": "customer_request"}


def handoff_reason(intent: str | None, offered: str | None, typed: bool) -> str:
    """Why the customer reaches a person: what they asked for now, not an earlier failure.

    A complaint is a complaint; a typed "I want a real person" is a customer request even after
    a failed flow; "yes" or the offer's button accepts the bot's offer and keeps its reason.
    """
    if intent == "complaint":
        return "complaint"
    if offered and (intent == "affirm" or not typed):
        return offered
    return REASONS.get(intent or "", "customer_request")


def handed_off(intent: str | None, reason: str, ticket_id: int, position: int | None) -> Plan:
    """The ticket is in the queue: where the customer is, and the bot goes quiet."""
    said = Say(
        replies.handoff_text(reason, position),
        meta=replies.meta("handoff", intent, ticket_id=ticket_id, position=position, reason=reason),
    )
    slots = {
        "handoff_active": True,
        "handoff_ticket": float(ticket_id),
        "handoff_offer_reason": None,
        "handoff_relayed": False,
        "unresolved_turns": 0.0,
    }
    return Plan("handoff", (said,), slots)


def handoff_limited(intent: str | None, retry_after: int) -> Plan:
    """No ticket this time: the customer's address asked for people too often; the bot keeps
    helping, and an earlier offer is withdrawn."""
    said = Say(
        replies.handoff_limited_text(retry_after),
        meta=replies.meta("handoff_limited", intent, retry_after=retry_after),
    )
    return Plan("handoff_limited", (said,), {"handoff_offer_reason": None})


def relayed(intent: str | None, ticket_id: int, position: int | None, said_before: bool) -> Plan:
    """A message passed to the ticket: say so once (the agent sees every message)."""
    if said_before:
        return Plan("relay")
    state = "waiting" if position is not None else "agent_joined"
    said = Say(
        replies.relay_text(position),
        meta=replies.meta("handoff", intent, ticket_id=ticket_id, position=position, state=state),
    )
    return Plan("relay", (said,), {"handoff_relayed": True})


def bot_back(intent: str | None, resolved: bool | None = None) -> Plan:
    """The bot answers again: an agent resolved or returned the chat (None: it was closed)."""
    if resolved is None:
        text, extra = replies.BACK_WITH_THE_BOT, {}
    else:
        text = replies.RESOLVED_BY_AGENT if resolved else replies.RETURNED_BY_AGENT
        extra = {"resolved": resolved}
    said = Say(text, meta=replies.meta("handoff", intent, state="bot_back", **extra))
    return Plan("bot_back", (said,), {"handoff_active": False, "handoff_ticket": None})


def declined(intent: str | None) -> Plan:
    """The customer said no to a person: keep helping."""
    said = Say(replies.DECLINED_PERSON, meta=replies.meta("smalltalk", intent))
    return Plan("declined", (said,), {"handoff_offer_reason": None, "unresolved_turns": 0.0})
