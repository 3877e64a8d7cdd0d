"""What the bot says around a person: the handoff, the relay while they own it, and after."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.dialogue import replies
from bot.dialogue.flows import typo_answer
from bot.dialogue.plan import Button, Plan, Say
from bot.dialogue.products import about_products
from bot.mail.typos import suggest
from bot.store.base import extract_email, normalize_email, valid_email

REASONS = {"complaint": "complaint", "request_human": "customer_request"}
# While the team is away, what only the team's ticket gets: asking for a person again, a
# complaint, more detail for them, small talk, what the NLU cannot place. A question or a
# request (a reset, an order, an article) the bot also answers, as it would without a ticket.
FOR_THE_TEAM_ONLY = frozenset(
    {
        "request_human", "complaint", "inform", "greet", "goodbye", "thanks", "affirm", "deny",
        "bot_challenge", "out_of_scope", "nlu_fallback",
    }
)  # fmt: skip

UNRECOGNISED = frozenset({"out_of_scope", "nlu_fallback"})


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
        "guide": None,  # the ticket says which guide was walked; the walk is over
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


def handed_off_away(
    intent: str | None, reason: str, ticket_id: int, back: str | None, email: str | None
) -> Plan:
    """Outside business hours or with nobody signed in: the ticket is open for an answer by
    email; when people are back, and the customer's email (asked for when unknown). No queue
    place: nobody is there to take it. The bot relays what the customer adds to the ticket."""
    said = Say(
        replies.away_text(reason, ticket_id, back, email),
        meta=replies.meta(
            "handoff",
            intent,
            ticket_id=ticket_id,
            position=None,
            reason=reason,
            state="after_hours",
            email_needed=email is None,
        ),
    )
    slots = {
        "handoff_active": True,
        "handoff_ticket": float(ticket_id),
        "handoff_offer_reason": None,
        "handoff_relayed": False,
        "unresolved_turns": 0.0,
        "guide": None,  # the ticket says which guide was walked; the walk is over
    }
    return Plan("handoff", (said,), slots)


def _email_payload(email: str) -> str:
    return "/inform" + json.dumps({"email": email})


def email_check(intent: str | None, ticket_id: int, typed: str, suggestion: str) -> Plan:
    """An obvious typo in the email's domain: ask before keeping either."""
    said = Say(
        replies.EMAIL_TYPO.format(suggestion=suggestion),
        buttons=(
            Button(
                replies.EMAIL_TYPO_YES.format(suggestion=suggestion), _email_payload(suggestion)
            ),
            Button(replies.EMAIL_TYPO_NO.format(typed=typed), _email_payload(typed)),
        ),
        meta=replies.meta("handoff", intent, ticket_id=ticket_id, state="email_check"),
    )
    return Plan("relay", (said,))


def email_noted(intent: str | None, ticket_id: int, email: str) -> Plan:
    """The customer's email is on the ticket: the answer will come there."""
    said = Say(
        replies.EMAIL_NOTED.format(ticket=ticket_id, email=email),
        meta=replies.meta("handoff", intent, ticket_id=ticket_id, state="email_noted"),
    )
    return Plan("relay", (said,), {"handoff_relayed": True, "customer_email": email})


def email_not_valid(intent: str | None, ticket_id: int) -> Plan:
    """Something that tried to be an email and is not one."""
    said = Say(
        replies.EMAIL_NOT_VALID,
        meta=replies.meta("handoff", intent, ticket_id=ticket_id, state="email_invalid"),
    )
    return Plan("relay", (said,))


def relayed_away(intent: str | None, ticket_id: int, email: str | None, said_before: bool) -> Plan:
    """After hours, a message added to the ticket: where the answer will go (said once; without
    an email, the question for one comes with it)."""
    if said_before:
        # nobody will answer before the team is back: a short line, never silence
        text = replies.RELAYED_AGAIN.format(ticket=ticket_id)
        meta = replies.meta("handoff", intent, ticket_id=ticket_id, state="after_hours")
        return Plan("relay", (Say(text, meta=meta),))
    text = replies.RELAYED_FOR_EMAIL.format(email=email) if email else replies.RELAYED_NO_EMAIL
    said = Say(text, meta=replies.meta("handoff", intent, ticket_id=ticket_id, state="after_hours"))
    return Plan("relay", (said,), {"handoff_relayed": True})


def relayed_and_answered(intent: str | None, ticket_id: int, said_before: bool) -> Plan:
    """After hours, a question or a request the bot can handle (a password reset, an order, an
    article): added to the ticket, and the bot answers it as it would any message (its
    decision runs next). Said once, so the customer knows the team sees it too."""
    says: tuple[Say, ...] = ()
    if not said_before:
        meta = replies.meta("handoff", intent, ticket_id=ticket_id, state="after_hours")
        says = (Say(replies.RELAYED_AND_ANSWERING, meta=meta),)
    return Plan("relay", says, {"handoff_relayed": True}, followup="action_kb_answer")


