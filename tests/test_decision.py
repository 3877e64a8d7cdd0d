"""The turn's decision in customers' words, on plain dataclasses: no Rasa, no model, no index."""

from __future__ import annotations

import ast
import datetime as dt
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.dialogue import replies, results
from bot.dialogue.answers import Gate
from bot.dialogue.decision import decide, decide_choice, decide_feedback
from bot.dialogue.flows import FlowContext
from bot.dialogue.handoff import bot_back, handoff_reason, relayed
from bot.dialogue.plan import Plan
from bot.dialogue.turn import Turn
from bot.kb.router import ARTICLE, INTENT, PRODUCT, Route, Routing
from bot.kb.search import Hit
from bot.store.base import Order

GATE = Gate(answer=0.6, clarify=0.3, similarity=0.5)
TITLES = {
    "refund-status": "Where is my refund?",
    "delivery-options": "Delivery options",
    "shipping-costs": "Shipping costs",
    "returns": "Returning an item",
}


def hit(article: str, score: float = 0.8) -> Hit:
    text = f"What {TITLES[article]} says, in one sentence."
    url = f"http://shop/help/{article}"
    return Hit(article, TITLES[article], "A section", "a-section", url, score, text, text, 1)


def article(article_id: str, probability: float, nearest: float = 0.9) -> Route:
    return Route(ARTICLE + article_id, probability, nearest, "a phrasing")


def intent(name: str, probability: float = 0.95, nearest: float = 0.9) -> Route:
    return Route(INTENT + name, probability, nearest, "a phrasing")


@dataclass
class Shelf:
    """A knowledge base that routes every message as it is told to and knows a few articles."""

    routes: list[Route] | None = None  # None: an index without a router
    found: list[Hit] = field(default_factory=list)  # what search finds
    asked: list[str] = field(default_factory=list)  # the questions routed or searched

    def route(self, question: str) -> Routing | None:
        self.asked.append(question)
        return Routing(self.routes) if self.routes else None

    def sections(
        self, question: str, article_ids: Sequence[str], avoid: tuple[str, str] | None = None
    ) -> list[Hit]:
        return [hit(a) for a in article_ids if a in TITLES]

    def search(self, question: str, k: int) -> list[Hit]:
        self.asked.append(question)
        return self.found[:k]


def said(plan: Plan) -> list[str]:
    """What the customer reads: the texts, and the domain responses by name."""
    return [s.text or s.response or "" for s in plan.says]


def in_a_form(flow: str, text: str, intent: str | None = None, **slots) -> Turn:
    """A message that made the running form step aside."""
    context = FlowContext(flow, "started", 1)
    return Turn(text, intent, after_form=True, flow_context=context, number=2, **slots)


def test_a_question_the_router_is_sure_of_gets_the_section_and_its_citation() -> None:
    plan = decide(
        Turn("how long do refunds take to reach my card", "ask_question"),
        Shelf([article("refund-status", 0.9), article("returns", 0.05)]),
        GATE,
    )
    assert plan.outcome == "article"
    assert said(plan)[0].endswith(
        "Source: [Where is my refund? › A section](http://shop/help/refund-status#a-section)"
    )
    assert plan.says[0].meta["citation"]["id"] == "refund-status"
    assert plan.slots["last_article"] == "refund-status" and plan.slots["route"] == "done"
    assert [t["id"] for t in plan.slots["kb_articles_tried"]] == ["refund-status"]


def test_a_close_call_offers_the_closest_articles_as_buttons() -> None:
    plan = decide(
        Turn("which delivery options do you have for my package"),
        Shelf([article("delivery-options", 0.45), article("shipping-costs", 0.35)]),
        GATE,
    )
    assert plan.outcome == "clarify" and said(plan) == [replies.CLARIFY_MANY]
    assert said(plan)[0].endswith("?")  # worded as a question
    titles = [b.title for b in plan.says[0].buttons]
    assert titles == ["Delivery options", "Shipping costs", replies.SOMETHING_ELSE.title]
    assert plan.says[0].buttons[0].payload == '/choose_article{"article_id": "delivery-options"}'
    assert plan.slots["clarify_options"] == ["article:delivery-options", "article:shipping-costs"]


