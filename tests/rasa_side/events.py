"""Rasa-side checks: event classes looked up by name, and action replies checked, as Rasa does."""

from __future__ import annotations

import datetime

from rasa.core.actions.action import RemoteAction
from rasa.shared.core import events as e
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.utils.common import all_subclasses

from rasa_plugins import speedups
from tests.rasa_side import run_check


def check_event_classes() -> None:
    """Every event class is found by its name as Rasa finds it; unknown names get Rasa's
    default or error."""
    rasas_own = {
        cls.type_name: Event.resolve_by_type(cls.type_name) for cls in all_subclasses(Event)
    }
    assert len(rasas_own) > 20
    speedups.install()
    speedups.install()  # twice is the same as once
    try:
        assert "event_lookup" in speedups.installed()
        for _ in range(2):  # found, then remembered
            for name, cls in rasas_own.items():
                assert Event.resolve_by_type(name) is cls, name
        assert Event.resolve_by_type("no-such-event", UserUttered) is UserUttered
        assert Event.resolve_by_type("topic") is None
        try:
            Event.resolve_by_type("no-such-event")
        except ValueError as exc:
            assert str(exc) == "Unknown event name 'no-such-event'.", exc
        else:
            raise AssertionError("an unknown event name raised nothing")
        event = Event.from_parameters({"event": "user", "text": "hi", "parse_data": {}})
        assert type(event) is UserUttered
    finally:
        speedups.undo()


GOOD_EVENTS = [
    e.SlotSet("route", "done"),
    e.SlotSet("n", 3),
    e.SlotSet("x", None),
    e.UserUttered("hi", {"intent": {"name": "greet", "confidence": 0.9}, "entities": []}),
    e.BotUttered("Hello", {"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
    e.ActionExecuted("action_listen"),
    e.ActiveLoop("track_order_form"),
    e.ActiveLoop(None),
    e.FollowupAction("action_kb_answer"),
    e.SessionStarted(),
    e.Restarted(),
    e.AllSlotsReset(),
    e.ActionExecutionRejected("validate_x"),
    e.LoopInterrupted(True),
    e.ConversationPaused(),
    e.ConversationResumed(),
    e.UserUtteranceReverted(),
    e.ActionReverted(),
    e.ReminderScheduled("greet", datetime.datetime(2030, 1, 1)),
    e.ReminderCancelled(name="r"),
    e.StoryExported(),
    e.EntitiesAdded([]),
]
GOOD_REPLIES = [
    {"events": [event.as_dict() for event in GOOD_EVENTS], "responses": [{"text": "hi"}]},
    {"events": [], "responses": []},
    {},
    {"responses": [{"text": "only text"}]},
]
BAD_REPLIES = [
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot"}]},  # a slot without a name
    {"events": [{"name": "x"}]},  # no event name
    {"events": [{"event": 3}]},
    {"events": [{"event": "slot", "name": "x", "timestamp": "yesterday"}]},
    {"events": {"event": "slot"}},
    {"events": ["slot"]},
    {"responses": "hello"},
    {"responses": ["hello"]},
    [],
    {"events": [{"event": "user", "parse_data": {"intent": {"name": 5}}}]},
]


def _verdict(reply: object) -> str | None:
    """None when RemoteAction accepts the reply, else the error it raises."""
    try:
        RemoteAction("action_any", None)._validate_action_result(reply)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return f"{type(exc).__name__}: {exc}"
    return None


def check_action_replies() -> None:
    """Replies pass and fail as with Rasa's own check, with Rasa's own error."""
    replies = GOOD_REPLIES + BAD_REPLIES
    rasas_own = [_verdict(reply) for reply in replies]
    assert rasas_own[: len(GOOD_REPLIES)] == [None] * len(GOOD_REPLIES), rasas_own
    assert all(rasas_own[len(GOOD_REPLIES) :]), rasas_own
    fast, full = speedups._fast_check(), speedups._response_validator()
    for reply in replies:  # the one-shape check agrees with the full schema
        assert fast(reply) == (not list(full.iter_errors(reply))), reply
    speedups.install()
    try:
        assert "action_reply_check" in speedups.installed()
        assert [_verdict(reply) for reply in replies] == rasas_own
    finally:
        speedups.undo()


if __name__ == "__main__":
    run_check(globals())
