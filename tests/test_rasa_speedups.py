"""rasa_plugins/speedups.py changes how much CPU Rasa spends, never what it does.

Rasa is in .venv-rasa, so the checks run there, as a script, and report back.
"""

from __future__ import annotations

import json

from bot.stack import RASA_PYTHON
from tests.rasa_process import run_in_rasa

SCRIPT = r"""
import json
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.utils.common import all_subclasses

rasa_own = {cls.type_name: Event.resolve_by_type(cls.type_name) for cls in all_subclasses(Event)}
from rasa_plugins import speedups
speedups.install()
speedups.install()  # twice is the same as once
report = {
    "same": all(Event.resolve_by_type(n) is c for n, c in rasa_own.items()),
    "again": all(Event.resolve_by_type(n) is c for n, c in rasa_own.items()),
    "default": Event.resolve_by_type("no-such-event", UserUttered) is UserUttered,
    "topic": Event.resolve_by_type("topic") is None,
    "names": len(rasa_own),
}
try:
    Event.resolve_by_type("no-such-event")
    report["error"] = None
except ValueError as exc:
    report["error"] = str(exc)
event = Event.from_parameters({"event": "user", "text": "hi", "parse_data": {}})
report["parsed"] = type(event).__name__
print(json.dumps(report))
"""


def reported(script: str) -> dict:
    """Run the script under .venv-rasa's Python; its last line of output, as JSON."""
    done = run_in_rasa([str(RASA_PYTHON), "-c", script], timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_event_classes_are_found_as_rasa_finds_them() -> None:
    report = reported(SCRIPT)
    assert report["names"] > 20
    assert report["same"] and report["again"]
    assert report["default"] and report["topic"]
    assert report["error"] == "Unknown event name 'no-such-event'."
    assert report["parsed"] == "UserUttered"


REPLIES = r"""
import json
from rasa.shared.core import events as e
from rasa_plugins import speedups

good = [
    e.SlotSet("route", "done"), e.SlotSet("n", 3), e.SlotSet("x", None),
    e.UserUttered("hi", {"intent": {"name": "greet", "confidence": 0.9}, "entities": []}),
    e.BotUttered("Hello", {"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
    e.ActionExecuted("action_listen"), e.ActiveLoop("track_order_form"), e.ActiveLoop(None),
    e.FollowupAction("action_kb_answer"), e.SessionStarted(), e.Restarted(), e.AllSlotsReset(),
    e.ActionExecutionRejected("validate_x"), e.LoopInterrupted(True), e.ConversationPaused(),
    e.ConversationResumed(), e.UserUtteranceReverted(), e.ActionReverted(),
    e.ReminderScheduled("greet", __import__("datetime").datetime(2030, 1, 1)),
    e.ReminderCancelled(name="r"), e.StoryExported(), e.EntitiesAdded([]),
]
good = [event.as_dict() for event in good]
replies = [
    {"events": good, "responses": [{"text": "hi", "buttons": []}]},
    {"events": [], "responses": []},
    {},
    {"responses": [{"text": "only text"}]},
]
bad = [
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
fast = speedups._fast_check()
full = speedups._response_validator()
report = [
    {"fast": fast(r), "full": not list(full.iter_errors(r))} for r in replies + bad
]
print(json.dumps({"good": len(replies), "report": report}))
"""


def test_action_replies_pass_and_fail_as_with_rasas_full_check() -> None:
    result = reported(REPLIES)
    verdicts = result["report"]
    assert all(v["fast"] == v["full"] for v in verdicts), verdicts
    assert all(v["full"] for v in verdicts[: result["good"]])
    assert not any(v["full"] for v in verdicts[result["good"] :])
