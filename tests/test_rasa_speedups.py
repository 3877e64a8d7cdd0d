"""rasa_plugins/speedups.py changes how much CPU Rasa spends, never what it does.

Rasa is in .venv-rasa, so the checks run there, as a script, and report back.
"""

from __future__ import annotations

import json
from pathlib import Path

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


RUNNERS = r"""
import asyncio, json, sys
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

texts = [
    "hi", "how do i reset my password", "where is my order A1001?", "never mind, how do "
    "returns work?", "what is the meaning of life", "talk to a human", "yes", "no thanks", "",
    "do you ship to canada", "💡 ça marche?", "/request_human",
]
processor = Agent.load(sys.argv[1]).processor
dask_runner = processor.graph_runner

def parse(runner, text):
    processor.graph_runner = runner
    return asyncio.run(processor.parse_message(UserMessage(text)))

rasas_own = [parse(dask_runner, text) for text in texts]
from rasa_plugins import speedups
speedups.install()  # DIET's direct call; Rasa now loads its models with the sequential runner
sequential = Agent.load(sys.argv[1]).processor.graph_runner
diet = [node._component for node in dask_runner._instantiated_nodes.values()
        if type(node._component).__name__ == "DIETClassifier"][0]
report = {"types": [type(dask_runner).__name__, type(sequential).__name__]}

def predict(runner, events):
    processor.graph_runner = runner
    tracker = DialogueStateTracker.from_events("t", events, slots=processor.domain.slots)
    prediction = processor._predict_next_with_tracker(tracker)
    return [prediction.policy_name, prediction.max_confidence, prediction.probabilities,
            [{k: v for k, v in e.as_dict().items() if k != "timestamp"}  # made at the time
             for e in prediction.events], prediction.is_end_to_end_prediction]

report.update(parses=[], predictions=[])
histories = [[ActionExecuted("action_listen")]]
for text, before in zip(texts, rasas_own):
    by_dask, by_sequence = parse(dask_runner, text), parse(sequential, text)
    report["parses"].append(before == by_dask == by_sequence)
    events = [ActionExecuted("action_listen"), UserUttered(text, before["intent"],
              before["entities"], parse_data=before)]
    histories.append(histories[-1] + events[1:])
    histories.append(events + [ActionExecuted("action_kb_answer"), SlotSet("route", "answered")])
for events in histories:
    report["predictions"].append(predict(dask_runner, events) == predict(sequential, events))
report["plans"] = len(sequential._plans)
report["direct"] = diet.model.__dict__.get("_tier0_concrete") is not None
try:
    sequential.run(inputs={"__message__": "nlu_message_converter"})
    report["clash"] = None
except Exception as exc:
    report["clash"] = type(exc).__name__
print(json.dumps(report))
"""


def test_the_sequential_graph_runner_gives_what_dask_gives(rasa_model: Path) -> None:
    """Every parse and every next-action prediction of the trained model is the same when its
    graph runs node after node as when dask runs it, and when DIET calls its traced function
    directly as through TensorFlow's dispatch."""
    done = run_in_rasa([str(RASA_PYTHON), "-c", RUNNERS, str(rasa_model)], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["parses"]) == 12 and all(report["parses"]), report
    assert len(report["predictions"]) == 25 and all(report["predictions"]), report
    assert report["types"] == ["DaskGraphRunner", "SequentialGraphRunner"]
    assert report["direct"]
    assert report["plans"] == 2  # one order for parsing, one for predicting, made once each
    assert report["clash"] == "GraphRunError"


SESSIONS = r"""
import asyncio, json
from aiohttp import web
from rasa.utils.endpoints import ClientResponseError, EndpointConfig
from rasa_plugins import speedups
speedups.install()

async def main():
    seen = []
    async def webhook(request):
        seen.append({"peer": request.transport.get_extra_info("peername")[1],
                     "auth": request.headers.get("Authorization"),
                     "type": request.headers.get("Content-Type"),
                     "token": request.query.get("token"),
                     "body": await request.json()})
        if seen[-1]["body"].get("fail"):
            return web.Response(status=400, text="no such action")
        return web.json_response({"events": [], "n": len(seen)})
    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", token="t0k",
                              headers={"Authorization": "Bearer secret"})
    replies = [await endpoint.request(json={"i": i}, method="post") for i in range(3)]
    try:
        await endpoint.request(json={"fail": True}, method="post")
        error = None
    except ClientResponseError as exc:
        error = [exc.status, exc.text.decode() if isinstance(exc.text, bytes) else exc.text]
    await runner.cleanup()  # the server goes away, and comes back on the same port
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    after_restart = await endpoint.request(json={"i": 9}, method="post")
    await runner.cleanup()
    import types, rasa.core.run
    session = endpoint._tier0_session
    # what Rasa registers to run after its server stops (no agent here)
    await rasa.core.run.close_resources(types.SimpleNamespace(ctx=types.SimpleNamespace()), None)
    print(json.dumps({"replies": replies, "error": error, "after_restart": after_restart,
                      "peers": [s["peer"] for s in seen], "closed": session.closed,
                      "headers": [[s["auth"], s["type"], s["token"]] for s in seen],
                      "bodies": [s["body"] for s in seen]}))

asyncio.run(main())
"""


