"""👍 / 👎 after an answer: thank, or count it as unresolved and offer a person the second time."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import gate, knowledge, render, turn_of
from bot.dialogue.decision import decide_feedback


class ActionFeedback(Action):
    """Record whether the last answer helped (typed words that are a request go to the KB)."""

    def name(self) -> str:
        return "action_feedback"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        return render(dispatcher, decide_feedback(turn_of(tracker), knowledge(tracker), gate()))
