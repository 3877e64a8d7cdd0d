"""The ticket summary tells an agent what the customer wants now, in one short paragraph."""

from __future__ import annotations

from bot.handoff.summary import MAX_SUMMARY, summarize

TRACK = {"id": "track-order", "title": "Where is my order?", "url": "https://h/t", "score": 0.41}


def said(*lines: str) -> list[dict]:
    """A transcript: customer lines, with a bot line between each (as chats go)."""
    transcript = []
    for line in lines:
        transcript += [{"sender": "customer", "text": line}, {"sender": "bot", "text": "Okay."}]
    return transcript


def test_a_customer_who_failed_a_flow_then_asked_for_a_person_is_summarised_as_such() -> None:
    transcript = said(
        "hi",
        "where is my order 100-9246",
        "tara.tanaka86@example.com",
        "100-9246",
        "i want to talk to a real person",
    )
    summary = summarize(transcript, "customer_request", [TRACK])
    assert summary.startswith("Customer asked for a person.")
    assert "Before that: “where is my order 100-9246”." in summary
    assert "“hi”" not in summary and "tara.tanaka86" not in summary
    assert "Where is my order? (0.41)" in summary


def test_the_latest_request_leads_and_the_earlier_topic_is_mentioned() -> None:
    transcript = said(
        "how do returns work?", "yes", "thanks", "my refund never arrived, it's been 3 weeks"
    )
    summary = summarize(transcript, "flow_failure", [])
    assert summary.startswith("Customer wants: “my refund never arrived, it's been 3 weeks”.")
    assert "Earlier: “how do returns work?”." in summary
    assert summary.endswith("Handed off because a self-service flow could not be completed.")


def test_buttons_yes_no_and_greetings_are_never_quoted() -> None:
    transcript = said(
        "hello", "I was charged twice for one order", "[deny]", "no", "[request_human]"
    )
    summary = summarize(transcript, "customer_request", [])
    assert summary.startswith("Customer wants: “I was charged twice for one order”.")
    assert "[request_human]" not in summary and "“no”" not in summary and "Earlier" not in summary
    assert "asked for a person" in summary


def test_a_request_for_a_person_with_a_topic_is_quoted_whole() -> None:
    summary = summarize(
        said("where is my order?", "can I speak to someone about my damaged parcel"),
        "customer_request",
        [],
    )
    assert summary.startswith(
        "Customer asked for a person: “can I speak to someone about my damaged parcel”."
    )
    assert "Earlier: “where is my order?”." in summary


def test_only_a_button_press_still_says_what_happened() -> None:
    summary = summarize(said("[request_human]"), "customer_request", [])
    assert summary == "Customer asked for a person. Bot offered no article."
    assert summarize([], "low_confidence", []) == (
        "Bot offered no article. Handed off because the bot could not find a confident answer."
    )


def test_what_the_bot_verified_is_stated() -> None:
    summary = summarize(
        said("where is my order", "tara@example.com"),
        "flow_failure",
        [],
        verified={"email": "tara@example.com", "order_number": "100-9246"},
    )
    assert "Verified order 100-9246, email tara@example.com." in summary


def test_the_summary_stays_one_short_paragraph() -> None:
    long = "my parcel " + "really " * 200 + "never came"
    articles = [TRACK | {"title": "A very long article title " * 5}] * 3
    summary = summarize(said("first " * 100, long), "complaint", articles)
    assert len(summary) <= MAX_SUMMARY and "\n" not in summary
    assert summary.startswith("Customer wants: “my parcel really")


def test_the_products_discussed_are_named_latest_first() -> None:
    summary = summarize(
        said("is the oak board in stock?", "talk to a person"),
        "customer_request",
        [],
        products=["Stoneware Mug", "Oak Serving Board", "Linen Table Runner", "Beeswax Candle"],
    )
    assert "Products discussed: Beeswax Candle, Linen Table Runner, Oak Serving Board." in summary
    assert "Stoneware Mug" not in summary


def test_products_discussed_come_from_the_bots_product_cards() -> None:
    from bot.conversations import products_discussed

    def cards(*titles: str) -> dict:
        products = [{"id": t[-1], "title": t, "link": f"/p/{t[-1]}", "price": "$1"} for t in titles]
        return {"event": "bot", "text": "…", "data": {"custom": {"products": products}}}

    events = [
        {"event": "user", "text": "mugs?"},
        cards("Mug A", "Mug B"),
        {"event": "bot", "text": "plain", "data": {"custom": {"outcome": "article"}}},
        {"event": "bot", "text": "odd", "data": {"custom": {"products": "not a list"}}},
        cards("Mug A"),
    ]
    found = products_discussed(events)
    assert [p["title"] for p in found] == ["Mug B", "Mug A"]
    assert found[1] == {"id": "A", "title": "Mug A", "url": "/p/A", "price": "$1"}
