"""What a flow starts with: the details in the customer's message, and corrections after a failure.

Each flow asks for what it needs unless the customer gave it in this request. A flow never starts
with another flow's email or order number (a reset's email is not the order's email); the only
details carried over are the ones the customer gave in the message just before (an email on its
own, then "track my order"), or the half of a failed lookup they did not correct ("I couldn't
find that order" and then only the right email). `bot.dialogue.decision` calls these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from bot.store.base import extract_email, extract_order_number, order_numbers_in, valid_email

FLOWS = ("reset_password", "track_order")
# What a flow needs from the customer, in the order the form asks.
NEEDS = {"reset_password": ("email",), "track_order": ("order_number", "email")}


@dataclass(frozen=True)
class Details:
    """The email and the order number a customer's message contains, normalised."""

    email: str | None = None
    order_number: str | None = None
    more_orders: tuple[str, ...] = ()  # other order numbers in the same message, in order

    def __bool__(self) -> bool:
        return bool(self.email or self.order_number)

    def as_slots(self) -> dict[str, str | None]:
        """The form slots these details fill."""
        return {"email": self.email, "order_number": self.order_number}


def details_in(text: str, entities: list[dict] | None = None) -> Details:
    """The details in a message: the NLU's entities first, else what the patterns find."""
    found = {e.get("entity"): str(e.get("value") or "") for e in entities or []}
    email = extract_email(found.get("email") or "") or extract_email(text or "")
    number = extract_order_number(found.get("order_number") or "") or extract_order_number(
        text or ""
    )
    more = tuple(n for n in order_numbers_in(text or "") if n != number)
    return Details(
        email.strip().lower() if email and valid_email(email) else None,
        number,
        more if number else (),
    )


# "and 814-7821 too", "also 123-4567": another order besides the one being looked up
ANOTHER = re.compile(
    r"^\W*(?:and|also|plus|what about|how about)\b|\b(?:too|as well|another|both|also|other)\b",
    re.IGNORECASE,
)


def adds_another(text: str) -> bool:
    """Whether a message with an order number adds an order rather than correcting one."""
    return bool(ANOTHER.search(text or ""))


def looks_like_a_bad_order_number(text: str) -> bool:
    """A run of 6-9 digits (with a dash or a space) that is not a valid order number."""
    return extract_order_number(text) is None and bool(
        re.search(r"(?<![\w@.])#?\d{2,4}[\s-]?\d{3,5}(?![\w@])", text)
    )


@dataclass(frozen=True)
class FlowContext:
    """The last flow and how it ended, kept in the `flow_context` slot between turns."""

    flow: str | None
    state: str  # started, not_found, found, sent, rate_limited, details
    turn: int  # the customer message (counted from 1) it belongs to
    email: str | None = None
    order_number: str | None = None
    queued: tuple[str, ...] = ()  # more orders to look up after this one, with the same email

    @classmethod
    def from_slot(cls, value: Any) -> FlowContext | None:
        """Read the slot; anything malformed counts as no context."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                flow=value.get("flow"),
                state=str(value["state"]),
                turn=int(value["turn"]),
                email=value.get("email"),
                order_number=value.get("order_number"),
                queued=tuple(str(n) for n in value.get("queued") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_slot(self) -> dict[str, Any]:
        """The slot's value."""
        return {
            "flow": self.flow,
            "state": self.state,
            "turn": self.turn,
            "email": self.email,
            "order_number": self.order_number,
            "queued": list(self.queued),
        }


def correction(context: FlowContext | None, details: Details, turn: int) -> str | None:
    """The flow a details-only message right after a flow's end corrects, if any.

    After "I couldn't find that order", a new email or order number retries the lookup; after a
    reset link was sent, a new email is a corrected address.
    """
    if context is None or context.turn != turn - 1 or not details:
        return None
    if context.flow == "track_order" and context.state == "not_found":
        return "track_order"
    if context.flow == "reset_password" and context.state in {"sent", "rate_limited"}:
        return "reset_password" if details.email else None
    return None


def starting_slots(
    flow: str,
    details: Details,
    context: FlowContext | None,
    turn: int,
    verified_email: str | None = None,
) -> dict[str, str | None]:
    """The form slots a flow starts with: this message's details, else ones given just before.

    Details given in the customer's previous message (on their own, or as the uncorrected half
    of a failed lookup) are carried over; nothing older is, except the email an order was
    found with in this conversation (`verified_email`), which another order's lookup uses
    rather than asking for it again.
    """
    slots: dict[str, str | None] = {name: None for name in ("email", "order_number")}
    recent = context is not None and context.turn == turn - 1
    if recent and (context.state == "details" or correction(context, details, turn) == flow):
        slots.update({"email": context.email, "order_number": context.order_number})
    for name, value in details.as_slots().items():
        if value:
            slots[name] = value
    if flow == "track_order" and not slots["email"] and verified_email:
        slots["email"] = verified_email
    if flow not in NEEDS:
        return {}
    # a slot this flow does not need is cleared, so no other flow's value lingers
    return {name: value if name in NEEDS[flow] else None for name, value in slots.items()}


