"""Answer questions from the knowledge base: answer with a citation, clarify, or say we can't."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import intent_of, knowledge_base, settings
from bot.dialogue.answers import Gate, answer_text, article_meta, choose, decide
from bot.dialogue.flows import (
    ASK_DETAILS,
    FLOWS,
    Details,
    FlowContext,
    declines,
    details_in,
    looks_like_a_bad_order_number,
    next_route,
    says_yes_or_no,
    starting_slots,
    without_reply_words,
)
from bot.dialogue.replies import meta
from bot.kb.router import INTENT, ROUTED_INTENTS, Route, Routing
from bot.store.base import valid_email, valid_order_number

CANT_ANSWER = (
    "I'm sorry, I don't have an answer to that. I can help with orders, delivery, returns, "
    "payments and your account, or I can pass you to a person."
)
OFFER_HUMAN = "That's twice I couldn't help. Would you like me to pass you to a person?"
ROUTABLE = set(ROUTED_INTENTS)
# Cosine thresholds of the search-only decision (an index without a router): the values the
# bot used before the router (benchmarks/README.md, "Calibration").
SEARCH_ANSWER, SEARCH_CLARIFY = 0.50, 0.38
REPLIES = {
    "greet": "utter_greet",
    "goodbye": "utter_goodbye",
    "thanks": "utter_thanks",
    "bot_challenge": "utter_iamabot",
    "chitchat": "utter_chitchat",
    "out_of_scope": "utter_out_of_scope",
    "affirm": "utter_how_can_help",
    "deny": "utter_ok",
}
BAD_ORDER_NUMBER = (
    "That doesn't look like one of our order numbers: they have 3 digits, a dash and 4 digits, "
    "like 123-4567."
)
NOT_UNDERSTOOD = 'Sorry, I didn\'t get that. You can say "never mind" to stop.'
# Replies that leave a form where it was when said in the middle of it.
SMALL_TALK = {"greet", "thanks", "bot_challenge", "chitchat"}
ASK_WHAT_FOR = "Thanks. What would you like me to do with {email}?"


def _remember(tracker: Tracker, hits) -> list[dict]:
    tried = list(tracker.get_slot("kb_articles_tried") or [])
    for hit in hits:
        if all(t["id"] != hit.id for t in tried):
            tried.append(
                {"id": hit.id, "title": hit.title, "url": hit.link, "score": round(hit.score, 4)}
            )
    return tried[-10:]


def offer_human(dispatcher: CollectingDispatcher, intent: str | None, reason: str) -> list[dict]:
    """Offer a person after repeated failure."""
    dispatcher.utter_message(
        text=OFFER_HUMAN,
        buttons=[
            {"title": "Yes, a person please", "payload": "/request_human"},
            {"title": "No, thanks", "payload": "/deny"},
        ],
        json_message=meta("handoff_offer", intent, reason=reason),
    )
    return [SlotSet("handoff_offer_reason", reason)]


ORDINALS = {
    "first": 0,
    "1": 0,
    "one": 0,
    "second": 1,
    "2": 1,
    "two": 1,
    "third": 2,
    "3": 2,
    "three": 2,
    "last": -1,
}


def _by_ordinal(text: str, options: list[str]) -> str | None:
    """'the second one' picks the second clarify option."""
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in ORDINALS and options:
            index = ORDINALS[word]
            return options[index] if index < len(options) else None
    return None


class ActionKbAnswer(Action):
    """Decide what a customer's message is for: an article, a flow, a person, small talk, or
    "can't answer". The router (trained with the index) and Rasa's intent ranking are fused,
    and the gate in `bot.dialogue.answers.choose` decides; flows and handoff carry on through
    the `route` slot and the dialogue rules."""

    def name(self) -> str:
        return "action_kb_answer"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        intent = intent_of(tracker)
        text = tracker.latest_message.get("text") or ""
        # a form the customer just left (another request, or "no, never mind ...")
        stopped = tracker.latest_action_name == "action_deactivate_loop"
        details = details_in(text, tracker.latest_message.get("entities"))
        question = text
        if intent in {"affirm", "deny"} and not text.startswith("/") and says_yes_or_no(text):
            question = without_reply_words(text)
            if not details and len(question.split()) < 3:
                reply = "utter_flow_stopped" if stopped else REPLIES[intent]
                dispatcher.utter_message(response=reply)
                return [SlotSet("route", "done")]
        config = settings()
        kb = knowledge_base()
        vector = None
        if text.startswith("/") and intent in ROUTABLE:
            # a button or a payload ("Talk to a human" sends /request_human): the intent is
            # given, not guessed, so there is nothing to route
            routing = Routing([Route(INTENT + intent, 1.0, 1.0, text)])
        else:
            vector = kb.encode(question) if question.strip() else None
            ranking = tracker.latest_message.get("intent_ranking")
            routing = kb.route(question, ranking, config.nlu_weight, vector=vector)
        if routing is None and intent in ROUTABLE:
            # an index without a router (built before routing, or one article and no NLU
            # examples): the NLU's intent decides, as it did before the router
            routing = Routing([Route(INTENT + intent, 1.0, 1.0, text)])
        elif routing is None:
            return [SlotSet("route", "done"), *self._by_search(dispatcher, tracker, intent)]
        record = routing.to_dict()
        events: list[dict[str, Any]] = [
            SlotSet("last_question", question),
            SlotSet("last_routing", record),
            SlotSet("route", "done"),
        ]
        gate = Gate(config.answer_threshold, config.clarify_threshold, config.similarity_threshold)
        choice = choose(routing, gate)
        context = FlowContext.from_slot(tracker.get_slot("flow_context"))
        turn = customer_turns(tracker)
        top = choice.top.intent if choice.top else None
        flow = next_route(choice.outcome, top, details, context, turn)
        if flow != "handoff" and tracker.get_slot("handoff_offer_reason"):
            # the customer moved on from an offer of a person: a later "yes" is not accepting it
            events.append(SlotSet("handoff_offer_reason", None))
        if stopped and flow is None and choice.outcome in {"clarify", "fallback"}:
            # in the middle of a form, and not a question we can answer
            if intent == "deny" or declines(text):
                # "no, I don't want to give you that": the form stops
                dispatcher.utter_message(response="utter_flow_stopped")
                return events
            if context is not None and context.state == "started":
                # not understood: say so, and ask the form's question again
                dispatcher.utter_message(
                    text=NOT_UNDERSTOOD, json_message=meta("fallback", intent, None, None)
                )
                return [*events, *resume_flow(tracker, context.flow)]
        if flow == ASK_DETAILS:
            return [*events, *_ask_what_for(dispatcher, intent, details, turn)]
        if stopped and context is not None and context.state == "started" and flow == context.flow:
            # the same flow asked for again in the middle of it ("its 100-92466", read as
            # "track my order"): carry on with what it has, and say what was wrong
            if looks_like_a_bad_order_number(text):
                dispatcher.utter_message(
                    text=BAD_ORDER_NUMBER, json_message=meta("flow", intent, flow=flow)
                )
            kept = resume_flow(tracker, flow)
            return [*events, *kept, *(SlotSet(k, v) for k, v in details.as_slots().items() if v)]
        if flow is not None:
            return [*events, *start_flow(flow, details, context, turn)]
        if choice.outcome == "intent" and choice.top.intent == "out_of_scope":
            # a message the router knows is outside what a store does: a miss like any other
            return [*events, *_cant_answer(dispatcher, tracker, intent, choice.top)]
        if choice.outcome == "intent":
            dispatcher.utter_message(response=REPLIES.get(choice.top.intent, "utter_out_of_scope"))
            if (
                stopped
                and choice.top.intent in SMALL_TALK
                and context
                and context.state == "started"
            ):
                # "are you a bot?" in the middle of a form: answer, then carry on where it was
                return [*events, *resume_flow(tracker, context.flow)]
            return events
        hits = [
            kb.best_section(question, r.article_id, vector) for r in choice.routes if r.article_id
        ]
        hits = [h for h in hits if h is not None]
        events.append(SlotSet("kb_articles_tried", _remember(tracker, hits)))
        if choice.outcome == "article" and hits:
            top = hits[0]
            dispatcher.utter_message(
                text=answer_text(top),
                json_message=meta(
                    "article",
                    intent,
                    top.id,
                    choice.top.probability,
                    citation=article_meta(top),
                    feedback=True,
                ),
            )
            return [*events, SlotSet("last_article", top.id)]
        if choice.outcome == "clarify" and hits:
            return [*events, *_clarify(dispatcher, intent, hits, choice.top.probability)]
        top = choice.top
        return [*events, *_cant_answer(dispatcher, tracker, intent, top)]

    def _by_search(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, intent: str | None
    ) -> list[dict[str, Any]]:
        """The decision by search scores alone (no router in this index)."""
        question = tracker.latest_message.get("text") or ""
        hits = knowledge_base().search(question, k=3)
        decision = decide(hits, SEARCH_ANSWER, SEARCH_CLARIFY)
        events: list[dict[str, Any]] = [
            SlotSet("last_question", question),
            SlotSet("kb_articles_tried", _remember(tracker, decision.hits)),
        ]
        if decision.outcome == "article":
            top = decision.top
            dispatcher.utter_message(
                text=answer_text(top),
                json_message=meta(
                    "article", intent, top.id, top.score, citation=article_meta(top), feedback=True
                ),
            )
            return [*events, SlotSet("last_article", top.id)]
        if decision.outcome == "clarify":
            return [*events, *_clarify(dispatcher, intent, decision.hits, decision.top.score)]
        return [*events, *_cant_answer(dispatcher, tracker, intent, decision.top)]


def customer_turns(tracker: Tracker) -> int:
    """How many messages the customer has sent in this conversation (this one included)."""
    return sum(1 for e in tracker.events if e.get("event") == "user")


def resume_flow(tracker: Tracker, flow: str | None) -> list[dict[str, Any]]:
    """Go back to a form the customer left for small talk, keeping only valid answers."""
    if flow not in FLOWS:
        return []
    email, number = tracker.get_slot("email"), tracker.get_slot("order_number")
    return [
        SlotSet("route", flow),
        SlotSet("email", email if email and valid_email(str(email)) else None),
        SlotSet("order_number", number if number and valid_order_number(str(number)) else None),
    ]


def start_flow(
    route: str, details: Details, context: FlowContext | None, turn: int
) -> list[dict[str, Any]]:
    """Set a flow off with the details of this request only (no slot from an earlier flow)."""
    events = [SlotSet("route", route)]
    if route not in FLOWS:
        return events
    slots = starting_slots(route, details, context, turn)
    return [
        *events,
        *(SlotSet(name, value) for name, value in slots.items()),
        SlotSet("form_tries", 0.0),
        SlotSet("flow_failed", None),
        SlotSet("flow_context", FlowContext(route, "started", turn).to_slot()),
    ]


def _ask_what_for(dispatcher, intent, details: Details, turn: int) -> list[dict]:
    """An email on its own and nothing to use it for: ask, and keep it for the next request."""
    dispatcher.utter_message(
        text=ASK_WHAT_FOR.format(email=details.email),
        buttons=[
            {"title": "Reset my password", "payload": "/reset_password"},
            {"title": "Track an order", "payload": "/track_order"},
        ],
        json_message=meta("clarify", intent, options=[]),
    )
    kept = FlowContext(None, "details", turn, email=details.email)
    return [SlotSet("flow_context", kept.to_slot())]


def _clarify(dispatcher, intent, hits, score) -> list[dict]:
    """Offer the closest articles as buttons."""
    dispatcher.utter_message(
        text="I found a few articles that might help. Which one is closest?"
        if len(hits) > 1
        else "This article might help:",
        buttons=[
            {"title": h.title, "payload": f'/choose_article{{"article_id": "{h.id}"}}'}
            for h in hits
        ],
        json_message=meta(
            "clarify",
            intent,
            hits[0].id,
            score,
            options=[article_meta(h) for h in hits],
        ),
    )
    return [SlotSet("clarify_options", [h.id for h in hits])]


def _cant_answer(dispatcher, tracker, intent, top) -> list[dict]:
    """Say we can't answer; the second time in a row, offer a person."""
    unresolved = float(tracker.get_slot("unresolved_turns") or 0) + 1
    if top is None:
        score, top_article = None, None
    elif hasattr(top, "probability"):  # a route
        score, top_article = top.probability, top.article_id or top.label
    else:  # a search hit
        score, top_article = top.score, top.id
    dispatcher.utter_message(
        text=CANT_ANSWER,
        # the top candidate is kept (not cited) so `bot eval calibrate` can replay thresholds
        json_message=meta(
            "fallback",
            intent,
            None,
            score,
            top_article=top_article,
        ),
    )
    events = [SlotSet("unresolved_turns", unresolved)]
    if unresolved >= 2:
        events += offer_human(dispatcher, intent, "low_confidence")
    return events


class ActionAnswerChosenArticle(Action):
    """The customer picked one of the clarify buttons: answer from that article."""

    def name(self) -> str:
        return "action_answer_chosen_article"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        article_id = next(tracker.get_latest_entity_values("article_id"), None) or _by_ordinal(
            tracker.latest_message.get("text") or "", tracker.get_slot("clarify_options") or []
        )
        question = tracker.get_slot("last_question") or ""
        top = knowledge_base().best_section(question, article_id) if article_id else None
        if top is None:
            dispatcher.utter_message(
                text=CANT_ANSWER, json_message=meta("fallback", "choose_article")
            )
            return []
        dispatcher.utter_message(
            text=answer_text(top),
            json_message=meta(
                "article",
                "choose_article",
                top.id,
                top.score,
                citation=article_meta(top),
                feedback=True,
            ),
        )
        return [SlotSet("last_article", top.id)]
