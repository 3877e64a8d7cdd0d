"""The tracker store's session cache (rasa_plugins/tracker_store.py) changes nothing Rasa sees
or stores: the same conversations, played on the cached store and on the store as it was before
the cache (Rasa's query of the session before each save and for each retrieve), give the same
trackers and the same rows, on SQLite and on PostgreSQL, with two replicas sharing a database,
new sessions, rewound trackers and failing writes.

Rasa lives in .venv-rasa (Python 3.10), not in the test suite's environment: the conversations
are played by SCRIPT under .venv-rasa's Python, once per database, and the tests check its report.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from bot.stack import RASA_PYTHON
from tests.handoff_fixtures import postgres_base_url
from tests.rasa_process import run_in_rasa

CARD = "4111 1111 1111 1111"  # Luhn-valid test card number

SCRIPT = r'''
import asyncio
import json
import sys
import time
import warnings

warnings.simplefilter("ignore")

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from rasa_plugins import tracker_store as module
from rasa_plugins.tracker_store import MaskingSQLTrackerStore

CONFIG = json.loads(sys.argv[1])
CARD = sys.argv[2]
DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet, inform]
entities: [email]
slots:
  email:
    type: text
    mappings: [{type: from_entity, entity: email}]
responses:
  utter_greet: [{text: "Hello!"}]
""")
module.time.sleep = lambda seconds: None  # the retries' pauses


class Reference(MaskingSQLTrackerStore):
    """The store before the cache: Rasa's retrieve, Rasa's count of the session in each save."""

    async def retrieve(self, sender_id):
        return await SQLTrackerStore.retrieve(self, sender_id)

    def _save_masked(self, tracker):
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = module.masked(event.as_dict())
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=(data.get("parse_data") or {}).get("intent", {}).get("name"),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()


class Clock:
    """Timestamps that are the same in both plays of a conversation."""

    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        self.now += 0.25
        return self.now


def user_turn(clock, text, email=None):
    intent = {"name": "inform", "confidence": 0.93}
    entities = [{"entity": "email", "value": email}] if email else []
    events = [
        UserUttered(
            text, intent, entities,
            {"intent": intent, "entities": entities, "text": text,
             "intent_ranking": [intent, {"name": "greet", "confidence": 0.07}]},
            timestamp=clock(), message_id=f"m{clock.now}",
        ),
        ActionExecuted("utter_greet", policy="RulePolicy", confidence=1.0, timestamp=clock()),
        BotUttered(f"You said: {text}", {"buttons": None}, {"utter_action": "utter_greet"},
                   timestamp=clock()),
    ]
    if email:
        events.append(SlotSet("email", email, timestamp=clock()))
    events.append(ActionExecuted("action_listen", timestamp=clock()))
    return events


def session_start(clock, action_last=False):
    """Rasa's order: action_session_start, then SessionStarted a little later (its timestamp is
    reset when it is applied); `action_last` gives the action the later timestamp instead."""
    first, second = clock(), clock()
    action = ActionExecuted("action_session_start", timestamp=second if action_last else first)
    started = SessionStarted(timestamp=first if action_last else second)
    return [action, started, SlotSet("email", None, timestamp=clock()),
            ActionExecuted("action_listen", timestamp=clock())]


def state(tracker):
    if tracker is None:
        return None
    current = tracker.current_state(EventVerbosity.ALL)
    current.pop("sender_id")
    return current


class Play:
    """One conversation played on stores of one kind (`cls`) sharing one database."""

    def __init__(self, cls, sender_id, replicas=2):
        self.sender_id = sender_id
        self.stores = [cls(domain=DOMAIN, **CONFIG) for _ in range(replicas)]
        self.rasa = Reference(domain=DOMAIN, **CONFIG)  # reads the way Rasa does
        self.clock = Clock()
        self.seen = []  # what the playing replica retrieved after each step
        self.rebuilt = []  # what Rasa rebuilds from the database after each step
        self.sizes = []  # conversations cached by each replica (evicted)

    async def turn(self, replica, *events, retrieve=True, tracker=None):
        store = self.stores[replica]
        if tracker is None:
            tracker = await store.retrieve(self.sender_id) if retrieve else None
            tracker = tracker or store.init_tracker(self.sender_id)
        for event in events:
            tracker.update(event)
        await store.save(tracker)
        await self.look(replica)
        return tracker

    async def look(self, replica):
        self.seen.append(state(await self.stores[replica].retrieve(self.sender_id)))
        self.rebuilt.append(state(await self.rasa.retrieve(self.sender_id)))

    def rows(self):
        with self.rasa.engine.connect() as connection:
            return [list(row) for row in connection.execute(sa.text(
                "SELECT type_name, timestamp, intent_name, action_name, data FROM events "
                "WHERE sender_id = :s ORDER BY id"), {"s": self.sender_id})]

    def close(self):
        for store in [*self.stores, self.rasa]:
            store.engine.dispose()


