"""One customer message and what the conversation holds when it arrives (no Rasa here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.dialogue.flows import FlowContext
from bot.dialogue.followup import Topic
from bot.dialogue.guides import Walk


@dataclass(frozen=True)
class Turn:
    """A customer's message with the NLU's reading of it and the slots the decision uses."""

    text: str
    intent: str | None = None
    entities: tuple[dict[str, Any], ...] = ()
    number: int = 1  # the customer's messages so far, this one included
    after_form: bool = False  # a form just stepped aside for this message
    flow_context: FlowContext | None = None
    email: str | None = None  # the forms' slots, as the message found them
    order_number: str | None = None
    order_number_before: str | None = None  # the order number before this message filled it
    verified_email: str | None = None  # the email an order was found with in this conversation
    customer_email: str | None = None  # verified, or given for a reset or an alert
    offer_reason: str | None = None  # why a person was offered, while the offer stands
    misses: int = 0  # unanswered messages (and 👎) in a row
    person_offered: bool = False  # the bot has asked once whether they want a person
    tried: tuple[dict[str, Any], ...] = ()  # the articles offered so far (for a handoff)
    last_question: str | None = None
    topic: Topic | None = None  # the last question asked and the section that answered it
    last_article: str | None = None
    clarify_options: tuple[str, ...] = ()
    chosen_article: str | None = None  # the article a clarify button names
    guide: Walk | None = None  # where the customer is in an article's guide
    guide_step: str | None = None  # the guide step a guide's button names

    @property
    def is_payload(self) -> bool:
        """A button or a widget payload ("/request_human"), not typed words."""
        return self.text.startswith("/")
