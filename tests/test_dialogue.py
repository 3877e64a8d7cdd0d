"""Dialogue helpers: answer/clarify/fallback decisions, concise answers, order status wording."""

from __future__ import annotations

import datetime as dt

from bot.dialogue.answers import answer_text, article_meta, citation, concise, decide
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


def test_a_lead_in_keeps_the_steps_it_announces() -> None:
    text = (
        "If your payment was declined, these steps solve most problems.\n\n"
        "- Check the card number.\n- Make sure the card has credit.\n- Try another card.\n\n"
        "We cannot see why a bank declined a card."
    )
    reply = concise(text)
    assert reply.startswith("If your payment was declined, these steps solve most problems.")
    assert (
        "- Check the card number.\n- Make sure the card has credit.\n- Try another card." in reply
    )


def test_a_reply_never_ends_on_a_promise_of_what_follows() -> None:
    for text, expected in [
        ("Promo codes take money off. Here is how to use them.", "Promo codes take money off."),
        ("Items must be unused. We cannot take back:", "Items must be unused."),
        ("A. B. C. D. Follow these steps:\n\n1. One.", "A. B. C."),
        ("You can pay by card. This page explains the rest.", "You can pay by card."),
    ]:
        assert concise(text) == expected, text
    # looking back at steps already given is no promise
    assert concise("Try again later. If these steps don't help, contact us.").endswith(
        "contact us."
    )


def test_an_announcement_carries_the_reply_into_what_it_announces() -> None:
    text = "One. Two. Here is how it works.\n\nThree is the answer. Four. Five."
    assert concise(text) == "One. Two. Here is how it works.\n\nThree is the answer."


def test_long_steps_are_cut_between_whole_items() -> None:
    steps = "\n".join(f"{i}. Step {i},\n   with more on a second line." for i in range(1, 12))
    reply = concise("Do this:\n\n" + steps)
    assert reply.count("\n   with more") == 8
    assert reply.rstrip().endswith("8. Step 8,\n   with more on a second line.")


def test_a_merged_sub_section_is_not_quoted_under_another_heading() -> None:
    text = "Checkout failed, so we cancel the payment.\n\n## Klarna\n\nKlarna handles instalments."
    assert concise(text) == "Checkout failed, so we cancel the payment."
    lead_in = "Here is what each status means.\n\n### Processing\n\nWe are packing it."
    assert concise(lead_in) == "Here is what each status means.\n\nWe are packing it."


def test_the_opening_is_cited_as_the_article_and_a_section_by_its_anchor() -> None:
    opening = hit("returns", 0.8, "Return within 30 days.", anchor="")
    assert article_meta(opening)["url"] == "https://h/returns"
    assert citation(opening) == "Source: [Title returns](https://h/returns)"
    section = hit("returns", 0.8, "Return within 30 days.", anchor="start-a-return")
    assert article_meta(section)["url"] == "https://h/returns#start-a-return"