async def conversation(play):
    """One replica: a first turn with a card number, a new session, then one where the
    session-start action's timestamp is the later one."""
    c = play.clock
    await play.turn(0, *session_start(c), *user_turn(c, f"my card is {CARD}"))
    for i in range(3):
        await play.turn(0, *user_turn(c, f"question {i}", email="a@example.com" if i else None))
    await play.turn(0, *session_start(c), *user_turn(c, "back again"))
    await play.turn(0, *user_turn(c, "and again"))
    await play.turn(0, *session_start(c, action_last=True), *user_turn(c, "third session"))
    await play.turn(0, *user_turn(c, "last"))


async def replicas(play):
    """Two replicas take turns with the conversation (each has its own cache)."""
    c = play.clock
    await play.turn(0, *session_start(c), *user_turn(c, "hello"))
    await play.turn(0, *user_turn(c, "one"))
    await play.turn(1, *user_turn(c, "two on the other replica"))
    await play.turn(1, *user_turn(c, "three", email="b@example.com"))
    await play.turn(0, *user_turn(c, "four back on the first"))
    await play.turn(1, *session_start(c), *user_turn(c, "new session on the second"))
    await play.turn(0, *user_turn(c, "five on the first"))
    await play.turn(1, *user_turn(c, "six"))


async def stale(play):
    """An expired lock: replica 0 retrieved, replica 1 wrote, then 0 saves what it had."""
    c = play.clock
    await play.turn(0, *session_start(c), *user_turn(c, "hello"))
    held = await play.stores[0].retrieve(play.sender_id)
    await play.turn(1, *user_turn(c, "meanwhile"))
    await play.turn(0, *user_turn(c, "late"), tracker=held)
    await play.turn(0, *user_turn(c, "after"))
    await play.turn(0, *user_turn(c, "saved without a retrieve"), retrieve=False)
    await play.turn(0, *user_turn(c, "after that"))


async def rewound(play):
    """A tracker shorter than the stored session (rewound, or replaced through the API)."""
    c = play.clock
    await play.turn(0, *session_start(c), *user_turn(c, "hello"), *user_turn(c, "more"))
    tracker = await play.stores[0].retrieve(play.sender_id)
    shorter = DialogueStateTracker.from_events(
        play.sender_id, list(tracker.events)[:-7] + user_turn(c, "rewound"), DOMAIN.slots
    )
    assert len(shorter.events) < len(tracker.events)
    await play.turn(0, tracker=shorter)
    await play.turn(0, *user_turn(c, "next"))


async def many_events(play):
    """More events in one save than one INSERT takes."""
    c = play.clock
    events = [e for i in range(50) for e in user_turn(c, f"message {i}")]
    await play.turn(0, *session_start(c), *events)
    await play.turn(0, *user_turn(c, "one more"))


async def failures(play):
    """A commit that fails, a commit that succeeds but reports an error, and a save that fails
    on every attempt."""
    c = play.clock
    await play.turn(0, *session_start(c), *user_turn(c, "hello"))
    for store in play.stores:
        dialect = store.engine.dialect
        original = dialect.do_commit
        plan = []

        def do_commit(connection, original=original, plan=plan):
            step = plan.pop(0) if plan else "ok"
            if step == "ok":
                return original(connection)
            if step == "commit then fail":  # committed, but the answer was lost
                original(connection)
            else:  # the database refused the commit: the transaction is gone
                connection.rollback()
            raise sa.exc.OperationalError("COMMIT", {}, RuntimeError(step))

        dialect.do_commit = do_commit
        store.plan = plan
    store = play.stores[0]
    store.plan[:] = ["fail"]
    await play.turn(0, *user_turn(c, "first commit fails"))
    store.plan[:] = ["commit then fail"]
    await play.turn(0, *user_turn(c, "committed, but an error"))
    store.plan[:] = ["fail"] * module.WRITE_ATTEMPTS
    try:
        await play.turn(0, *user_turn(c, "never stored"))
    except sa.exc.OperationalError:
        await play.look(0)
    await play.turn(0, *user_turn(c, "stored again"))


