"""Wording of the transactional flows' replies, and the metadata every bot message carries."""

from __future__ import annotations

import datetime as dt

from bot.store.base import Order

NEXT_STEPS = {
    "processing": "We're picking and packing it now. You can still change or cancel it while "
    "it's processing.",
    "shipped": "It's on its way. The carrier's tracking page has the latest updates.",
    "out_for_delivery": "It's on the van and should arrive today, usually before 8 pm.",
    "delivered": "The carrier marked it as delivered. If you can't find it, check around your door "
    "and with neighbours; if it's still missing by the end of the next business day, tell me and "
    "I'll get you a person.",
    "delayed": "The carrier reported a delay. If it's more than 2 business days past the new date, "
    "I can get you a person to open an investigation.",
    "cancelled": "It was cancelled, and any payment was refunded to your original payment method.",
    "returned": "It came back to us, and we refund it within 3 business days of receiving it.",
}
AGENT_HOURS = "Agents are available Monday to Saturday, 8 am to 8 pm ET."
HANDOFF_OPENER = (
    "I'm passing you to a person now, with everything you've told me so you don't have to "
    "repeat yourself."
)
COMPLAINT_OPENER = (
    "I'm sorry to hear that. I've passed your conversation to our customer care team, with "
    "everything you've told me."
)


def queue_place(position: int | None) -> str:
    """Where the customer is in the queue, or that an agent has the conversation."""
    if position is None:
        return "An agent has joined and will reply here."
    if position == 1:
        return "You're next in the queue."
    return f"You're number {position} in the queue."


def handoff_text(reason: str, position: int | None) -> str:
    """What the customer reads when their conversation goes to a person."""
    opener = COMPLAINT_OPENER if reason == "complaint" else HANDOFF_OPENER
    return f"{opener} {queue_place(position)} {AGENT_HOURS}"


STATUS_NAMES = {
    "processing": "processing",
    "shipped": "shipped",
    "out_for_delivery": "out for delivery",
    "delivered": "delivered",
    "delayed": "delayed",
    "cancelled": "cancelled",
    "returned": "returned",
}


def meta(
    outcome: str,
    intent: str | None = None,
    article_id: str | None = None,
    score: float | None = None,
    **extra: object,
) -> dict:
    """The machine-readable payload each bot message carries."""
    return {
        "outcome": outcome,
        "article_id": article_id,
        "score": round(score, 4) if score is not None else None,
        "intent": intent,
        **extra,
    }


def _date(day: dt.date) -> str:
    return f"{day:%A}, {day:%B} {day.day}"


def order_status_text(order: Order) -> str:
    """Status, carrier, tracking link, estimated delivery and what happens next."""
    parts = [f"Order **{order.number}** is **{STATUS_NAMES.get(order.status, order.status)}**."]
    if order.carrier and order.tracking_url:
        parts.append(f"Carrier: {order.carrier} — [track the parcel]({order.tracking_url}).")
    if order.estimated_delivery and order.status in (
        "processing",
        "shipped",
        "out_for_delivery",
        "delayed",
    ):
        parts.append(f"Estimated delivery: {_date(order.estimated_delivery)}.")
    if order.status == "delivered" and order.estimated_delivery:
        parts.append(f"Delivered on {_date(order.estimated_delivery)}.")
    parts.append(NEXT_STEPS.get(order.status, ""))
    return " ".join(p for p in parts if p)


RESET_SENT = (
    "If an account exists for **{email}**, we've just sent it a link to reset the password. "
    "The link works once, for 1 hour. I'll never ask you for your password."
)
RESET_AGAIN = (
    "I've sent another link to **{email}** (if an account exists for it). Only the newest link "
    "works, so please use that one. It can take a few minutes to arrive; check your spam folder "
    "too."
)
RESET_LIMITED = (
    "We've already sent 3 reset emails to that address in the last hour, so I can't send another "
    "right now. Please use the newest email you received, or try again in an hour."
)
ORDER_NOT_FOUND = (
    "I couldn't find order **{number}** with that email. Please check both: the order number "
    "is in your confirmation email, and the email must be the one you ordered with. If one of "
    "them had a typo, just send me the right one."
)
STORE_DOWN = (
    "Sorry, I can't reach our order system right now. I can pass you to a person who can help."
)
