"""Answer questions from the knowledge base: answer with a citation, clarify, or say we can't."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import intent_of, knowledge_base, settings
from bot.dialogue.answers import answer_text, article_meta, decide
from bot.dialogue.replies import meta

CANT_ANSWER = (
    "I'm sorry, I don't have an answer to that. I can help with orders, delivery, returns, "
    "payments and your account, or I can pass you to a person."
)
OFFER_HUMAN = "That's twice I couldn't help. Would you like me to pass you to a person?"


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
    """Search the articles for the customer's question and reply by the thresholds."""

    def name(self) -> str:
        return "action_kb_answer"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        intent = intent_of(tracker)
        question = tracker.latest_message.get("text") or ""
        config = settings()
        hits = knowledge_base().search(question, k=3)
        decision = decide(hits, config.answer_threshold, config.clarify_threshold)
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
            dispatcher.utter_message(
                text="I found a few articles that might help. Which one is closest?",
                buttons=[
                    {"title": h.title, "payload": f'/choose_article{{"article_id": "{h.id}"}}'}
                    for h in decision.hits
                ],
                json_message=meta(
                    "clarify",
                    intent,
                    decision.top.id,
                    decision.top.score,
                    options=[article_meta(h) for h in decision.hits],
                ),
            )
            return [*events, SlotSet("clarify_options", [h.id for h in decision.hits])]
        unresolved = float(tracker.get_slot("unresolved_turns") or 0) + 1
        score = decision.top.score if decision.top else None
        dispatcher.utter_message(
            text=CANT_ANSWER,
            # the top article is kept (not cited) so `bot eval calibrate` can replay thresholds
            json_message=meta(
                "fallback",
                intent,
                None,
                score,
                top_article=decision.top.id if decision.top else None,
            ),
        )
        events.append(SlotSet("unresolved_turns", unresolved))
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