def test_a_question_nobody_wrote_about_is_refused_and_the_second_offers_a_person() -> None:
    unknown = Shelf([article("returns", 0.2, nearest=0.1)])
    first = decide(Turn("what's the airspeed of an unladen swallow"), unknown, GATE)
    assert first.outcome == "cant_answer" and said(first) == [replies.CANT_ANSWER]
    assert first.slots["unresolved_turns"] == 1.0 and "handoff_offer_reason" not in first.slots
    assert first.says[0].meta["top_article"] == "returns"
    second = decide(Turn("how do i fix my carburetor", misses=1), unknown, GATE)
    assert said(second) == [replies.CANT_ANSWER, replies.OFFER_HUMAN]
    assert second.slots["handoff_offer_reason"] == "low_confidence"
    assert [b.payload for b in second.says[1].buttons] == ["/request_human", "/deny"]


def test_a_message_outside_what_a_store_does_is_a_miss() -> None:
    plan = decide(Turn("what's the weather on mars"), Shelf([intent("out_of_scope")]), GATE)
    assert plan.outcome == "cant_answer" and plan.slots["unresolved_turns"] == 1.0


def test_hello_is_answered_with_the_domains_greeting() -> None:
    plan = decide(Turn("hi there", "greet"), Shelf([intent("greet")]), GATE)
    assert plan.outcome == "reply" and said(plan) == ["utter_greet"]
    assert plan.slots["route"] == "done"


def test_i_forgot_my_password_starts_the_reset_with_no_email_yet() -> None:
    plan = decide(
        Turn("I forgot my password", "reset_password", email="old@example.com"),
        Shelf([intent("reset_password")]),
        GATE,
    )
    assert plan.outcome == "flow" and plan.says == ()
    assert plan.slots["route"] == "reset_password" and plan.slots["email"] is None
    assert plan.slots["flow_context"]["state"] == "started"


def test_an_order_number_in_the_question_starts_tracking_with_it() -> None:
    plan = decide(
        Turn("where is my order 100-9246", "track_order"), Shelf([intent("track_order")]), GATE
    )
    assert plan.slots["route"] == "track_order"
    assert plan.slots["order_number"] == "100-9246" and plan.slots["email"] is None


def test_the_talk_to_a_person_button_hands_off_without_routing() -> None:
    shelf = Shelf([article("returns", 0.9)])
    plan = decide(Turn("/request_human", "request_human"), shelf, GATE)
    assert plan.outcome == "handoff" and plan.says == ()
    assert plan.slots["route"] == "handoff" and shelf.asked == []


def test_yes_and_no_with_nothing_pending_are_answered_without_routing() -> None:
    shelf = Shelf([article("returns", 0.9)])
    assert said(decide(Turn("yes", "affirm"), shelf, GATE)) == ["utter_how_can_help"]
    assert said(decide(Turn("nope", "deny"), shelf, GATE)) == ["utter_ok"]
    stopped = decide(Turn("never mind", "deny", after_form=True), shelf, GATE)
    assert said(stopped) == ["utter_flow_stopped"] and stopped.slots == {"route": "done"}
    assert shelf.asked == []


def test_never_mind_with_a_question_answers_the_question() -> None:
    shelf = Shelf([article("returns", 0.9)])
    plan = decide(Turn("never mind, how do returns work?", "deny", after_form=True), shelf, GATE)
    assert plan.outcome == "article" and shelf.asked == ["how do returns work?"]


def test_no_to_a_forms_question_stops_the_form() -> None:
    turn = in_a_form("track_order", "no I don't want to give you that", "deny")
    plan = decide(turn, Shelf([article("returns", 0.1, nearest=0.1)]), GATE)
    assert plan.outcome == "stopped" and said(plan) == ["utter_flow_stopped"]
    assert plan.slots["route"] == "done"


