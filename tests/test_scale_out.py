"""Two Rasa replicas behind HAProxy, conversations in PostgreSQL, locks in Redis: faults.

The stack is what `bot up` starts with `rasa_replicas = 2` (bot.stack.start_stack), on this
machine's PostgreSQL and Redis, with real processes killed by SIGKILL:
- a Rasa replica in the middle of 20 conversations: each goes on on the other replica with its
  slots; no customer message is lost or answered twice; no lock is left in Redis; the killed
  replica comes back and serves;
- the action server: the customer gets an apology and a person's offer, not silence, and the
  answers come back with it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa

from bot.rasa_auth import RasaAuth
from bot.settings import Settings
from bot.stack import (
    Server,
    StackError,
    check_scale_out,
    free_port,
    haproxy_config,
    lock_store_endpoint,
    own_stack_settings,
    replica_ports,
    start_stack,
    wait_all,
    wait_ready,
    write_servers_file,
)
from bot.web.outage import APOLOGY as UNAVAILABLE_TEXT
from tests.conftest import WebStack
from tests.traffic import NO_RATE_LIMITS, Customer, signed_id

POSTGRES = os.environ.get("BOT_TEST_POSTGRES_URL", "")
REDIS = "redis://127.0.0.1:6379/1"


# --- the configuration, checked without starting anything --------------------------------------


def _settings(tmp_path: Path, **fields) -> Settings:
    return own_stack_settings(tmp_path, **fields)


def test_one_replica_is_rasa_alone_and_two_are_replicas_behind_haproxy(tmp_path: Path) -> None:
    one = _settings(tmp_path)
    assert replica_ports(one) == [one.rasa_port]
    check_scale_out(one)  # nothing to check: SQLite is fine for one Rasa server
    two = _settings(tmp_path, rasa_replicas=2, rasa_port=7000)
    assert replica_ports(two) == [7001, 7002]
    wrong = _settings(tmp_path, rasa_replicas=3, rasa_replica_ports=[7101, 7102])
    with pytest.raises(StackError, match="rasa_replica_ports lists 2 ports for rasa_replicas = 3"):
        replica_ports(wrong)


def test_replicas_need_postgresql_and_redis_and_say_so(tmp_path: Path) -> None:
    on_sqlite = _settings(tmp_path, rasa_replicas=2)
    with pytest.raises(StackError, match="needs the conversations on PostgreSQL"):
        check_scale_out(on_sqlite)
    no_redis = _settings(
        tmp_path,
        rasa_replicas=2,
        tracker_store_url="postgresql+psycopg://postgres@127.0.0.1:5432/tier0",
        redis_url=f"redis://127.0.0.1:{free_port()}/1",
    )
    with pytest.raises(StackError, match="needs Redis for the conversation locks"):
        check_scale_out(no_redis)
    bad = _settings(tmp_path, redis_url="http://127.0.0.1/1")
    with pytest.raises(StackError, match="is not a redis://host:port/db URL"):
        lock_store_endpoint(bad)


def test_an_unknown_role_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="unknown role rasaa: choose among actions, rasa"):
        start_stack(_settings(tmp_path), tmp_path / "model.tar.gz", tmp_path, roles=("rasaa",))


def test_nothing_to_start_is_said_not_hung_on(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="nothing to start for --only haproxy"):
        start_stack(_settings(tmp_path), tmp_path / "model.tar.gz", tmp_path, roles=("haproxy",))


def test_stopping_a_killed_server_also_stops_the_workers_it_left(tmp_path: Path) -> None:
    """Sanic's manager SIGKILLed leaves its worker on the port; stop (and so restart) ends it."""
    import sys

    from bot.stack.process import _spawn

    script = "import subprocess, time; subprocess.Popen(['sleep', '120']); time.sleep(120)"
    server = _spawn(
        "manager", [sys.executable, "-c", script], "http://127.0.0.1:1", {}, tmp_path / "m.log", "/"
    )
    manager = psutil.Process(server.process.pid)
    deadline = time.monotonic() + 30
    while not manager.children() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = manager.children()[0]  # the "worker" it started
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)
    assert worker.is_running()  # orphaned, as Sanic's worker would be
    server.stop()
    worker.wait(timeout=10)
    assert not worker.is_running()


