"""Open messages, clarify choices and guides' buttons: the turn's decision, rendered."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import gate, knowledge, render, turn_of
from actions.restock import subscriber
from bot.dialogue.decision import decide, decide_choice, decide_guide
from bot.dialogue.restock import restock_step


class ActionKbAnswer(Action):
    """An open message decided and rendered; the `route` slot tells the rules what follows.
    A back-in-stock alert's messages (its button, its email) are taken first."""

    def name(self) -> str:
        return "action_kb_answer"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        turn = turn_of(tracker)
        plan = restock_step(turn, subscriber(tracker))
        return render(dispatcher, plan or decide(turn, knowledge(tracker), gate()))


class ActionAnswerChosenArticle(Action):
    """The customer picked one of the clarify buttons: answer from that article."""

    def name(self) -> str:
        return "action_answer_chosen_article"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        return render(dispatcher, decide_choice(turn_of(tracker), knowledge(tracker)))


class ActionGuideStep(Action):
    """The customer clicked a choice of an article's guide: show the step it leads to."""

    def name(self) -> str:
        return "action_guide_step"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> list[dict[str, Any]]:
        return render(dispatcher, decide_guide(turn_of(tracker), knowledge(tracker)))
