"""Dialogue helpers: answer/clarify/fallback decisions, concise answers, order status wording."""

from __future__ import annotations

import datetime as dt

from bot.dialogue.answers import answer_text, concise, decide
from bot.dialogue.replies import order_status_text
from bot.kb.search import Hit
from bot.store.base import STATUSES, Order


def hit(article: str, score: float, text: str = "Some text.", anchor: str = "a-section") -> Hit:
    return Hit(
        article,
        f"Title {article}",
        "A section",
        anchor,
        f"https://h/{article}",
        score,
        text,
        text,
        1,
    )


def test_thresholds_decide_between_answer_clarify_and_fallback() -> None:
    assert decide([hit("a", 0.7), hit("b", 0.5)], 0.5, 0.38).outcome == "article"
    clarify = decide([hit("a", 0.45), hit("b", 0.41), hit("c", 0.2)], 0.5, 0.38)
    assert clarify.outcome == "clarify" and [h.id for h in clarify.hits] == ["a", "b"]
    assert decide([hit("a", 0.3)], 0.5, 0.38).outcome == "fallback"
    assert decide([], 0.5, 0.38).outcome == "fallback"


def test_answers_are_concise_and_keep_steps_whole() -> None:
    steps = "To return an item:\n\n1. Open your orders.\n2. Pick the item.\n3. Print the label."
    assert (
        concise(steps)
        == "To return an item:\n\n1. Open your orders.\n2. Pick the item.\n3. Print the label."
    )
    long = " ".join(f"Sentence number {i} is here." for i in range(10))
    short = concise(long)
    assert short.count("Sentence") == 3 and short.endswith("here.")


def test_an_answer_ends_with_its_citation() -> None:
    text = answer_text(hit("returns", 0.8, "Return within 30 days."))
    assert (
        text
        == "Return within 30 days.\n\nSource: [Title returns › A section](https://h/returns#a-section)"
    )


def test_every_status_says_what_happens_next() -> None:
    for status in STATUSES:
        order = Order(
            "123-4567", status, "UPS", "https://t/1", dt.date(2026, 11, 24), dt.date(2026, 11, 1), 2
        )
        text = order_status_text(order)
        assert text.startswith("Order **123-4567** is **") and len(text) > 60
    shipped = order_status_text(
        Order(
            "123-4567",
            "shipped",
            "UPS",
            "https://t/1",
            dt.date(2026, 11, 24),
            dt.date(2026, 11, 1),
            2,
        )
    )
    assert "[track the parcel](https://t/1)" in shipped and "Tuesday, November 24" in shipped
