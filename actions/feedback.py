"""👍 / 👎 after an answer: thank, or count it as unresolved and offer a person the second time."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import intent_of, knowledge_base, settings
from actions.kb import offer_human
from bot.dialogue.answers import Gate, choose
from bot.dialogue.replies import meta


def is_a_request(tracker: Tracker) -> bool:
    """Typed words the NLU took for 👍/👎 but the router places with an article or a flow."""
    text = tracker.latest_message.get("text") or ""
    if text.startswith("/") or len(text.split()) < 3:
        return False  # the widget's buttons, or "didn't help": feedback as meant
    config = settings()
    routing = knowledge_base().route(
        text, tracker.latest_message.get("intent_ranking"), config.nlu_weight
    )
    if routing is None:
        return False
    gate = Gate(config.answer_threshold, config.clarify_threshold, config.similarity_threshold)
    choice = choose(routing, gate)
    return choice.outcome == "article" or (
        choice.outcome == "intent" and choice.top.intent not in {"out_of_scope", "chitchat"}
    )


class ActionFeedback(Action):
    """Record whether the last answer helped."""

    def name(self) -> str:
        return "action_feedback"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        intent = intent_of(tracker)
        article = tracker.get_slot("last_article")
        if is_a_request(tracker):
            # "i got the wrong item" is a problem to solve, not a verdict on the last answer
            return [FollowupAction("action_kb_answer")]
        if intent == "feedback_helpful":
            dispatcher.utter_message(
                text="Glad that helped! Anything else?",
                json_message=meta("smalltalk", intent, article),
            )
            return [SlotSet("unresolved_turns", 0.0)]
        unresolved = float(tracker.get_slot("unresolved_turns") or 0) + 1
        events: list[dict[str, Any]] = [SlotSet("unresolved_turns", unresolved)]
        if unresolved >= 2:
            return events + offer_human(dispatcher, intent, "negative_feedback")
        dispatcher.utter_message(
            text="Sorry that didn't help. Could you tell me a bit more about what you need?",
            buttons=[{"title": "Talk to a person", "payload": "/request_human"}],
            json_message=meta("fallback", intent, article),
        )
        return events