def test_gibberish_in_the_middle_of_a_form_asks_again() -> None:
    turn = in_a_form("track_order", "asdf qwer", order_number="100-9246", email="bad@")
    plan = decide(turn, Shelf([article("returns", 0.1, nearest=0.1)]), GATE)
    assert plan.outcome == "not_understood" and said(plan) == [replies.NOT_UNDERSTOOD]
    assert plan.slots["route"] == "track_order"
    assert plan.slots["order_number"] == "100-9246" and plan.slots["email"] is None


def test_a_mistyped_order_number_in_the_middle_of_tracking_says_what_was_wrong() -> None:
    turn = in_a_form("track_order", "its 100-92466", "track_order")
    plan = decide(turn, Shelf([intent("track_order")]), GATE)
    assert plan.outcome == "flow" and said(plan) == [replies.BAD_ORDER_NUMBER]
    assert plan.slots["route"] == "track_order"


def test_are_you_a_bot_in_the_middle_of_a_form_is_answered_and_the_form_goes_on() -> None:
    turn = in_a_form("reset_password", "are you a bot?", "bot_challenge")
    plan = decide(turn, Shelf([intent("bot_challenge")]), GATE)
    assert said(plan) == ["utter_iamabot"] and plan.slots["route"] == "reset_password"


def test_an_email_on_its_own_asks_what_it_is_for_and_keeps_it() -> None:
    plan = decide(
        Turn("tara.tanaka86@example.com", "inform"), Shelf([article("returns", 0.1, 0.1)]), GATE
    )
    assert plan.outcome == "ask_details"
    assert said(plan) == ["Thanks. What would you like me to do with tara.tanaka86@example.com?"]
    assert [b.payload for b in plan.says[0].buttons] == ["/reset_password", "/track_order"]
    assert plan.slots["flow_context"]["email"] == "tara.tanaka86@example.com"


def test_a_new_question_withdraws_the_offer_of_a_person() -> None:
    turn = Turn("how long do refunds take", offer_reason="low_confidence")
    plan = decide(turn, Shelf([article("refund-status", 0.9)]), GATE)
    assert plan.outcome == "article" and plan.slots["handoff_offer_reason"] is None


def test_without_a_router_the_search_scores_decide() -> None:
    sure = Shelf(found=[hit("refund-status", 0.7)])
    plan = decide(Turn("how long do refunds take"), sure, GATE)
    assert plan.outcome == "article" and plan.slots["last_question"] == "how long do refunds take"
    unsure = Shelf(found=[hit("returns", 0.2)])
    assert decide(Turn("carburetor"), unsure, GATE).outcome == "cant_answer"


def test_thumbs_up_thanks_and_two_thumbs_down_offer_a_person() -> None:
    shelf = Shelf([article("returns", 0.9)])
    up = decide_feedback(Turn("👍", "feedback_helpful", misses=1), shelf, GATE)
    assert said(up) == [replies.HELPED] and up.slots == {"unresolved_turns": 0.0}
    down = decide_feedback(Turn("👎", "feedback_not_helpful"), shelf, GATE)
    assert said(down) == [replies.DID_NOT_HELP] and down.slots == {
        "unresolved_turns": 1.0,
        "handoff_offer_reason": "negative_feedback",  # its button offers a person
    }
    again = decide_feedback(Turn("👎", "feedback_not_helpful", misses=1), shelf, GATE)
    assert said(again) == [replies.OFFER_HUMAN]
    assert again.slots["handoff_offer_reason"] == "negative_feedback"


def test_a_problem_the_nlu_took_for_a_thumbs_down_is_answered_instead() -> None:
    shelf = Shelf([article("returns", 0.9)])
    plan = decide_feedback(
        Turn("i got the wrong item in my parcel", "feedback_not_helpful"), shelf, GATE
    )
    assert plan.outcome == "routed" and plan.followup == "action_kb_answer" and plan.says == ()
    # a product named as a first message ("teapot with infuser", read as a thumbs down)
    shelf = Shelf([Route(PRODUCT, 0.6, 0.7, "a phrasing")])
    plan = decide_feedback(Turn("teapot with infuser", "feedback_not_helpful"), shelf, GATE)
    assert plan.outcome == "routed" and plan.followup == "action_kb_answer"


