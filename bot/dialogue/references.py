"""A message about the products just shown: "that one", "the second", "in blue instead", "how
much is it?" (no Rasa here).

After product cards, a shopper points at them instead of naming them again. `refers_to` reads
which of the shown products a short message means: an ordinal picks one ("the second one",
"number 3", "the last one"), "that one" the first shown (the one the answer led with), "it" the
one picked since or the only one shown (after several, the bot asks which), "they" / "them" /
"these" all of them, and an attribute on its own ("in blue instead", "what about large?", "and
the 20cm?") all of them, to look for that attribute among. A pronoun counts only with a product
question ("how much is it?", "is it in stock?", "are they dishwasher safe?"): "that's it, thanks"
and "how do I reset it?" are not about the products.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.catalog.query import MEASURE
from bot.dialogue.choices import by_ordinal

MAX_WORDS = 12  # a longer message says what it is about on its own
ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "one": 0,
    "two": 1,
    "three": 2,
    "1": 0,
    "2": 1,
    "3": 2,
    "last": -1,
}
ORDINAL = re.compile(
    r"\b(?:the\s+(first|1st|second|2nd|third|3rd|last)\b|"
    r"(first|1st|second|2nd|third|3rd|last)\s+(?:one|option|product|item)\b|"
    r"(?:number|no\.?|option|#)\s*(one|two|three|[123])\b)",
    re.I,
)
PLACES = ("first", "second", "third")
QUESTION_ENTITY = "product_question"  # a "which one?" button's question (domain.yml)
THAT_ONE = re.compile(r"\b(?:that|this|the same)\s+one\b", re.I)
ONE_OF_THEM = re.compile(r"\b(it|its|it's|that|this)\b", re.I)
ALL_OF_THEM = re.compile(r"\b(they|them|these|those|their|any of them)\b", re.I)
# questions about a product: its price, stock, colours and sizes, what it is made of, care
ABOUT_A_PRODUCT = re.compile(
    r"\b(how much|price|cost|costs|in stock|available|availability|sold out|back|restock|"
    r"colou?rs?|sizes?|come in|comes in|made of|made from|material|dishwasher|microwave|oven|"
    r"wash|washing|care|clean|safe|dimensions?|how big|weight|made in|on sale|discount|"
    r"link|buy|order it|details?)\b",
    re.I,
)
PRICE_ASKED = re.compile(r"\b(much|prices?|costs?|pricing)\b", re.I)  # "hwo much" too
# "in blue instead", "what about in large?", "and in oak?", "got it in green?"
INSTEAD = re.compile(
    r"\binstead\b|^\W*(?:and|or|but|what about|how about|got|have you got|do you have)?\s*"
    r"(?:it|them|one|that)?\s*in\s+[a-z]",
    re.I,
)
# "and the 20cm?", "what about large?", "the small one?", "in size M then": a size and nothing
# else, asked of what was shown (after a cast iron pan, "what about the 26 cm?")
SIZE_ALONE = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|so|hmm+|and|or|but)\b\W*)*(?:(?:what|how) about\s+)?"
    r"(?:[a-z]{1,5}\s+){0,2}?"  # "and teh 20cm?", "waht about the 26 cm?": little words mistyped
    r"(?:the|a|an|in|in the|in a)?\s*"
    rf"(?:size\s+)?(?P<size>{MEASURE}|"
    r"(?:xs|s|m|l|xl)/(?:s|m|l|xl|xxl)|xs|xl|xxl|small|medium|large|tall|short|mini|single|"
    r"double|king|queen)(?:\s+(?:one|ones|size|version|price))?\s*(?:then|instead|please)?\W*$",
    re.I,
)


@dataclass(frozen=True)
class Reference:
    """The shown products a message is about, and why (`pick`: one chosen by the customer)."""

    products: tuple[str, ...]
    pick: bool = False  # "that one", "the second": a product chosen, nothing else asked
    # "how much is it?" after several products and none picked: which one is not ours to guess
    which: bool = False
    # what to ask of them when the message alone would not say it ("and the 20cm?" asks
    # whether they come in size 20cm); None: the message as it is
    asked: str | None = None


def refers_to(
    text: str, shown: Sequence[str], focus: str | None = None, before: str = ""
) -> Reference | None:
    """Which of the shown products (ids, in the order shown) a message is about, or None when
    it is not about them; `focus`: the one picked since, what "it" means now; `before`: the
    question they were shown for (a size alone after "how much is the vase?" asks its price)."""
    if not shown or not text.strip() or text.startswith("/"):
        return None
    if len(text.split()) > MAX_WORDS:
        return None
    picked = by_ordinal(text, shown)  # "the second one", "2", "I'll take the last one"
    if picked is not None:
        return Reference((picked,), pick=True)
    asks = bool(ABOUT_A_PRODUCT.search(text))
    ordinal = ORDINAL.search(text)
    if ordinal:
        word = next(g for g in ordinal.groups() if g).lower()
        index = ORDINALS[word]
        if index >= len(shown):
            return None  # "the third" of two: not a pick among these
        return Reference((shown[index],), pick=not asks)
    first = focus if focus in shown else shown[0]
    if THAT_ONE.search(text):
        return Reference((first,), pick=not asks)
    if INSTEAD.search(text):
        return Reference((focus,) if focus in shown else tuple(shown))
    size = SIZE_ALONE.match(text)
    if size:
        named = " ".join(size.group("size").split())
        if PRICE_ASKED.search(before) or PRICE_ASKED.search(text):
            asked = f"how much is it in size {named}?"
        else:
            asked = f"do you have it in size {named}?"
        return Reference((focus,) if focus in shown else tuple(shown), asked=asked)
    if not asks:
        return None
    if ALL_OF_THEM.search(text):  # after a pick, "are they dishwasher safe?" is about it
        return Reference((focus,) if focus in shown else tuple(shown))
    if ONE_OF_THEM.search(text):
        if focus not in shown and len(shown) > 1:
            return Reference(tuple(shown), which=True)
        return Reference((first,))
    return None


def about_the(text: str, place: int) -> str:
    """The question asked of one shown product by its place: "how much is it?" for the second
    becomes "how much is the second one?" (what a "which one?" button sends)."""
    name = f"the {PLACES[place]} one"
    return ONE_OF_THEM.sub(lambda m: name + ("'s" if m.group(1).lower() == "its" else ""), text, 1)


def asked_of(question: str) -> str:
    """The payload of a button that asks a question for the customer: Rasa's intent form, the
    question in an entity that the turn reads as the customer's words."""
    return "/ask_question" + json.dumps({QUESTION_ENTITY: question}, separators=(",", ":"))
