"""Serving safely: only the web app is public, internal servers need their tokens, secrets are in
no database, conversations survive a restart, and a store that cannot keep them stops the start."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, text

from bot.rasa_auth import RasaAuth, make_jwt
from bot.settings import Settings
from bot.stack import (
    RASA_PYTHON,
    Server,
    StackError,
    own_stack_settings,
    start_action_server,
    start_rasa,
    start_web,
    wait_all,
    wait_ready,
)
from bot.store.demo import DemoStore
from bot.tokens import internal_token
from bot.web.conversation_ids import ConversationIds

pytestmark = pytest.mark.rasa

CARD = "4111 1111 1111 1111"  # Luhn-valid test card number
POSTGRES_URL = os.environ.get("BOT_TEST_POSTGRES_URL")


@dataclass
class Stack:
    settings: Settings
    folder: Path
    model: Path
    servers: list[Server]

    @property
    def web(self) -> str:
        return self.servers[2].url

    @property
    def rasa(self) -> str:
        return self.servers[1].url

    @property
    def actions(self) -> str:
        return self.servers[0].url

    def start(self) -> None:
        self.servers = [
            start_action_server(self.settings, self.folder),
            start_rasa(self.settings, self.model, self.folder),
            start_web(self.settings, self.folder),
        ]
        wait_all(self.servers)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def conversation(self, body: str) -> str:
        """A conversation id the web app accepts, made from body as the web app makes them."""
        return ConversationIds.for_settings(self.settings).sign(body)

    def say(self, conversation: str, text: str) -> dict:
        """A customer turn through the public gateway; the turn's metadata."""
        response = httpx.post(
            f"{self.web}/api/chat/{conversation}/messages", json={"text": text}, timeout=60
        )
        response.raise_for_status()
        metas = [i["meta"] for i in response.json()["items"] if i.get("meta")]
        return metas[-1]

    def history(self, conversation: str) -> list[dict]:
        response = httpx.get(f"{self.web}/api/chat/{conversation}", timeout=30)
        response.raise_for_status()
        return response.json()["items"]