def test_the_lock_store_endpoint_is_rasas_redis_lock_store(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, redis_url="redis://:secret@10.0.0.5:6380/3", lock_key_prefix="shop"
    )
    assert lock_store_endpoint(settings) == {
        "type": "rasa_plugins.lock_store.CheckedRedisLockStore",
        "url": "10.0.0.5",
        "port": 6380,
        "db": 3,
        "key_prefix": "shop",
        "password": "secret",
    }


def test_haproxy_accepts_the_configuration_it_is_given(tmp_path: Path) -> None:
    settings = _settings(tmp_path, rasa_replicas=2)
    config = haproxy_config(settings, ["127.0.0.1:7001", "127.0.0.1:7002", "10.0.0.7:5005"])
    assert "balance hdr(X-Conversation-Id)" in config and "hash-type consistent" in config
    assert "server rasa3 10.0.0.7:5005 check" in config
    path = tmp_path / "haproxy.cfg"
    path.write_text(config)
    import subprocess

    check = subprocess.run(
        ["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr


def test_haproxy_splits_conversations_evenly_and_keeps_each_on_its_server(
    tmp_path: Path,
) -> None:
    """The generated configuration in a real HAProxy, in front of two small servers."""
    import http.server
    import subprocess

    def server(name: str) -> http.server.ThreadingHTTPServer:
        class Named(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                self.send_response(200)
                self.send_header("Content-Length", str(len(name)))
                self.end_headers()
                self.wfile.write(name.encode())

            def log_message(self, *args: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Named)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return httpd

    backends = [server("one"), server("two")]
    settings = _settings(tmp_path, rasa_replicas=2, rasa_port=free_port())
    path = tmp_path / "haproxy.cfg"
    path.write_text(
        haproxy_config(settings, [f"127.0.0.1:{b.server_address[1]}" for b in backends])
    )
    proxy = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stderr=subprocess.DEVNULL)
    try:
        url = f"http://{settings.rasa_host}:{settings.rasa_port}/"
        with httpx.Client(timeout=5) as client:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.get(url, headers={"X-Conversation-Id": "warm-up"})
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            ids = [f"conv-{uuid.uuid4().hex}" for _ in range(2000)]
            served = {i: client.get(url, headers={"X-Conversation-Id": i}).text for i in ids}
            again = {i: client.get(url, headers={"X-Conversation-Id": i}).text for i in ids[:200]}
    finally:
        proxy.terminate()
        proxy.wait(10)
        for b in backends:
            b.shutdown()
    share = sum(name == "one" for name in served.values()) / len(served)
    assert 0.44 < share < 0.56, f"server one took {share:.0%} of the conversations"
    assert all(again[i] == served[i] for i in again)  # a conversation stays where it is


# --- the real thing ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scaled(
    rasa_model: Path, web_stack: WebStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WebStack, list[Server]]]:
    """The whole bot with two Rasa replicas, on a PostgreSQL database and Redis prefix of its own
    (the demo index of the shared stack, read only)."""
    if not POSTGRES:
        pytest.fail("BOT_TEST_POSTGRES_URL is not set; `make test` sets it")
    folder = tmp_path_factory.mktemp("scaled")
    name = f"tier0_scale_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    web_port = free_port()
    url = f"http://127.0.0.1:{web_port}"
    settings = own_stack_settings(
        folder,
        index_dir=web_stack.settings.index_dir,
        help_base_url=web_stack.settings.help_base_url,
        web_port=web_port,
        rasa_replicas=2,
        rasa_replica_ports=[free_port(), free_port()],
        **NO_RATE_LIMITS,  # every test customer comes from 127.0.0.1
        tracker_store_url=sa.make_url(POSTGRES).set(database=name).render_as_string(False),
        database_url=sa.make_url(POSTGRES).set(database=name).render_as_string(False),
        redis_url=REDIS,
        lock_key_prefix=f"test{uuid.uuid4().hex[:8]}",
    )
    servers = start_stack(settings, rasa_model, folder)
    try:
        wait_all(servers)
        write_servers_file(settings, servers)
        token = (folder / "var" / "demo-agent.token").read_text().strip()
        yield WebStack(url, folder / "var", token, settings), servers
    finally:
        for server in reversed(servers):
            server.stop()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _kill(server: Server) -> None:
    """SIGKILL the server and every process it started (a worker must not outlive it)."""
    parent = psutil.Process(server.process.pid)
    for process in [*parent.children(recursive=True), parent]:
        process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)