def relayed(
    intent: str | None,
    ticket_id: int,
    position: int | None,
    said_before: bool,
    agent_replied: bool = False,
) -> Plan:
    """A message passed to the ticket: say so once (the agent sees every message). Once the
    agent has written, nobody "joins" any more: the line says the message went to them."""
    if said_before:
        return Plan("relay")
    state = "waiting" if position is not None else "agent_joined"
    said = Say(
        replies.relay_text(position, agent_replied),
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


# Words around an email address that say only "this is my email" (for_the_bot).
EMAIL_WORDS = frozenset(
    {
        "my", "email", "e-mail", "mail", "address", "is", "it's", "it’s", "its", "it", "the",
        "here", "use", "this", "that", "at", "please", "you", "can", "reach", "me", "answer",
        "send", "to", "on", "a", "an", "and", "i", "i'm",
    }
)  # fmt: skip


def for_the_bot(intent: str | None, text: str) -> bool:
    """After hours, a message the bot answers too: a question or a request, not only the team's
    (FOR_THE_TEAM_ONLY), not a button's payload, and more than an email address with the words
    that give it ("my email is ana@example.com" is the email for the answer; "where is order
    123-4567? email ana@example.com" is for the bot)."""
    if text.lstrip().startswith("/"):
        return False
    if intent in UNRECOGNISED and about_products(text):
        return True  # "is the oak board in stock?": the NLU knows no product; the bot does
    if intent in FOR_THE_TEAM_ONLY:
        return False
    words = [w.strip(".,;:!?()\"'").lower() for w in text.split() if "@" not in w]
    return any(w and w not in EMAIL_WORDS for w in words) if "@" in text else bool(words)


@dataclass(frozen=True)
class EmailStep:
    """What an after-hours message leads to: the plan, and the email to keep on the ticket or
    the typo check to remember (the ticket's history holds it, not a slot)."""

    plan: Plan
    keep_email: str | None = None
    suggested: dict | None = None


def after_hours_message(
    intent: str | None,
    ticket_id: int,
    text: str,
    entity_emails: list[str],
    ticket_email: str | None,
    last_suggestion: dict | None,
    said_before: bool,
) -> EmailStep:
    """A message to an after-hours ticket: a question or request the bot can handle is relayed
    and answered (even with an email in it: "where is order 123-4567? email ..."); an email for
    the answer is checked (an obvious domain typo is asked about; the same address sent again
    after the question is what the customer means); the rest is relayed with where the answer
    will go."""
    candidate = next((e for e in entity_emails if e), None) or extract_email(text)
    chosen = _typed_choice(text, intent, last_suggestion, ticket_email) if not candidate else None
    if chosen:  # "yes" / "no, it's right" typed to "Did you mean ...?": as its buttons
        return EmailStep(email_noted(intent, ticket_id, chosen), keep_email=chosen)
    if for_the_bot(intent, text):
        return EmailStep(relayed_and_answered(intent, ticket_id, said_before))
    if candidate is None:
        if "@" in text and not ticket_email:
            return EmailStep(email_not_valid(intent, ticket_id))
        return EmailStep(relayed_away(intent, ticket_id, ticket_email, said_before))
    candidate = normalize_email(candidate).strip(".,;:!?")
    if not valid_email(candidate):
        return EmailStep(email_not_valid(intent, ticket_id))
    if ticket_email and candidate == normalize_email(ticket_email):
        return EmailStep(email_noted(intent, ticket_id, candidate))
    suggestion = suggest(candidate)
    insisted = bool(last_suggestion) and last_suggestion.get("typed") == candidate
    if suggestion and not insisted:
        return EmailStep(
            email_check(intent, ticket_id, candidate, suggestion),
            suggested={"typed": candidate, "suggestion": suggestion},
        )
    return EmailStep(email_noted(intent, ticket_id, candidate), keep_email=candidate)


def _typed_choice(
    text: str, intent: str | None, last: dict | None, ticket_email: str | None
) -> str | None:
    """The address a typed yes or no to a pending "Did you mean ...?" picks (None: no question
    pending, answered already, or not a yes or no)."""
    if not last or not last.get("typed") or not last.get("suggestion"):
        return None
    if ticket_email and normalize_email(ticket_email) in (last["typed"], last["suggestion"]):
        return None  # one of the two was kept since: the question is answered
    answer = typo_answer(text, intent)
    return {"yes": last["suggestion"], "no": last["typed"]}.get(answer or "")
