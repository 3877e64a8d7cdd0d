"""Rasa-side check: the trained model parses and predicts the same with the patches as without."""

from __future__ import annotations

import asyncio
from typing import Any

import rasa.core.processor
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_plugins import speedups
from rasa_plugins.graph_runner import SequentialGraphRunner
from tests.rasa_side import run_check

TEXTS = [
    "hi",
    "how do i reset my password",
    "where is my order A1001?",
    "never mind, how do returns work?",
    "what is the meaning of life",
    "talk to a human",
    "yes",
    "no thanks",
    "",
    "do you ship to canada",
    "💡 ça marche?",
    "/request_human",
]


def _parse(processor: MessageProcessor, text: str) -> dict[str, Any]:
    return asyncio.run(processor.parse_message(UserMessage(text)))


def _predict(processor: MessageProcessor, events: list[Event]) -> list[Any]:
    tracker = DialogueStateTracker.from_events("t", events, slots=processor.domain.slots)
    prediction = processor._predict_next_with_tracker(tracker)
    return [
        prediction.policy_name,
        prediction.max_confidence,
        prediction.probabilities,
        # without the timestamps, made at the time
        [{k: v for k, v in e.as_dict().items() if k != "timestamp"} for e in prediction.events],
        prediction.is_end_to_end_prediction,
    ]


def _histories(parses: list[dict[str, Any]]) -> list[list[Event]]:
    """A conversation growing by each text, and each text after an answer (25 histories)."""
    histories: list[list[Event]] = [[ActionExecuted("action_listen")]]
    for text, parsed in zip(TEXTS, parses, strict=True):
        said = UserUttered(text, parsed["intent"], parsed["entities"], parse_data=parsed)
        histories.append([*histories[-1], said])
        histories.append(
            [
                ActionExecuted("action_listen"),
                said,
                ActionExecuted("action_kb_answer"),
                SlotSet("route", "answered"),
            ]
        )
    return histories


def check_same_parses_and_predictions(model: str) -> None:
    """Every parse and next-action prediction is Rasa's own with the patches in place, and the
    graph runs in SequentialGraphRunner, its plan made once per kind of run."""
    shipped = Agent.load(model).processor
    assert type(shipped.graph_runner) is DaskGraphRunner
    parses = [_parse(shipped, text) for text in TEXTS]
    histories = _histories(parses)
    predictions = [_predict(shipped, events) for events in histories]

    speedups.install()
    try:
        patched = Agent.load(model).processor
        runner = patched.graph_runner
        assert type(runner) is SequentialGraphRunner
        for text, parsed in zip(TEXTS, parses, strict=True):
            assert _parse(patched, text) == parsed, text
        for events, predicted in zip(histories, predictions, strict=True):
            assert _predict(patched, events) == predicted, events
        assert len(runner._plans) == 2  # one order for parsing, one for predicting
        try:
            runner.run(inputs={"__message__": "nlu_message_converter"})
        except GraphRunError:
            pass
        else:
            raise AssertionError("an input named like a node was not refused")
    finally:
        speedups.undo()
    assert rasa.core.processor.DaskGraphRunner is DaskGraphRunner  # what Rasa loads with again


if __name__ == "__main__":
    run_check(globals())
