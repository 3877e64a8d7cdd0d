"""What the bot does with a turn: the messages it says and the slots it sets (no Rasa here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal[
    "article",  # an article's section, with its citation
    "clarify",  # the closest articles as buttons
    "cant_answer",  # a refusal (with the offer of a person the second time in a row)
    "reply",  # small talk, or a yes/no with nothing pending, from the domain's responses
    "ask_details",  # an email on its own: what is it for?
    "flow",  # a flow starts, or carries on after the customer left its form
    "handoff",  # the conversation goes to a person
    "stopped",  # the customer stopped the form
    "not_understood",  # in the middle of a form and not an answer: ask again
    "feedback",  # the verdict on the last answer
    "routed",  # typed words taken for feedback are a request: the open-message decision takes them
    "flow_retry",  # a form's answer that could not be read
    "flow_result",  # what a flow found or did
    "relay",  # a message passed to the person who owns the conversation
    "bot_back",  # the person is done: the bot answers again
    "declined",  # the customer said no to a person
    "guide",  # a step of an article's guide: a question with its choices, or a branch's end
    "product",  # products from the catalogue, as cards (a question the articles could not answer)
    "restock",  # a back-in-stock alert: its email asked for, checked, or taken
]


@dataclass(frozen=True)
class Button:
    """A button under a message: its title, and the payload the widget sends back."""

    title: str
    payload: str


@dataclass(frozen=True)
class Say:
    """One bot message: a domain response by name, or text with buttons and its metadata."""

    text: str | None = None
    response: str | None = None
    buttons: tuple[Button, ...] = ()
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    """A turn's outcome, what to say (in order), the slots to set and any action to run next."""

    outcome: Outcome
    says: tuple[Say, ...] = ()
    slots: dict[str, Any] = field(default_factory=dict)
    followup: str | None = None
