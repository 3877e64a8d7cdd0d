"""The conversation around a question, on the demo knowledge base (no Rasa): follow-ups that
lean on the question before them, the right article and section for questions testers found
answered wrong, frustration as a complaint, and noise kept out of the content gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.dialogue.followup import is_follow_up
from bot.insights.gaps import Question, _cluster, find_gaps
from bot.kb.search import KnowledgeBase
from tests.decision_chat import GATE, DecisionChat, cited


@pytest.mark.parametrize(
    ("text", "follows"),
    [
        ("and how long does that take?", True),
        ("can it come faster??", True),
        ("what about abroad?", True),
        ("how long do refunds take?", False),
        ("what about gift cards and store credit for my order?", False),
        ("i want to change the email on my account", False),
    ],
)
def test_a_follow_up_is_told_from_a_new_question_by_its_form(text: str, follows: bool) -> None:
    assert is_follow_up(text) is follows


def test_how_long_after_a_return_question_is_about_the_return(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    first = chat.say("how long do I have to return something?")
    assert cited(first).startswith("returns#")
    then = chat.say("and how long does that take?")
    about_returns = {"returns", "refund-status", "refund-policy"}
    if then.outcome == "clarify":
        # not sure enough to answer outright (the gate's middle): a choice, not a refusal, with
        # the return's articles first
        offered = [o.partition(":")[2] for o in then.slots["clarify_options"]]
        assert offered[0] in about_returns, offered
        return
    assert then.outcome == "article", then.says
    assert cited(then).partition("#")[0] in about_returns
    assert cited(then) != cited(first)  # not the same section again


def test_how_long_after_a_refund_answer_is_the_refund_not_the_delivery(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    assert cited(chat.say("how can I get my money back?")).startswith("request-refund")
    then = chat.say("and how long does that usually take?")
    assert then.outcome == "article" and cited(then).startswith("refund-status#")


def test_faster_after_a_delivery_question_offers_the_delivery_options(kb: KnowledgeBase) -> None:
    chat = DecisionChat(kb)
    assert chat.say("when will my parcel get here?").outcome == "article"
    then = chat.say("could it come any quicker?")
    assert then.outcome == "article" and cited(then).startswith("delivery-options#")


@pytest.mark.parametrize("first", ["I paid but forgot my promo code", "how do I use a promo code"])
def test_faster_after_promo_codes_is_not_answered_from_the_codes_again(
    kb: KnowledgeBase, first: str
) -> None:
    """The codes' article would answer again from another section, while the message alone
    leans to the delivery options: both are offered, the codes' first, not a guess."""
    chat = DecisionChat(kb)
    assert cited(chat.say(first)).startswith("promo-codes#")
    then = chat.say("can it come faster??")
    assert then.outcome == "clarify", then.says
    offered = [o.partition(":")[2] for o in then.slots["clarify_options"]]
    assert offered == ["promo-codes", "delivery-options"], offered


def test_a_first_message_is_never_read_as_a_follow_up(kb: KnowledgeBase) -> None:
    alone = DecisionChat(kb).say("and how long does that take normally?")
    assert alone.slots["last_question"] == "and how long does that take normally?"


@pytest.mark.parametrize(
    ("question", "section"),
    [
        ("how do returns work?", "returns#how-to-start-a-return"),
        ("I paid but forgot my promo code", "promo-codes#forgot-to-use-a-code"),
        ("i already checked out and forgot to enter my discount code", "promo-codes#forgot"),
        ("how do I get a refund?", "request-refund#"),
        ("how long does delivery take?", "delivery-times#"),
    ],
)
def test_the_section_that_answers_is_quoted(kb: KnowledgeBase, question: str, section: str) -> None:
    plan = DecisionChat(kb).say(question)
    assert plan.outcome == "article" and cited(plan).startswith(section), cited(plan)


def test_a_refund_that_has_not_arrived_is_not_a_warranty_question(kb: KnowledgeBase) -> None:
    plan = DecisionChat(kb).say("returned a rug 10 days ago and i still don't have my money")
    offered = [h["id"] for h in plan.slots["kb_articles_tried"]]
    assert offered[0] == "refund-status", offered


def test_a_product_question_is_not_answered_with_the_gift_card_article(kb: KnowledgeBase) -> None:
    plan = DecisionChat(kb).say("got any presents for under $25?")
    assert not (plan.outcome == "article" and cited(plan).startswith("gift-cards"))


def test_an_insult_gets_the_complaint_handoff(kb: KnowledgeBase) -> None:
    plan = DecisionChat(kb).say("what a useless bot, you are so stupid")
    assert plan.outcome == "handoff" and plan.slots["route"] == "handoff"
    assert plan.slots["last_routing"]["routes"][0]["label"] == "intent:complaint"


def test_noise_is_not_a_content_gap(kb: KnowledgeBase) -> None:
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    asked = ["Ù𕮕÷7…", "l", "asdfgh", "do you do gift wrapping"]
    questions = [
        Question(f"c{i}", text, at + timedelta(minutes=i), "cant_answer")
        for i, text in enumerate(asked)
    ]
    gaps = find_gaps(questions, kb, GATE)
    assert [g.title for g in gaps] == ["do you do gift wrapping"]


def test_a_price_question_is_not_grouped_with_spare_parts(kb: KnowledgeBase) -> None:
    texts = [
        "do you sell spare parts for the oak dining table",
        "can i buy replacement legs for my dining table",
        "how much does the oak dining table cost",
    ]
    vectors = kb.embedder.encode(texts)
    labels = _cluster(vectors, [False, False, True]).tolist()
    assert labels[0] == labels[1] and labels[2] != labels[0]
