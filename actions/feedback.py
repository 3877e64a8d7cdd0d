"""👍 / 👎 after an answer: thank, or count it as unresolved and offer a person the second time."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import intent_of
from actions.kb import offer_human
from bot.dialogue.replies import meta


class ActionFeedback(Action):
    """Record whether the last answer helped."""

    def name(self) -> str:
        return "action_feedback"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        intent = intent_of(tracker)
        article = tracker.get_slot("last_article")
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