async def evicted(play):
    """More conversations than the cache holds, taking turns; then sessions too long for it."""
    c = play.clock
    module.CACHE_CONVERSATIONS = 2
    try:
        base = play.sender_id
        for i in range(16):
            play.sender_id = f"{base}-{i % 4}"
            if i == 12:
                module.CACHE_CHARS = 1000
            events = user_turn(c, f"turn {i}")
            await play.turn((i // 6) % 2, *(session_start(c) + events if i < 4 else events))
            play.sizes.append([len(store._sessions) for store in play.stores])
        play.sender_id = base
    finally:
        module.CACHE_CONVERSATIONS, module.CACHE_CHARS = 2000, 50_000_000


async def erased(play):
    """The conversation's rows deleted behind the caches' backs (an erasure request)."""
    c = play.clock
    await play.turn(0, *session_start(c), *user_turn(c, "hello"))
    await play.turn(1, *user_turn(c, "more"))
    await play.turn(0, *user_turn(c, "and more"))
    with play.rasa.engine.begin() as connection:
        erase = sa.text("DELETE FROM events WHERE sender_id = :s")
        connection.execute(erase, {"s": play.sender_id})
    await play.look(0)
    await play.look(1)
    await play.turn(0, *session_start(c), *user_turn(c, "starting over"))
    await play.turn(1, *user_turn(c, "on the other"))


SCENARIOS = {f.__name__: f for f in [conversation, replicas, stale, rewound, many_events,
                                     failures, evicted, erased]}


async def played(scenario, cls, sender_id):
    play = Play(cls, sender_id)
    try:
        await SCENARIOS[scenario](play)
        rows = play.rows()
        if scenario == "evicted":
            rows = []
            for i in range(4):
                play.sender_id = f"{sender_id}-{i}"
                rows.append(play.rows())
        cached = [len(store._sessions) for store in play.stores]
        return {
            "seen": play.seen,
            "rebuilt": play.rebuilt,
            "rows": rows,
            "cached": cached,
            "sizes": play.sizes,
        }
    finally:
        play.close()


async def statements():
    """SQL statements per retrieve and per save once the conversation is cached."""
    store = MaskingSQLTrackerStore(domain=DOMAIN, **CONFIG)
    executed = []
    for engine in {store.engine, store._reader}:  # reads have an engine of their own on PostgreSQL
        sa.event.listen(engine, "before_cursor_execute", lambda *args: executed.append(args[2]))
    clock, sender_id, counts = Clock(), f"statements-{time.time()}", []
    tracker = store.init_tracker(sender_id)
    tracker.update_with_events(session_start(clock) + user_turn(clock, "hi"), None, False)
    await store.save(tracker)
    for i in range(3):
        executed.clear()
        tracker = await store.retrieve(sender_id)
        retrieved = len(executed)
        tracker.update_with_events(user_turn(clock, f"turn {i}"), None, False)
        executed.clear()
        await store.save(tracker)
        counts.append([retrieved, len(executed)])
    nobody = await store.retrieve(f"nobody-{time.time()}")
    store.domain = None  # Rasa's empty domain
    without_domain = [
        state(await store.retrieve(sender_id)),
        state(await SQLTrackerStore.retrieve(store, sender_id)),
    ]
    store.engine.dispose()
    return {"counts": counts, "nobody": nobody, "without_domain": without_domain}


async def main():
    report = {}
    stamp = str(time.time())
    for scenario in SCENARIOS:
        report[scenario] = {
            "cached": await played(scenario, MaskingSQLTrackerStore, f"c-{scenario}-{stamp}"),
            "reference": await played(scenario, Reference, f"r-{scenario}-{stamp}"),
        }
    report["statements"] = await statements()
    print("REPORT " + json.dumps(report))


asyncio.run(main())
'''

SCENARIOS = [
    "conversation",
    "replicas",
    "stale",
    "rewound",
    "many_events",
    "failures",
    "evicted",
    "erased",
]


def _play(config: dict, tmp_path: Path) -> dict:
    script = tmp_path / "play_tracker_store.py"
    script.write_text(SCRIPT, encoding="utf-8")
    result = run_in_rasa([str(RASA_PYTHON), str(script), json.dumps(config), CARD], timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-5000:]
    return json.loads(lines[-1].removeprefix("REPORT "))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The script's report on a fresh SQLite file or a PostgreSQL database of its own."""
    folder = tmp_path_factory.mktemp(f"tracker-cache-{request.param}")
    if request.param == "sqlite":
        yield _play({"dialect": "sqlite", "db": str(folder / "rasa.db")}, folder)
        return
    base = make_url(postgres_base_url())
    name = f"tier0_tracker_cache_{uuid.uuid4().hex[:8]}"
    config = {
        "dialect": "postgresql",
        "host": base.host or "127.0.0.1",
        "port": base.port or 5432,
        "db": name,
        "username": base.username,
        "password": base.password,
        "login_db": base.database or "postgres",  # Rasa creates the database
    }
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        yield _play(config, folder)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_cache_changes_nothing_rasa_sees_or_stores(report: dict, scenario: str) -> None:
    cached, reference = report[scenario]["cached"], report[scenario]["reference"]
    assert cached["seen"] == cached["rebuilt"]  # the cache is what Rasa rebuilds from the rows
    assert cached["seen"] == reference["seen"]  # and what the store without it gave
    assert cached["rows"] == reference["rows"]  # the same rows stored, none twice
    if scenario == "erased":  # once the rows are gone Rasa finds nothing, and the cache agrees
        assert cached["seen"].count(None) == 2
    else:
        assert cached["seen"] and None not in cached["seen"][1:]


def test_a_card_number_is_masked_in_the_cache_and_the_database(report: dict) -> None:
    cached = report["conversation"]["cached"]
    first = cached["seen"][0]
    texts = [e.get("text") for e in first["events"] if e["event"] == "user"]
    assert texts == ["my card is [card ending 1111]"]
    assert first == cached["rebuilt"][0]
    stored = json.dumps(cached["rows"])
    assert "[card ending 1111]" in stored
    assert CARD not in stored and CARD not in json.dumps(cached["seen"])


def test_new_sessions_start_where_rasa_starts_them(report: dict) -> None:
    seen = report["conversation"]["cached"]["seen"]
    starts = [
        [e["event"] for e in state["events"]].count("session_started") for state in seen if state
    ]
    assert starts and set(starts) == {1}  # each retrieved tracker holds its latest session only
    last = seen[-1]["events"]
    assert last[0]["event"] == "action" and last[0]["name"] == "action_session_start"
    assert [e["text"] for e in last if e["event"] == "user"] == ["third session", "last"]
    # replica 0 saw the session replica 1 started
    replicas = report["replicas"]["cached"]["seen"]
    assert [e["text"] for e in replicas[-2]["events"] if e["event"] == "user"] == [
        "new session on the second",
        "five on the first",
    ]


def test_failed_writes_leave_nothing_behind(report: dict) -> None:
    seen = report["failures"]["cached"]["seen"]
    texts = [e["text"] for e in seen[-1]["events"] if e["event"] == "user"]
    assert texts == ["hello", "first commit fails", "committed, but an error", "stored again"]


def test_the_cache_is_bounded(report: dict) -> None:
    sizes = report["evicted"]["cached"]["sizes"]  # after each of 16 turns, per replica
    assert max(max(both) for both in sizes[:12]) == 2  # 4 conversations, 2 cached
    # then sessions longer than CACHE_CHARS: replica 0, which plays these turns, keeps none
    assert [first for first, _ in sizes[12:]] == [0] * 4
    assert report["conversation"]["cached"]["cached"] == [1, 0]


def test_a_cached_turn_is_one_query_and_two_statements(report: dict) -> None:
    statements = report["statements"]
    assert statements["counts"] == [[1, 2]] * 3  # newer rows; row count check + one INSERT
    assert statements["nobody"] is None
    cached, rasa = statements["without_domain"]  # with Rasa's empty domain: no slots
    assert cached == rasa and "email" not in cached["slots"]