@contextlib.contextmanager
def running(settings: Settings, folder: Path, model: Path) -> Iterator[Stack]:
    stack = Stack(settings, folder, model, [])
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def stack(
    rasa_model: Path, demo_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("serving")
    with running(own_stack_settings(folder, index_dir=demo_index), folder, rasa_model) as live:
        yield live


def _listening_addresses(pid: int) -> set[str]:
    process = psutil.Process(pid)
    sockets = []
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            sockets += each.net_connections(kind="inet")
    return {s.laddr.ip for s in sockets if s.status == psutil.CONN_LISTEN}


def test_internal_servers_listen_on_loopback_only(stack: Stack) -> None:
    for server in stack.servers:
        assert _listening_addresses(server.process.pid) == {"127.0.0.1"}, server.name


def test_no_token_in_the_process_list_and_no_data_for_other_users(stack: Stack) -> None:
    tokens = [internal_token(stack.settings, name) for name in ("rasa", "action")]
    for process in psutil.process_iter(["cmdline"]):
        args = " ".join(process.info["cmdline"] or [])
        assert not any(token in args for token in tokens), args[:200]
    data = stack.settings.data_dir
    assert data.stat().st_mode & 0o077 == 0
    for file in _database_files(data) + list(data.rglob("*.token")):
        assert file.stat().st_mode & 0o077 == 0, file


@contextlib.contextmanager
def isolated_host() -> Iterator[tuple[str, str]]:
    """A network namespace wired to this machine by a veth pair: (namespace, this machine's
    address as the namespace sees it). Traffic stays inside this machine."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to make a test host (ip netns)")
    tag = uuid.uuid4().hex[:6]
    namespace, host_side, peer = f"t0-{tag}", f"t0h{tag}", f"t0n{tag}"
    octet = int(tag[:2], 16) % 250 + 1
    ours, theirs = f"10.213.{octet}.1", f"10.213.{octet}.2"
    steps = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", host_side, "type", "veth", "peer", "name", peer],
        ["ip", "link", "set", peer, "netns", namespace],
        ["ip", "addr", "add", f"{ours}/30", "dev", host_side],
        ["ip", "link", "set", host_side, "up"],
        ["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{theirs}/30", "dev", peer],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", peer, "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True, timeout=30)
        yield namespace, ours
    finally:
        subprocess.run(["ip", "link", "del", host_side], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def _connects_from(namespace: str, address: str, port: int) -> bool:
    probe = (
        "import socket, sys\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, {port}), timeout=3).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, sys.executable, "-c", probe],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return result.returncode == 0


def test_from_another_host_the_internal_ports_refuse(stack: Stack) -> None:
    settings = stack.settings
    with isolated_host() as (namespace, address):
        assert not _connects_from(namespace, address, settings.rasa_port)
        assert not _connects_from(namespace, address, settings.action_port)
        # The probe itself works: a server on all addresses is reachable from the test host.
        with socket.socket() as listener:
            listener.bind(("0.0.0.0", 0))
            listener.listen()
            assert _connects_from(namespace, address, listener.getsockname()[1])


def test_rasa_answers_only_with_its_token(stack: Stack) -> None:
    token = internal_token(stack.settings, "rasa")
    tracker = f"{stack.rasa}/conversations/serving-conv-1/tracker"
    assert httpx.get(tracker, timeout=10).status_code == 401
    assert httpx.get(tracker, auth=RasaAuth("wrong"), timeout=10).status_code == 401
    # the token itself is no credential: only a JWT signed with it, in a header (bot.rasa_auth)
    assert httpx.get(tracker, params={"token": token}, timeout=10).status_code == 401
    assert httpx.get(tracker, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    expired = {"Authorization": f"Bearer {make_jwt(token, now=time.time() - 3600)}"}
    assert httpx.get(tracker, headers=expired, timeout=10).status_code == 401
    assert httpx.get(tracker, auth=RasaAuth(token), timeout=10).status_code == 200
    assert httpx.put(f"{stack.rasa}/model", json={}, timeout=10).status_code == 401
    trigger = f"{stack.rasa}/conversations/serving-conv-1/trigger_intent"
    assert (
        httpx.post(trigger, json={"name": "EXTERNAL_handoff_resolved"}, timeout=10).status_code
        == 401
    )
    rest = f"{stack.rasa}/webhooks/rest/webhook"
    body = {"sender": "serving-conv-1", "message": "hello"}
    assert httpx.post(rest, json=body, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(rest, json=body, headers=wrong, timeout=30).status_code == 401
    assert httpx.post(rest, json=body, headers=expired, timeout=30).status_code == 401
    assert httpx.post(rest, json=body, auth=RasaAuth(token), timeout=60).status_code == 200


def test_even_with_the_token_the_channel_refuses_what_the_gateway_refuses(stack: Stack) -> None:
    auth = RasaAuth(internal_token(stack.settings, "rasa"))
    rest = f"{stack.rasa}/webhooks/rest/webhook"
    for sender, message in [
        ("serving-conv-2", "/EXTERNAL_handoff_resolved"),
        ("serving-conv-2", "x" * 2001),
        ("short", "hello"),
    ]:
        reply = httpx.post(
            rest, json={"sender": sender, "message": message}, auth=auth, timeout=30
        ).json()
        assert [m.get("text") for m in reply] == [
            "Sorry, I couldn't read that message. Please type your question again."
        ]
    events = httpx.get(
        f"{stack.rasa}/conversations/serving-conv-2/tracker", auth=auth, timeout=10
    ).json()["events"]
    assert not [e for e in events if e.get("event") == "user"]


def test_the_action_server_answers_only_rasa(stack: Stack) -> None:
    call = {"next_action": "action_kb_answer", "tracker": {"sender_id": "x"}, "domain": {}}
    assert httpx.post(f"{stack.actions}/webhook", json=call, timeout=10).status_code == 401
    assert httpx.get(f"{stack.actions}/actions", timeout=10).status_code == 401
    assert httpx.get(f"{stack.actions}/health", timeout=10).status_code == 200
    # ...and Rasa does hold the token: a turn that needs an action works.
    assert stack.say(
        stack.conversation("serving-conv-3"), "how long do refunds take to reach my card?"
    )["outcome"] in (
        "article",
        "clarify",
    )


def test_no_wildcard_cors_and_no_socketio_door(stack: Stack) -> None:
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
    }
    rasa = httpx.options(f"{stack.rasa}/webhooks/rest/webhook", headers=preflight, timeout=10)
    assert "access-control-allow-origin" not in rasa.headers
    web = httpx.options(f"{stack.web}/api/chat/serving-conv-4/messages", headers=preflight)
    assert "access-control-allow-origin" not in web.headers
    socketio = httpx.get(f"{stack.rasa}/socket.io/", params={"EIO": 4, "transport": "polling"})
    assert socketio.status_code == 404


def _database_files(folder: Path) -> list[Path]:
    """Every SQLite database under folder, with its write-ahead log and journal."""
    return [p for p in folder.rglob("*") if p.name.endswith((".db", ".db-wal", ".db-journal"))]


def test_a_card_number_a_customer_types_is_in_no_database(stack: Stack) -> None:
    conversation = stack.conversation(f"card-{uuid.uuid4().hex[:8]}")
    stack.say(conversation, f"my card {CARD} was charged twice")
    stack.say(conversation, "I want to talk to a person")  # a ticket with the transcript
    shown = [i["text"] for i in stack.history(conversation) if i["from"] == "user"]
    assert shown[0] == "my card [card ending 1111] was charged twice"
    digits = CARD.replace(" ", "").encode()
    files = _database_files(stack.settings.data_dir)
    assert {f.name for f in files} >= {"conversations.db", "handoff.db"}
    for file in files:
        raw = file.read_bytes()
        assert digits not in raw and CARD.encode() not in raw, file
    logs = {log.name: log.read_text(errors="replace") for log in stack.folder.glob("*.log")}
    assert f"turn conversation={conversation} outcome=" in logs["web.log"]
    for name, text_ in logs.items():  # one line per turn, and never what the customer typed
        assert "was charged twice" not in text_ and digits.decode() not in text_, name
    with sqlite3.connect(stack.settings.data_dir / "conversations.db") as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id = ?", (conversation,)).fetchall()
    assert rows and not any(digits.decode() in r[0] or CARD in r[0] for r in rows)


def _track_order_across_a_restart(stack: Stack) -> None:
    store = DemoStore(stack.settings.data_dir / "demo_store.db")
    number, email = store.sample("out_for_delivery")
    conversation = stack.conversation(f"restart-{uuid.uuid4().hex[:8]}")
    asked = stack.say(conversation, f"where is my order {number}?")
    assert asked["outcome"] == "flow"
    before = stack.history(conversation)

    stack.stop()
    stack.start()

    after = stack.history(conversation)
    assert [(i["from"], i["text"]) for i in after] == [(i["from"], i["text"]) for i in before]
    web_log = (stack.folder / "web.log").read_text()  # logs are appended, not started afresh
    assert f"turn conversation={conversation} outcome=flow" in web_log
    tracked = stack.say(conversation, email)  # the form Rasa was in goes on
    assert tracked.get("status") == "out_for_delivery", tracked


def test_a_restart_keeps_every_conversation_and_its_flow(stack: Stack) -> None:
    _track_order_across_a_restart(stack)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("BOT_TEST_POSTGRES_URL is not set")
    name = f"tier0_conv_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_on_postgresql_a_restart_keeps_conversations_and_secrets_stay_masked(
    rasa_model: Path, demo_index: Path, tmp_path: Path, postgres_database: str
) -> None:
    settings = own_stack_settings(
        tmp_path, index_dir=demo_index, tracker_store_url=postgres_database
    )
    with running(settings, tmp_path, rasa_model) as stack:
        _track_order_across_a_restart(stack)
        conversation = stack.conversation(f"card-{uuid.uuid4().hex[:8]}")
        stack.say(conversation, f"my card number is {CARD}")
        engine = create_engine(postgres_database)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT data FROM events")).scalars().all()
            ours = connection.execute(
                text("SELECT data FROM events WHERE sender_id = :c"), {"c": conversation}
            )
            assert any("[card ending 1111]" in r for r in ours.scalars())
        engine.dispose()
        assert not any(CARD in r or CARD.replace(" ", "") in r for r in rows)


def test_an_unreachable_conversation_database_stops_the_start(
    rasa_model: Path, demo_index: Path, tmp_path: Path
) -> None:
    settings = own_stack_settings(
        tmp_path,
        index_dir=demo_index,
        tracker_store_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
    )
    rasa = start_rasa(settings, rasa_model, tmp_path)
    try:
        with pytest.raises(StackError, match="cannot connect to the postgresql database"):
            wait_ready(rasa, timeout=240)
    finally:
        rasa.stop()


def test_a_silent_fall_back_to_memory_stops_the_start(
    rasa_model: Path, demo_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.stack.plan.TRACKER_STORE_CLASS", "rasa_plugins.missing.Store")
    rasa = start_rasa(own_stack_settings(tmp_path, index_dir=demo_index), rasa_model, tmp_path)
    try:
        with pytest.raises(StackError, match="fell back to an in-memory tracker store"):
            wait_ready(rasa, timeout=240)
    finally:
        rasa.stop()


def test_no_stack_of_this_module_fell_back_to_memory(stack: Stack) -> None:
    for log in stack.folder.glob("*.log"):
        assert "InMemoryTrackerStore" not in log.read_text(errors="replace"), log


SOCKETIO_CUSTOMER = Path(__file__).parent / "rasa_side" / "socketio_customer.py"


def test_socketio_when_enabled_takes_the_same_checks_and_keeps_the_turn(
    rasa_model: Path, demo_index: Path, tmp_path: Path
) -> None:
    settings = own_stack_settings(tmp_path, index_dir=demo_index, rasa_socketio=True)
    servers = [start_action_server(settings, tmp_path), start_rasa(settings, rasa_model, tmp_path)]
    try:
        wait_all(servers)
        conversation = f"sio-{uuid.uuid4().hex[:8]}"
        result = subprocess.run(
            [str(RASA_PYTHON), str(SOCKETIO_CUSTOMER), servers[1].url, conversation],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        )
        got = json.loads(result.stdout)
    finally:
        for server in reversed(servers):
            server.stop()
    texts = [m.get("text", "") for m in got]
    assert texts[0] == "Sorry, I couldn't read that message. Please type your question again."
    assert got[-1]["custom"]["outcome"] == "smalltalk"  # our metadata arrives as {"custom": ...}
    with sqlite3.connect(settings.data_dir / "conversations.db") as db:
        stored = db.execute(
            "SELECT intent_name FROM events WHERE sender_id = ? AND type_name = 'user'",
            (conversation,),
        ).fetchall()
    assert stored == [("greet",)]  # the refused message never reached the assistant
