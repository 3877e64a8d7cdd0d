"""What the flows say once the store has answered: a reset link sent, an order found or not.

The actions in `actions/` ask the store (the side effect) and render these plans; a flow that
cannot complete offers a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.dialogue import guides, replies
from bot.dialogue.answers import article_reply
from bot.dialogue.flows import FlowContext
from bot.dialogue.plan import Outcome, Plan, Say
from bot.kb.search import Hit
from bot.store.base import Order

MAX_TRIES = 3  # unreadable answers to a form's question before the flow gives up
RESET_ARTICLE = "reset-password"


def offering_a_person(
    outcome: Outcome,
    intent: str | None,
    reason: str,
    says: tuple[Say, ...] = (),
    slots: dict[str, Any] | None = None,
) -> Plan:
    """What is said, then the offer of a person; a "yes" accepts it for this reason. The offer is
    remembered (`person_offered`) so a later miss offers the button, not the same question."""
    offer = replies.offer_person(intent, reason)
    slots = {**(slots or {}), "handoff_offer_reason": reason, "person_offered": True}
    return Plan(outcome, (*says, offer), slots)


def flow_failed(flow: str, slots: dict[str, Any]) -> Plan:
    """A form gave up on an answer it could not read: offer a person."""
    return offering_a_person(
        "flow_result", flow, "flow_failure", slots={**slots, "flow_failed": None}
    )


def store_down(flow: str, slots: dict[str, Any]) -> Plan:
    """The store cannot be reached: say so, and offer a person."""
    said = Say(replies.STORE_DOWN, meta=replies.meta("flow", flow, flow=flow, failed=True))
    return offering_a_person("flow_result", flow, "flow_failure", (said,), slots)


def form_retry(flow: str, slot: str, tries: int, message: str, give_up: str) -> Plan:
    """A form's answer that could not be read: ask again, or after MAX_TRIES end the flow."""
    tries += 1
    if tries >= MAX_TRIES:
        said = Say(give_up, meta=replies.meta("flow", flow, flow=flow, failed=True))
        slots = {slot: None, "form_tries": 0.0, "requested_slot": None, "flow_failed": True}
        return Plan("flow_retry", (said,), slots)
    said = Say(message, meta=replies.meta("flow", flow, flow=flow))
    return Plan("flow_retry", (said,), {slot: None, "form_tries": float(tries)})


def reset_sent(email: str, result: str, again: bool, link: str | None, turn: int) -> Plan:
    """The reset link asked for: the same reply whether or not the account exists."""
    limited = result == "rate_limited"
    said = Say(
        replies.reset_text(email, again, limited, link),
        buttons=(replies.EMAIL_DID_NOT_ARRIVE,),
        meta=replies.meta(
            "flow", "reset_password", RESET_ARTICLE, flow="reset_password", result=result
        ),
    )
    asked = FlowContext("reset_password", "rate_limited" if limited else "sent", turn, email)
    slots = {
        "reset_requested": True,
        # the address the customer says is theirs (not verified: the reply never tells)
        "customer_email": email,
        "flow_context": asked.to_slot(),
    }
    return Plan("flow_result", (said,), slots)


def reset_troubleshooting(
    hit: Hit | None,
    source: guides.GuideSource | None = None,
    turn: int = 1,
    tried: Sequence[dict[str, Any]] = (),
) -> Plan:
    """'The email never arrived': the guide in the article's troubleshooting section, walked
    step by step (its article added to the articles `tried`); without a guide there, the
    section and the offer of a person."""
    intent = "reset_email_missing"
    walked = guides.start(hit, source, intent, turn, {}, tried) if hit and source else None
    if walked is not None:
        return walked
    says = (article_reply(hit, intent, hit.score, feedback=False),) if hit else ()
    still = Say(
        replies.RESET_STILL_MISSING,
        buttons=(replies.TALK_TO_A_PERSON, replies.IT_ARRIVED),
        meta=replies.meta("handoff_offer", intent, reason="flow_failure"),
    )
    return Plan("flow_result", (*says, still), {"handoff_offer_reason": "flow_failure"})


def order_not_found(
    number: str, email: str, failures: int, turn: int, queued: tuple[str, ...] = ()
) -> Plan:
    """No such order with that email (the same either way); the second time, offer a person.
    Orders queued behind it wait for a corrected email or number."""
    said = Say(
        replies.ORDER_NOT_FOUND.format(number=number),
        meta=replies.meta("flow", "track_order", flow="track_order", result="not_found"),
    )
    tried = FlowContext("track_order", "not_found", turn, email, number, queued)
    slots = {
        "order_number": None,
        "email": None,
        "order_failures": float(failures),
        "flow_context": tried.to_slot(),
    }
    if failures >= 2:
        return offering_a_person("flow_result", "track_order", "flow_failure", (said,), slots)
    return Plan("flow_result", (said,), slots)


def _status(order: Order) -> Say:
    """One order's status, naming the order (a conversation may ask about several)."""
    return Say(
        replies.order_status_text(order),
        meta=replies.meta(
            "flow",
            "track_order",
            flow="track_order",
            result="found",
            status=order.status,
            tracking_url=order.tracking_url,
            order_number=order.number,
        ),
    )


def order_found(
    order: Order, email: str, turn: int, others: Sequence[tuple[str, Order | None]] = ()
) -> Plan:
    """The order's status and what happens next; the pair is now verified for an agent. The
    other orders asked about with it (`others`, looked up with the same email) follow, each
    named, found or not."""
    said = _status(order)
    more = tuple(
        _status(other)
        if other
        else Say(
            replies.OTHER_ORDER_NOT_FOUND.format(number=number),
            meta=replies.meta(
                "flow", "track_order", flow="track_order", result="not_found", order_number=number
            ),
        )
        for number, other in others
    )
    found = FlowContext("track_order", "found", turn, email, order.number)
    slots = {
        "order_number": None,
        # what an agent may rely on: this order belongs to this email
        "verified_order_number": order.number,
        "verified_email": email,
        "customer_email": email,
        "order_failures": 0.0,
        "flow_context": found.to_slot(),
    }
    return Plan("flow_result", (said, *more), slots)