def _locks(settings: Settings) -> dict[str, tuple[str, int]]:
    """The locks in Redis under the stack's prefix: key -> (the lock, milliseconds to live)."""
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    try:
        keys = client.keys(f"{settings.lock_key_prefix}:*")
        return {k.decode(): ((client.get(k) or b"").decode(), client.pttl(k)) for k in keys}
    finally:
        client.close()


def _transcript(stack: WebStack, conversation_id: str) -> list[dict]:
    body = httpx.get(f"{stack.url}/api/chat/{conversation_id}", timeout=30).json()
    return [i for i in body["items"] if i["from"] in ("user", "bot")]


def test_the_servers_file_names_every_process(scaled) -> None:
    stack, servers = scaled
    import json

    recorded = json.loads((stack.data_dir / "run" / "servers.json").read_text())["servers"]
    assert [r["name"] for r in recorded] == [s.name for s in servers]
    names = [r["name"] for r in recorded]
    assert "HAProxy" in names and names[-1] == "web app"  # the public door opens last
    assert all(psutil.pid_exists(r["pid"]) and r["port"] for r in recorded)


def test_a_killed_replica_loses_no_conversation_and_comes_back(scaled, store_data) -> None:
    stack, servers = scaled
    victim = next(s for s in servers if s.name.startswith("Rasa server"))
    order, email = store_data["order"], store_data["order_email"]
    count = 20
    after_first = threading.Barrier(count + 1, timeout=120)
    said: dict[str, list[str]] = {}
    seconds_after_kill: list[float] = []

    def converse(i: int) -> tuple[str, list[list[str]]]:
        customer = Customer(stack, f"scale-{uuid.uuid4().hex[:12]}")
        conversation_id = customer.id
        said[conversation_id] = []
        replies: list[list[str]] = []
        try:
            for n, text in enumerate(["where is my order?", order, email]):
                if n == 1:
                    after_first.wait()  # every conversation is in its form when the kill comes
                    time.sleep(0.05 * (i % 8))
                started = time.monotonic()
                replies.append([r["text"] for r in customer.send(text, None)])
                said[conversation_id].append(text)
                if n == 1:
                    seconds_after_kill.append(time.monotonic() - started)
        finally:
            customer.close()
        return conversation_id, replies

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(converse, i) for i in range(count)]
        after_first.wait()
        time.sleep(0.2)  # the second turns are on their way, some inside the victim
        _kill(victim)
        results = [f.result() for f in futures]

    for conversation_id, replies in results:
        first, second, third = (" ".join(r) for r in replies)
        assert "order number" in first, (conversation_id, replies)
        # the form and its slot survived the move to the other replica
        assert "email address" in second, (conversation_id, replies)
        assert order in third and "shipped" in third.lower(), (conversation_id, replies)
        items = _transcript(stack, conversation_id)
        users = [i["text"] for i in items if i["from"] == "user"]
        assert users == said[conversation_id], conversation_id  # nothing lost, nothing twice
        bots = [i["text"] for i in items if i["from"] == "bot"]
        assert bots == [t for r in replies for t in r], conversation_id  # each answered once
    # a turn the victim held waits for its lock to lapse (lock_lifetime_seconds) on the other
    slowest = max(seconds_after_kill)
    print(f"turns around the kill: slowest {slowest:.1f} s")  # noqa: T201
    assert slowest < stack.settings.lock_lifetime_seconds + 15
    # no lock left behind: given back by the turns that held them, or (a ticket the victim
    # took and never gave back) lapsed in Redis with its ticket, LOCK_GRACE_SECONDS (5 s) later
    deadline = time.monotonic() + stack.settings.lock_lifetime_seconds + 5 + 15
    while _locks(stack.settings) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _locks(stack.settings) == {}

    victim.restart()
    wait_ready(victim)
    direct = httpx.post(
        f"{victim.url}/webhooks/rest/webhook",
        auth=RasaAuth(victim.spec.ready_token),
        json={"sender": f"scale-back-{uuid.uuid4().hex[:8]}", "message": "where is my order?"},
        timeout=60,
    )
    assert direct.status_code == 200 and "order number" in direct.text  # it serves again
    for _ in range(6):  # and HAProxy sends conversations to it again, with nothing lost
        customer = Customer(stack, f"scale-{uuid.uuid4().hex[:12]}")
        assert "order number" in " ".join(r["text"] for r in customer.send("track my order", None))
        customer.close()