def test_action_server_calls_keep_their_connection_and_rasas_request() -> None:
    """Calls to an endpoint reuse one connection, with Rasa's headers, token, body, reply and
    error; when the server restarts, the next call opens a new connection and succeeds; the
    session closes when Rasa's server stops."""
    report = reported(SESSIONS)
    assert [r["n"] for r in report["replies"]] == [1, 2, 3]
    assert report["error"] == [400, "no such action"]
    assert report["after_restart"]["n"] == 5
    peers = report["peers"]
    assert len(set(peers[:4])) == 1  # one connection for the four calls
    assert peers[4] != peers[0]
    assert all(h == ["Bearer secret", "application/json", "t0k"] for h in report["headers"])
    assert report["bodies"] == [{"i": 0}, {"i": 1}, {"i": 2}, {"fail": True}, {"i": 9}]
    assert report["closed"]  # closed when the server stops


COPIES = r"""
import copy, json
import numpy as np
import scipy.sparse as sp
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.slots import Slot, TextSlot
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.features import Features
from rasa_plugins import copies

def same(a, b):
    return (type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype
            and a.row.dtype == b.row.dtype and np.array_equal(a.row, b.row)
            and np.array_equal(a.col, b.col) and np.array_equal(a.data, b.data))

rng = np.random.default_rng(7)
def coo(rows, cols, dtype, density=0.1):
    return sp.coo_matrix((rng.random((rows, cols)) < density).astype(dtype))

pairs = [(coo(1, 20, np.float32), coo(1, 300, np.int64)),
         (coo(7, 5, np.float64), coo(7, 9000, np.float32, 0.01)),
         (coo(3, 4, np.float32, 0), coo(3, 6, np.float32)),      # no entries on one side
         (coo(2, 70000, np.float32, 0.0001), coo(2, 3, np.int32)),  # wider than int16
         (coo(0, 4, np.float32), coo(0, 2, np.float32))]
report = {"stacks": [same(copies.hstack_coo(a, b), sp.hstack([a, b])) for a, b in pairs]}
csr = sp.csr_matrix(pairs[0][0])
report["other"] = (copies.hstack_coo(csr, pairs[0][1]) != sp.hstack([csr, pairs[0][1]])).nnz == 0
def error(f):
    try:
        f()
    except ValueError as exc:
        return str(exc)
copies.install()
def features(kind, *matrices):
    return [Features(m, kind, "text", "f") for m in matrices]
one, other = features("sentence", coo(2, 3, np.float32), coo(3, 3, np.float32))
report["mismatch"] = error(lambda: one.combine_with_features(other))
one, two = features("sequence", coo(2, 3, np.float32), coo(2, 5, np.float32))
expected = sp.hstack([one.features, two.features])
one.combine_with_features(two)
report["combined"] = same(one.features, expected)

domain = Domain.load("domain.yml")
report["slots"] = all(
    type(c) is type(s) and c is not s and c.__dict__ == copy.copy(s).__dict__
    for s in domain.slots for c in [copies.copy_slot(s)])
class Hooked(TextSlot):
    def __copy__(self):
        return "own copy"
class Slotted(TextSlot):
    __slots__ = ("extra",)
hooked, slotted = Hooked("h", []), Slotted("s", [])
slotted.extra = 5
report["hooked"] = copies.copy_slot(hooked) == "own copy"
report["slotted"] = copies.copy_slot(slotted).extra == 5
events = [UserUttered("hi", {"name": "greet"}), SlotSet("email", "a@b.co"),
          ActiveLoop("track_order_form"), SlotSet("order_number", "100-1")]
tracker = DialogueStateTracker.from_events("t", events, slots=domain.slots)
report["tracker"] = tracker.current_state() == json.loads(json.dumps(tracker.current_state()))
report["values"] = [tracker.get_slot(n) for n in ("email", "order_number", "flow_context")]
report["fresh"] = DialogueStateTracker("u", domain.slots).get_slot("email") is None
report["own"] = tracker.slots["email"] is not domain.slots[0] and domain.slots[0].value is None
report["any"] = type(DialogueStateTracker("v", None).slots).__name__
print(json.dumps(report))
"""


def test_slot_copies_and_feature_joins_are_what_rasa_makes() -> None:
    """A tracker's slots are copies with the same attributes (a class with its own copying is
    copied its way), and two COO feature matrices are joined into exactly what scipy's hstack
    makes: the same entries in the same order, dtype, index dtype and shape; rows that do not
    match raise Rasa's error."""
    report = reported(COPIES)
    assert report["stacks"] == [True] * 5 and report["other"], report
    assert report["mismatch"].startswith("Cannot combine sparse features"), report
    assert report["combined"] and report["slots"], report
    assert report["hooked"] and report["slotted"], report
    assert report["values"] == ["a@b.co", "100-1", None], report
    assert report["tracker"] and report["fresh"] and report["own"], report
    assert report["any"] == "AnySlotDict", report
