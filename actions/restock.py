"""Back-in-stock alerts from the chat: rate limits, the subscription and its confirmation email
(bot.catalog.alert_mail), for the restock step of an open message (bot.dialogue.restock)."""

from __future__ import annotations

import logging
from functools import cache

from rasa_sdk import Tracker

from actions.common import limits, queue, settings
from bot.catalog.alert_mail import AlertMailer
from bot.catalog.alerts import Wanted
from bot.dialogue.restock import Subscribe, Subscribed
from bot.web.limits import restock_refused

logger = logging.getLogger(__name__)


@cache
def mailer() -> AlertMailer:
    """The alerts' store and emails, over the handoff database."""
    return AlertMailer.from_settings(settings(), queue().engine)


def subscriber(tracker: Tracker) -> Subscribe:
    """What subscribes an email to the offered variant for this conversation."""
    client = (tracker.latest_message.get("metadata") or {}).get("client")

    def subscribe(email: str, offer: dict) -> Subscribed:
        refused = restock_refused(limits(), settings(), client, email)
        if refused is not None:
            return Subscribed("limited", refused.retry_after)
        wanted = Wanted(
            product_id=str(offer["product"]),
            variant_id=str(offer["variant"]),
            product_title=str(offer.get("title") or offer["product"]),
            variant_title=str(offer.get("variant_title") or ""),
            link=str(offer.get("link") or ""),
        )
        try:
            done = mailer().subscribe(email, wanted, tracker.sender_id)
        except Exception:  # the database away, a bad mail_from: say so, never crash the turn
            logger.exception("back-in-stock alert not taken")
            return Subscribed("unavailable")
        if done.created:
            return Subscribed("sent")
        return Subscribed(
            "already_confirmed" if done.alert.status == "confirmed" else "already_pending"
        )

    return subscribe
