"""Words of product texts and questions, as search compares them: lowercased, singular, split."""

from __future__ import annotations

import re
from functools import lru_cache

WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
IRREGULAR = {"knives": "knife", "loaves": "loaf", "dishes": "dish", "glasses": "glass"}
SPELLINGS = {"gray": "grey", "colour": "color", "colours": "color", "colors": "color"}
STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "have",
        "has",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "show",
        "the",
        "this",
        "that",
        "to",
        "we",
        "what",
        "which",
        "with",
        "you",
        "your",
        "any",
        "some",
        "there",
    ]
)


@lru_cache(maxsize=1 << 16)  # a catalogue repeats a few thousand words over every product
def singular(word: str) -> str:
    """A plural noun's singular by the common English rules (candles, glasses, knives...)."""
    if word in IRREGULAR:
        return IRREGULAR[word]
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The words of a text, lowercased, in singular, spellings made one (gray -> grey)."""
    out = []
    for raw in WORD.findall(text.lower().replace("’", "'")):
        word = SPELLINGS.get(raw, raw)
        out.append(singular(word))
    return out


def terms(text: str) -> list[str]:
    """words() without the little words every question has."""
    return [w for w in words(text) if w not in STOP]
