"""Answers from the demo knowledge base answer: the steps, the matching section, a citation."""

from __future__ import annotations

import pytest

from bot.dialogue.answers import answer_text, article_meta, concise
from bot.kb.chunker import ends_in_promise
from bot.kb.search import Hit, KnowledgeBase

pytestmark = pytest.mark.model


def answer(kb: KnowledgeBase, question: str) -> Hit:
    """What action_kb_answer shows: the routed article's best section for the question."""
    vector = kb.encode(question)
    routing = kb.route(question, vector=vector)
    assert routing is not None and routing.top.article_id, routing
    hit = kb.best_section(question, routing.top.article_id, vector)
    assert hit is not None
    return hit


def test_a_failed_card_payment_gets_the_steps(kb: KnowledgeBase) -> None:
    hit = answer(kb, "my card payment failed at checkout, what now?")
    reply = answer_text(hit)
    assert hit.id == "payment-problems"
    assert "- Check the card number, expiry date, security code and billing address" in reply
    assert "- Try another payment method such as PayPal or a different card." in reply
    assert reply.endswith(
        "Source: [My payment failed or I was charged wrongly › My payment was declined]"
        "(http://localhost:8080/help/payment-problems#my-payment-was-declined)"
    )


def test_charged_twice_gets_the_charged_twice_section(kb: KnowledgeBase) -> None:
    hit = answer(kb, "i think i was charged twice")
    reply = answer_text(hit)
    assert (hit.id, hit.section) == ("payment-problems", "I was charged twice")
    assert (
        "Pending amounts that did not become an order disappear within 3-5 business days" in reply
    )
    assert "these steps solve most problems" not in reply
    assert article_meta(hit)["url"].endswith("/help/payment-problems#i-was-charged-twice")


def test_using_a_promo_code_gets_how_to_use_it(kb: KnowledgeBase) -> None:
    hit = answer(kb, "how do I use a promo code")
    reply = answer_text(hit)
    assert hit.id == "promo-codes"
    assert "Enter the code in the **Promo code** box" in reply
    assert not concise(hit.text).endswith("why one might not work.")
    assert "#use-a-promo-code)" in reply


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("payment failed", "- Check the card number"),
        ("how to use promo codes", "Enter the code in the **Promo code** box"),
        ("my payment failed what now", None),  # which section is the model's call; any one
        ("what now? my payment failed", None),  # that answers will do
    ],
)
def test_a_question_closest_to_an_announcing_opening_gets_a_section_that_answers(
    kb: KnowledgeBase, question: str, expected: str | None
) -> None:
    for hit in [answer(kb, question), kb.search(question, 1)[0]]:  # the router's way, and search
        reply = concise(hit.text)
        assert expected is None or expected in reply, (question, hit.section, reply)
        assert not ends_in_promise(reply)
        assert hit.anchor  # a section that answers, not the opening that announces them


def test_no_section_of_the_demo_kb_gives_a_reply_that_ends_on_a_promise(
    kb: KnowledgeBase,
) -> None:
    replies = {
        f"{hit.id} › {hit.section}": concise(hit.text)
        for article in kb.reader.articles()
        for hit in kb.article_sections(article["id"])
    }
    assert len(replies) > 100
    promising = {where: reply for where, reply in replies.items() if ends_in_promise(reply)}
    assert promising == {}
    # and no section is only an announcement that best_section would have to skip
    assert [where for where, reply in replies.items() if not reply.strip()] == []


def test_an_opening_is_cited_as_the_article_and_a_section_by_its_anchor(
    kb: KnowledgeBase,
) -> None:
    openings = sections = 0
    for article in kb.reader.articles():
        for hit in kb.article_sections(article["id"]):
            meta = article_meta(hit)
            if hit.section == hit.title:  # the article's opening, before any heading
                openings += 1
                assert hit.anchor == "" and meta["url"] == article["url"], hit
            else:
                sections += 1
                assert meta["url"] == f"{article['url']}#{hit.anchor}" and hit.anchor, hit
    assert openings >= 20 and sections >= 100