def test_the_second_one_answers_from_the_second_article_offered() -> None:
    options = ("article:delivery-options", "article:shipping-costs")
    turn = Turn("the second one", "choose_article", clarify_options=options, last_question="q")
    plan = decide_choice(turn, Shelf())
    assert plan.outcome == "article" and plan.slots["last_article"] == "shipping-costs"
    assert plan.slots["clarify_options"] is None  # the choice is over
    # a conversation from before flows were offered kept bare article ids
    old = Turn("the second one", "choose_article", clarify_options=("returns", "refund-status"))
    assert decide_choice(old, Shelf()).slots["last_article"] == "refund-status"
    assert plan.slots["unresolved_turns"] == 0.0 and plan.slots["topic"]["question"] == "q"
    gone = decide_choice(Turn("", "choose_article", chosen_article="deleted"), Shelf())
    assert said(gone) == [replies.CANT_ANSWER]


def test_an_order_not_found_twice_offers_a_person_and_a_found_one_is_verified() -> None:
    once = results.order_not_found("999-9999", "x@y.com", 1, 3)
    assert said(once) == [replies.ORDER_NOT_FOUND.format(number="999-9999")]
    twice = results.order_not_found("999-9999", "x@y.com", 2, 5)
    assert said(twice)[1] == replies.OFFER_HUMAN
    assert twice.slots["handoff_offer_reason"] == "flow_failure"
    order = Order(
        "123-4567", "shipped", "UPS", "https://t/1", dt.date(2026, 11, 24), dt.date(2026, 11, 1), 1
    )
    found = results.order_found(order, "ana@example.com", 2)
    assert said(found)[0].startswith("Order **123-4567** is **shipped**")
    assert found.slots["verified_order_number"] == "123-4567"


def test_a_reset_link_reads_the_same_for_any_address() -> None:
    known = results.reset_sent("ana@example.com", "sent", False, "http://shop/help/x", 2)
    unknown = results.reset_sent("nobody@nowhere.example", "sent", False, "http://shop/help/x", 2)
    assert said(known)[0].replace("ana@example.com", "X") == said(unknown)[0].replace(
        "nobody@nowhere.example", "X"
    )
    limited = results.reset_sent("ana@example.com", "rate_limited", True, None, 2)
    assert said(limited) == [replies.RESET_LIMITED]


def test_a_form_gives_up_after_three_unreadable_answers() -> None:
    again = results.form_retry("reset_password", "email", 1, "again", "give up")
    assert said(again) == ["again"] and again.slots == {"email": None, "form_tries": 2.0}
    gave_up = results.form_retry("reset_password", "email", 2, "again", "give up")
    assert said(gave_up) == ["give up"] and gave_up.slots["flow_failed"] is True


def test_who_asked_for_the_person_decides_the_handoffs_reason() -> None:
    assert handoff_reason("complaint", "flow_failure", True) == "complaint"
    assert handoff_reason("request_human", "flow_failure", True) == "customer_request"
    assert handoff_reason("request_human", "flow_failure", False) == "flow_failure"
    assert handoff_reason("affirm", "low_confidence", True) == "low_confidence"


def test_while_a_person_owns_the_chat_the_bot_says_once_that_it_relays() -> None:
    first = relayed("greet", 7, 1, said_before=False)
    assert said(first) == [f"{replies.RELAYED_WAITING} You're next in the queue."]
    assert relayed("greet", 7, None, said_before=True).says == ()
    assert said(bot_back("EXTERNAL_handoff_resolved", True)) == [replies.RESOLVED_BY_AGENT]


def test_the_decision_needs_no_rasa() -> None:
    code = "import sys, bot.dialogue.decision; print('rasa_sdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_only_the_renderer_speaks_to_the_dispatcher() -> None:
    # the actions read the tracker and render a plan: what is said comes from bot.dialogue
    speakers = {
        path.name
        for path in (Path(__file__).parents[1] / "actions").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "utter_message"
    }
    assert speakers == {"common.py"}


