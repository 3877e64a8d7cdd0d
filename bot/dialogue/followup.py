"""Follow-ups: a short message that leans on the question before it ("and how long then?").

A customer who got an answer often asks on about it without repeating the subject: "and how
long does that take?", "what about abroad?", "can it come faster?". Alone, such a message names
nothing to answer from (or names something only by chance, like "how long" of delivery times).
`is_follow_up` tells one from a new question by its form: it has no words of its own that say
what it is about, or it opens as a continuation ("and ...", "what about ...") and stays short.
The `Topic` (the `topic` slot) remembers the last question asked and the section (or the
products) that answered it, so the decision can route the follow-up together with it and avoid
quoting the same section again ("the second one" and "in blue instead" after products:
bot.dialogue.references). A first message has no topic, so it is never read as a follow-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# A follow-up belongs to the question of at most this many customer messages before it (one
# 👍 or "ok" in between still counts).
MAX_DISTANCE = 2
MAX_WORDS = 9  # a longer message says enough on its own
OPENERS = re.compile(
    r"^\W*(?:and|but|also|so|plus|then|what about|how about|and what about|and how about|"
    r"what if|same for|same with|ok and|okay and)\b",
    re.IGNORECASE,
)
# Words that say nothing of what a message is about: question words, pronouns, auxiliaries,
# and the verbs and adverbs any question can carry. What is left names the subject.
EMPTY_WORDS = frozenset(
    " ".join(
        (
            "a an the and but or so also plus then too as well what about how if same for",
            "with of to in on at by from into than that this those these it its it's they",
            "them their there thats that's this's one ones which who whom whose when where",
            "why much many long often soon far late early is are was were be been being am do",
            "does did done doing have has had having can could will would shall should may",
            "might must i me my you your we us our he she him her his hers take takes took",
            "taking get gets got getting go goes went going come comes came coming make makes",
            "made work works worked happen happens happened usually normally typically",
            "generally ever still already just really actually exactly again any anything",
            "something ok okay yes no not please thanks now here faster sooner quicker",
            "cheaper longer earlier later more less else other another time times day days",
            "normal usual cost costs need needs want wants",
        )
    ).split()
)
WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Topic:
    """The last question the customer asked, what answered it, and when (the `topic` slot)."""

    question: str
    turn: int  # the customer message (counted from 1) it was asked in
    article: str | None = None  # the article that answered it, if one did
    section: str | None = None  # that answer's section anchor
    title: str | None = None  # that article's title
    products: tuple[str, ...] = ()  # the products shown in answer (ids, in the order shown)
    focus: str | None = None  # of those, the one picked since ("the second one")
    # the variant shown out of stock, that "tell me when it's back" is about (ProductReply's
    # restock), and the alert's state: {"asking": True} while its email is asked for, and
    # {"suggested": {...}} after a typo question, {"known": email} while an address given before
    # is offered, {"email": ...} once made (bot.dialogue.restock)
    restock: dict | None = None

    @classmethod
    def from_slot(cls, value: Any) -> Topic | None:
        """Read the slot; anything malformed counts as no topic."""
        if not isinstance(value, dict) or not isinstance(value.get("question"), str):
            return None
        try:
            return cls(
                question=value["question"],
                turn=int(value["turn"]),
                article=value.get("article"),
                section=value.get("section"),
                title=value.get("title"),
                products=tuple(str(p) for p in value.get("products") or ()),
                focus=value.get("focus"),
                restock=value.get("restock") if isinstance(value.get("restock"), dict) else None,
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_slot(self) -> dict[str, Any]:
        """The slot's value."""
        return {
            "question": self.question,
            "turn": self.turn,
            "article": self.article,
            "section": self.section,
            "title": self.title,
            "products": list(self.products),
            "focus": self.focus,
            "restock": self.restock,
        }

    def holds_for(self, turn: int) -> bool:
        """Whether a message sent at `turn` may still lean on this topic."""
        return 0 < turn - self.turn <= MAX_DISTANCE

    def with_follow_up(self, text: str) -> str:
        """The question to route for a follow-up: the follow-up, then what the topic was about,
        in the customer's words and the answering article's title ("and how long does that
        take? money back refund").

        The follow-up leads: routed after the whole earlier question, it would be drowned by
        it and answered with the same article again."""
        words = subject_words(self.question) + subject_words(self.title or "")
        about = " ".join(dict.fromkeys(words))
        return f"{text.strip()} {about}".strip()


def subject_words(text: str) -> list[str]:
    """The words of a message that say what it is about (none for "and how long does that take")."""
    return [w for w in WORDS.findall(text.lower()) if w not in EMPTY_WORDS and not w.isdigit()]


def is_follow_up(text: str) -> bool:
    """Whether a message only makes sense with the question before it.

    Short, and either names no subject of its own ("how long does that take normally?", "can it
    come faster??") or opens as a continuation and names one thing at most ("and abroad?",
    "what about gift cards?").
    """
    words = WORDS.findall(text.lower())
    if not words or len(words) > MAX_WORDS:
        return False
    subject = subject_words(text)
    if not subject:
        return True
    return bool(OPENERS.match(text)) and len(subject) <= 1