def test_a_killed_action_server_gets_an_apology_a_person_then_answers_again(scaled) -> None:
    stack, servers = scaled
    actions = servers[0]
    assert actions.name == "action server"
    customer = Customer(stack, f"scale-{uuid.uuid4().hex[:12]}")
    other = Customer(stack, f"scale-{uuid.uuid4().hex[:12]}")
    try:
        _kill(actions)
        replies = customer.send("how do I return an item?", None)
        offer = next((r for r in replies if UNAVAILABLE_TEXT in r["text"]), None)
        assert offer is not None, replies  # not silence
        assert offer["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
        # the offer works while the actions are still down: a ticket, and the queue's place
        replies = customer.send("Talk to a person", "/request_human")
        assert any("passing you to a person" in r["text"] for r in replies), replies
        state = httpx.get(f"{stack.url}/api/chat/{customer.id}", timeout=30).json()["handoff"]
        assert state["state"] == "waiting" and state["ticket_id"]
        ticket = httpx.get(
            f"{stack.url}/api/conversations/{customer.id}/ticket",
            headers={"Authorization": f"Bearer {stack.agent_token}"},
            timeout=30,
        ).json()
        said = [line["text"] for line in ticket["transcript"]]
        assert "how do I return an item?" in said and UNAVAILABLE_TEXT in said
        actions.restart()
        wait_ready(actions, timeout=180)
        # Rasa knows a person owns this conversation: the bot does not answer in their place
        replies = customer.send("are you there?", None)
        assert not any("/help/" in r["text"] for r in replies), replies
        deadline = time.monotonic() + 60  # the model loads in the background after start
        while True:  # and a customer with no ticket gets answers again
            replies = other.send("how do I return an item?", None)
            answers = [r for r in replies if "/help/returns" in r["text"]]  # with its source
            if answers or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert answers, [r["text"] for r in replies]
    finally:
        customer.close()
        other.close()


def test_a_message_sent_again_is_answered_once(scaled) -> None:
    """The widget re-sends a message that got no answer (a timeout); the bot answers it once."""
    stack, _ = scaled
    conversation_id = signed_id(stack, f"scale-{uuid.uuid4().hex[:12]}")
    url = f"{stack.url}/api/chat/{conversation_id}/messages"
    message = {"text": "where is my order?", "message_id": uuid.uuid4().hex}
    first = httpx.post(url, json=message, timeout=60)
    assert first.status_code == 200
    again = httpx.post(url, json={**message, "resend": True}, timeout=60)
    assert again.status_code == 200
    items = _transcript(stack, conversation_id)
    assert [i["text"] for i in items if i["from"] == "user"] == ["where is my order?"]
    assert sum("order number" in i["text"] for i in items if i["from"] == "bot") == 1


def test_a_front_machine_balances_over_rasa_servers_elsewhere(scaled, tmp_path: Path) -> None:
    """`bot up --only haproxy` on another machine: HAProxy over rasa_backends alone."""
    stack, servers = scaled
    replicas = [s for s in servers if s.name.startswith("Rasa server")]
    front = own_stack_settings(
        tmp_path,
        rasa_backends=[f"127.0.0.1:{s.port}" for s in replicas],
        redis_url=stack.settings.redis_url,
    )
    started = start_stack(front, tmp_path / "unused.tar.gz", tmp_path, roles=("haproxy",))
    try:
        assert [s.name for s in started] == ["HAProxy"]
        wait_all(started)
        config = (tmp_path / "var" / "run" / "haproxy" / "haproxy.cfg").read_text()
        assert config.count("    server rasa") == 2  # the backends only, nothing local
        reply = httpx.post(
            f"{started[0].url}/webhooks/rest/webhook",
            auth=RasaAuth(replicas[0].spec.ready_token),
            headers={"X-Conversation-Id": "front-1234567"},
            json={"sender": f"scale-front-{uuid.uuid4().hex[:8]}", "message": "track my order"},
            timeout=60,
        )
        assert reply.status_code == 200 and "order number" in reply.text
    finally:
        for server in started:
            server.stop()