def test_misses_are_counted_in_a_row_and_an_answer_starts_again() -> None:
    unknown = Shelf([article("returns", 0.2, nearest=0.1)])
    answered = decide(
        Turn("how long do refunds take", misses=1), Shelf([article("refund-status", 0.9)]), GATE
    )
    assert answered.outcome == "article" and answered.slots["unresolved_turns"] == 0.0
    after_an_answer = decide(Turn("what's the airspeed of a swallow", misses=0), unknown, GATE)
    assert said(after_an_answer) == [replies.CANT_ANSWER]  # one miss after an answer: no offer


def test_a_person_is_offered_once_then_a_miss_shows_the_button_instead() -> None:
    unknown = Shelf([article("returns", 0.2, nearest=0.1)])
    offered = decide(Turn("how do i fix my carburetor", misses=1), unknown, GATE)
    assert said(offered) == [replies.CANT_ANSWER, replies.OFFER_HUMAN]
    assert offered.slots["person_offered"] is True
    again = decide(Turn("what about my boat", misses=2, person_offered=True), unknown, GATE)
    assert said(again) == [replies.CANT_ANSWER]  # not the same question a second time
    assert [b.payload for b in again.says[0].buttons] == ["/request_human"]
    assert again.slots["handoff_offer_reason"] == "low_confidence"  # a "yes" still accepts
    down = decide_feedback(
        Turn("👎", "feedback_not_helpful", misses=1, person_offered=True), unknown, GATE
    )
    assert replies.OFFER_HUMAN not in said(down)


def test_another_order_uses_the_email_already_verified_in_the_conversation() -> None:
    found = FlowContext("track_order", "found", 2, "ana@example.com", "282-8129")
    turn = Turn(
        "and 814-7821 which seems late",
        "track_order",
        number=4,
        flow_context=found,
        verified_email="ana@example.com",
    )
    plan = decide(turn, Shelf([intent("track_order")]), GATE)
    assert plan.slots["route"] == "track_order" and plan.slots["order_number"] == "814-7821"
    assert plan.slots["email"] == "ana@example.com"  # not asked for again


def test_two_order_numbers_in_one_message_are_both_looked_up() -> None:
    plan = decide(
        Turn("where are 282-8129 and 814-7821?", "track_order"),
        Shelf([intent("track_order")]),
        GATE,
    )
    assert plan.slots["order_number"] == "282-8129"
    assert plan.slots["flow_context"]["queued"] == ["282-8129", "814-7821"]


def test_an_order_added_while_the_email_is_asked_for_keeps_the_first() -> None:
    turn = in_a_form("track_order", "and 814-7821 which seems late", "track_order")
    # the message's entity has already filled the slot; the form held 282-8129 before it
    turn = Turn(**{**turn.__dict__, "order_number": "814-7821", "order_number_before": "282-8129"})
    plan = decide(turn, Shelf([intent("track_order")]), GATE)
    assert plan.slots["order_number"] == "282-8129"
    assert plan.slots["flow_context"]["queued"] == ["282-8129", "814-7821"]
    assert said(plan) == [replies.another_order(("814-7821",))]


def test_each_order_looked_up_is_named_in_its_answer() -> None:
    first = Order(
        "282-8129", "shipped", "UPS", "https://t/1", dt.date(2026, 11, 24), dt.date(2026, 11, 1), 1
    )
    late = Order(
        "814-7821", "delayed", "UPS", "https://t/2", dt.date(2026, 11, 28), dt.date(2026, 11, 2), 1
    )
    plan = results.order_found(
        first, "ana@example.com", 3, [("814-7821", late), ("999-0000", None)]
    )
    texts = said(plan)
    assert texts[0].startswith("Order **282-8129**") and texts[1].startswith("Order **814-7821**")
    assert "999-0000" in texts[2] and plan.slots["verified_email"] == "ana@example.com"