# Intents the router acts on by starting a flow (the `route` slot's values) rather than replying.
FLOW_ROUTES = {
    "reset_password": "reset_password",
    "reset_email_missing": "reset_email_missing",
    "track_order": "track_order",
    "request_human": "handoff",
    "complaint": "handoff",
}
ASK_DETAILS = "ask_details"
# Words that only answer a yes/no question ("no, never mind, ...") and say nothing else.
REPLY_WORDS = re.compile(
    r"^\W*(?:(?:yes|yeah|yep|yup|sure|ok|okay|no|nope|nah|not really|never ?mind|nevermind|"
    r"forget (?:it|that|about it)|cancel(?: that| it)?|stop(?: that| it)?|actually|wait|hmm+|"
    r"please|thanks|thank you|i changed my mind|changed my mind|scratch that)\b\W*)+",
    re.IGNORECASE,
)


DECLINES = re.compile(
    r"^\W*(?:no|nope|nah|never ?mind|nevermind|cancel|stop|don'?t|i don'?t want|forget it)\b",
    re.IGNORECASE,
)


def declines(text: str) -> bool:
    """Whether a message opens by saying no ("no I don't want to", "stop asking")."""
    return bool(DECLINES.match(text))


# An answer to "Did you mean bob@gmail.com?" typed instead of clicked (typo_answer).
_CANCELS = re.compile(
    r"^\W*(?:cancel|stop|never ?mind|nevermind|forget (?:it|that|about it)|no,? thanks?|"
    r"no,? thank you|don'?t bother|i don'?t want)\b",
    re.IGNORECASE,
)
_TYPO_NO = re.compile(
    r"^\W*(?:no|nope|nah|not (?:that|quite|really)|wrong|incorrect|negative)\b", re.IGNORECASE
)
_TYPO_YES = re.compile(
    r"^\W*(?:(?:that|it)(?:'|’)?s |(?:that|it) is |you'?re |yes,? )?"
    r"(?:y|yes|yeah|yea|yep|yup|ya|sure|correct|right|exactly|indeed|ok|okay|absolutely|"
    r"definitely|of course|i did|affirmative|please|the first one)\b",
    re.IGNORECASE,
)


def typo_answer(text: str, intent: str | None) -> Literal["yes", "no", "cancel"] | None:
    """A typed answer to "Did you mean <suggestion>?": "yes" (the suggestion), "no" (the address
    as typed, as the "No, ... is right" button), "cancel" ("never mind", "no thanks"), or None
    (not an answer: another question). A button's payload is none of these."""
    if text.lstrip().startswith("/"):
        return None
    if _CANCELS.match(text):
        return "cancel"
    if _TYPO_NO.match(text):
        return "no"
    if _TYPO_YES.match(text):
        return "yes"
    if intent in {"affirm", "deny"} and len(text.split()) <= 3:
        return "yes" if intent == "affirm" else "no"
    return None


def says_yes_or_no(text: str) -> bool:
    """Whether a message opens with a yes or a no (not "asdfgh" the NLU took for one)."""
    return bool(REPLY_WORDS.match(text))


def without_reply_words(text: str) -> str:
    """The request left once leading yes/no words are dropped ("no, how do returns work?")."""
    return REPLY_WORDS.sub("", text).strip()


def next_route(
    outcome: str,
    top_intent: str | None,
    details: Details,
    context: FlowContext | None,
    turn: int,
) -> str | None:
    """The flow a message starts: the router's, a correction, or one its details ask for.

    An article the gate chose stays the answer ("how do I return order 123-4567?"); otherwise an
    order number means tracking, a detail right after a failed lookup or a sent reset corrects
    it, and an email with nothing to use it for is asked about (ASK_DETAILS).
    """
    if outcome == "intent" and top_intent in FLOW_ROUTES:
        return FLOW_ROUTES[top_intent]
    if not details or outcome == "article":
        return None
    fixed = correction(context, details, turn)
    if fixed:
        return fixed
    if details.order_number:
        return "track_order"
    return ASK_DETAILS
