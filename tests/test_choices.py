"""The gate's middle in customers' words: a choice of articles and flows, and what comes next
(pick one, "something else", typing instead of clicking, a new question instead of a pick).
Decision-level: plain dataclasses, no Rasa, no model (tests/test_decision.py's Shelf)."""

from __future__ import annotations

from bot.dialogue import replies
from bot.dialogue.answers import Gate, choose
from bot.dialogue.choices import by_ordinal, by_title
from bot.dialogue.decision import decide, decide_choice
from bot.dialogue.turn import Turn
from bot.kb.router import Routing
from tests.test_decision import GATE, Shelf, article, intent, said

WHERE = "where is my parcel?"
OFFERED = ("article:delivery-options", "intent:track_order", "article:shipping-costs")


def after_a_choice(text: str, intent_name: str | None = "ask_question", **extra) -> Turn:
    """The customer's next message once the bot offered OFFERED for WHERE."""
    return Turn(text, intent_name, number=2, clarify_options=OFFERED, last_question=WHERE, **extra)


def test_an_unsure_question_offers_articles_and_flows_worded_as_a_question() -> None:
    shelf = Shelf(
        [article("delivery-options", 0.32), intent("track_order", 0.30), intent("greet", 0.2)]
    )
    plan = decide(Turn(WHERE, "ask_question"), shelf, GATE)
    assert plan.outcome == "clarify" and said(plan) == [replies.CLARIFY_MANY]
    buttons = plan.says[0].buttons
    assert [b.title for b in buttons] == ["Delivery options", "Track an order", "Something else"]
    assert [b.payload for b in buttons][1:] == ["/track_order", "/none_of_these"]
    assert plan.slots["clarify_options"] == ["article:delivery-options", "intent:track_order"]
    options = plan.says[0].meta["options"]
    assert [o["label"] for o in options] == ["article:delivery-options", "intent:track_order"]
    assert plan.slots["route"] == "done"  # nothing starts before the customer picks


def test_a_flow_alone_can_be_offered_and_small_talk_never_is() -> None:
    flow_only = Routing([intent("reset_password", 0.4), intent("chitchat", 0.35)])
    assert [r.label for r in choose(flow_only, GATE).routes] == ["intent:reset_password"]
    plan = decide(Turn("my login thing", "ask_question"), Shelf(flow_only.routes), GATE)
    assert said(plan) == [replies.CLARIFY_ONE] and plan.says[0].buttons[0].title == (
        "Reset my password"
    )
    small_talk = Routing([intent("chitchat", 0.4), intent("out_of_scope", 0.35)])
    assert choose(small_talk, GATE).outcome == "fallback"


def test_the_gate_refuses_what_is_unlike_anything_and_acts_when_sure() -> None:
    far = Routing([article("returns", 0.5, nearest=0.2)])
    assert choose(far, GATE).outcome == "fallback"
    sure = Routing([article("returns", 0.7), article("refund-status", 0.2)])
    assert choose(sure, GATE).outcome == "article"
    weak = Routing([article("returns", 0.25), article("refund-status", 0.2)])
    assert choose(weak, GATE).outcome == "fallback"  # plausible is at least `clarify`
    lower = Gate(answer=0.6, clarify=0.2, similarity=0.5)
    assert [r.article_id for r in choose(weak, lower).routes] == ["returns", "refund-status"]


def test_picking_an_offered_flow_starts_it() -> None:
    plan = decide(after_a_choice("/track_order", "track_order"), Shelf(), GATE)
    assert plan.outcome == "flow" and plan.slots["route"] == "track_order"
    assert plan.slots["order_number"] is None and plan.slots["clarify_options"] is None


def test_picking_an_offered_article_answers_the_question_from_it() -> None:
    turn = after_a_choice(
        '/choose_article{"article_id": "shipping-costs"}',
        "choose_article",
        chosen_article="shipping-costs",
    )
    plan = decide_choice(turn, Shelf())
    assert plan.outcome == "article" and plan.slots["last_article"] == "shipping-costs"
    assert plan.says[0].meta["citation"]["id"] == "shipping-costs"


def test_something_else_asks_for_other_words_and_offers_a_person() -> None:
    plan = decide_choice(after_a_choice("/none_of_these", "none_of_these"), Shelf())
    assert said(plan) == [replies.SOMETHING_ELSE_SAID]
    assert [b.title for b in plan.says[0].buttons] == [replies.TALK_TO_A_PERSON.title]
    assert plan.slots["handoff_offer_reason"] == "low_confidence"  # a "yes" gets the person
    assert plan.slots["clarify_options"] is None
    typed = decide_choice(after_a_choice("none of these", "none_of_these"), Shelf())
    assert said(typed) == [replies.SOMETHING_ELSE_SAID]
    # "neither" with nothing offered is an open message like any other
    alone = decide_choice(Turn("neither", "none_of_these"), Shelf())
    assert alone.outcome == "routed" and alone.followup == "action_kb_answer"


def test_typing_the_second_one_instead_of_clicking_starts_the_second_choice() -> None:
    # the NLU took it for a pick: its action hands flows to the open-message decision...
    handed = decide_choice(after_a_choice("the second one", "choose_article"), Shelf())
    assert handed.outcome == "routed" and handed.followup == "action_kb_answer"
    # ...which starts it, whatever the NLU made of the words
    for nlu in ("choose_article", "ask_question", "nlu_fallback"):
        plan = decide(after_a_choice("the second one please", nlu), Shelf(), GATE)
        assert plan.outcome == "flow" and plan.slots["route"] == "track_order"
    first = decide_choice(after_a_choice("I'll take the first one", "choose_article"), Shelf())
    assert first.outcome == "article" and first.slots["last_article"] == "delivery-options"


def test_typing_the_words_of_a_title_picks_that_choice() -> None:
    plan = decide(after_a_choice("shipping costs"), Shelf([article("returns", 0.9)]), GATE)
    assert plan.outcome == "article" and plan.slots["last_article"] == "shipping-costs"
    flow = decide(after_a_choice("track an order"), Shelf(), GATE)
    assert flow.outcome == "flow" and flow.slots["route"] == "track_order"


def test_a_new_question_instead_of_a_pick_is_answered_as_a_new_question() -> None:
    shelf = Shelf([article("returns", 0.9)])
    plan = decide(after_a_choice("actually, how do I send back a lamp?"), shelf, GATE)
    assert plan.outcome == "article" and plan.slots["last_article"] == "returns"
    assert plan.slots["clarify_options"] is None  # the offer is over
    assert shelf.asked == ["actually, how do I send back a lamp?"]


def test_a_follow_up_question_after_a_choice_is_not_taken_for_a_pick() -> None:
    shelf = Shelf([article("refund-status", 0.8)])
    plan = decide(after_a_choice("which one is faster, and when do I get my refund?"), shelf, GATE)
    assert plan.outcome == "article" and plan.slots["last_article"] == "refund-status"
    picked = decide_choice(after_a_choice("which one costs less?", "choose_article"), Shelf())
    assert picked.outcome == "routed"  # not a pick: routed as a question


def test_ordinals_and_titles_name_one_option_or_none() -> None:
    options = ["a", "b", "c"]
    assert by_ordinal("the second one", options) == "b"
    assert by_ordinal("2", options) == "b"
    assert by_ordinal("option three please", options) == "c"
    assert by_ordinal("the last one", options) == "c"
    assert by_ordinal("number one", options) == "a"
    assert by_ordinal("the fourth one", options) is None
    assert by_ordinal("can I order one more?", options) is None
    assert by_ordinal("the first or the second", options) is None
    titles = {"a": "Delivery options", "b": "Shipping costs", "c": "Track an order"}
    assert by_title("the delivery one", titles) == "a"
    assert by_title("deliveries", titles) == "a"
    assert by_title("costs", titles) == "b"
    assert by_title("delivery costs", titles) is None  # two titles: ambiguous
    assert by_title("which one costs less?", titles) is None  # a question, not a pick
    assert by_title("how much does delivery to Canada cost for a big parcel", titles) is None
    assert by_title("hello", titles) is None
