"""Rate limits: the counters (database on SQLite and PostgreSQL, Redis) agree on one rule, and the
public endpoints answer 429 with Retry-After and a reason; server-made conversation ids."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import Request
from fastapi.testclient import TestClient

from bot.handoff import HandoffQueue
from bot.ratelimit import DatabaseCounter, Limit, RedisCounter, retry_after
from bot.settings import Settings
from bot.stack import free_port, own_stack_settings, start_web, wait_ready
from bot.web.app import create_app
from bot.web.conversation_ids import ConversationIds
from bot.web.limits import client_key, ticket_refused
from tests.recorder import Recorder

SECRET = "rate-limit-test-session-secret"
FIVE_A_MINUTE = Limit("test", 5, 60, "tries")


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = 1_000_040.0) -> None:  # 20 s into a minute's window
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["database", "redis"])
def counter(request: pytest.FixtureRequest, queue: HandoffQueue) -> Iterator[tuple]:
    """A counter of each kind with a clock the test moves (the database on the queue's)."""
    clock = Clock()
    if request.param == "database":
        yield DatabaseCounter(queue.engine, clock), clock
        return
    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
    prefix = f"test{uuid.uuid4().hex[:8]}"
    counted = RedisCounter("redis://127.0.0.1:6379/15", prefix, clock)
    yield counted, clock
    for key in counted.client.scan_iter(f"{prefix}-rate:*"):
        counted.client.delete(key)


def test_a_key_gets_its_limit_then_429s_until_the_window_slides(counter) -> None:
    counted, clock = counter
    for _ in range(5):
        assert counted.hit([(FIVE_A_MINUTE, "10.0.0.1")]) is None
    refused = counted.hit([(FIVE_A_MINUTE, "10.0.0.1")])
    assert refused is not None and refused.limit is FIVE_A_MINUTE
    # in 40 s the next window starts with these 5 as its previous ones; a moment later they
    # weigh less than 5
    assert refused.retry_after == 41
    assert "at most 5 tries per minute" in refused.reason()
    assert counted.hit([(FIVE_A_MINUTE, "10.0.0.2")]) is None  # another key is not affected
    clock.now += refused.retry_after
    assert counted.hit([(FIVE_A_MINUTE, "10.0.0.1")]) is None  # the time it said
    assert counted.hit([(FIVE_A_MINUTE, "10.0.0.1")]) is not None


def test_a_refused_request_counts_in_no_limit(counter) -> None:
    counted, _ = counter
    wide = Limit("wide", 100, 60, "tries")
    for _ in range(5):
        assert counted.hit([(wide, "k"), (FIVE_A_MINUTE, "k")]) is None
    for _ in range(10):
        assert counted.hit([(wide, "k"), (FIVE_A_MINUTE, "k")]) is not None
    # wide counted 5, not 15: 95 more fit
    assert all(counted.hit([(wide, "k")]) is None for _ in range(95))
    assert counted.hit([(wide, "k")]) is not None


def test_a_limit_of_zero_is_no_limit(counter) -> None:
    counted, _ = counter
    off = Limit("off", 0, 60, "tries")
    assert all(counted.hit([(off, "k")]) is None for _ in range(50))


def test_retry_after_inside_the_window_waits_for_the_old_hits_to_slide_out() -> None:
    # 10 in the previous window, 2 now, 20% into this one: 10*0.8+2 = 10 >= 5; below 5 at
    # 10*(1-f)+2 < 5 -> f > 0.7: just after 30 s from now, so 31 whole seconds
    assert retry_after(FIVE_A_MINUTE, 10, 2, 0.2) == 31


def test_old_counters_are_purged(queue: HandoffQueue) -> None:
    clock = Clock()
    counted = DatabaseCounter(queue.engine, clock)
    counted.hit([(FIVE_A_MINUTE, "a")])
    assert counted.purge() == 0
    clock.now += 180
    assert counted.purge() == 1


def test_tickets_are_counted_per_address_where_they_are_made(queue: HandoffQueue) -> None:
    settings = Settings(settings_file=Path("/nonexistent"), tickets_per_hour_per_address=2)
    counted = DatabaseCounter(queue.engine)
    one, other = client_key(SECRET, "10.0.0.1"), client_key(SECRET, "10.0.0.2")
    assert "10.0.0.1" not in one and len(one) == 32
    assert ticket_refused(counted, settings, one) is None
    assert ticket_refused(counted, settings, one) is None
    refused = ticket_refused(counted, settings, one)
    assert refused is not None and refused.retry_after > 60
    assert ticket_refused(counted, settings, other) is None
    assert ticket_refused(counted, settings, None) is None  # another channel: no address


@pytest.fixture
def rasa() -> Iterator[Recorder]:
    """A Rasa stand-in that answers 500 at once: a turn the limits let through gets 503."""
    with Recorder(status=500) as recorder:
        yield recorder


def _app(tmp_path: Path, queue: HandoffQueue, rasa_url: str | None = None, **limits) -> TestClient:
    settings = Settings(
        data_dir=tmp_path / "var",
        settings_file=Path("/nonexistent"),
        session_secret=SECRET,
        rasa_url=rasa_url or f"http://127.0.0.1:{free_port()}",
        rate_limit_store="database",
        **limits,
    )
    return TestClient(create_app(settings, queue=queue), client=("203.0.113.7", 50000))


def test_the_widget_gets_server_made_ids_and_others_are_refused(
    tmp_path: Path, queue: HandoffQueue
) -> None:
    client = _app(tmp_path, queue, conversations_per_hour_per_address=3)
    made = client.post("/api/chat/conversations")
    assert made.status_code == 201
    conversation = made.json()["conversation_id"]
    assert client.get(f"/api/chat/{conversation}").status_code == 200
    for forged in ("conv-12345678", conversation[:-1] + ("A" if conversation[-1] != "A" else "B")):
        refused = client.get(f"/api/chat/{forged}")
        assert refused.status_code == 403 and "POST /api/chat/conversations" in refused.text
        posted = client.post(f"/api/chat/{forged}/messages", json={"text": "hi"})
        assert posted.status_code == 403
        assert client.post(f"/api/chat/{forged}/csat", json={"score": 5}).status_code == 403
    other_server = ConversationIds(b"another key").new()
    assert client.get(f"/api/chat/{other_server}").status_code == 403
    client.post("/api/chat/conversations")
    client.post("/api/chat/conversations")
    fourth = client.post("/api/chat/conversations")
    assert fourth.status_code == 429 and int(fourth.headers["Retry-After"]) > 0
    assert "3 new conversations from one address per hour" in fourth.json()["detail"]


def test_chat_messages_are_limited_per_conversation_and_per_address(
    tmp_path: Path, queue: HandoffQueue, rasa: Recorder
) -> None:
    client = _app(
        tmp_path,
        queue,
        rasa.url,
        chat_messages_per_minute=3,
        chat_messages_per_minute_per_address=5,
    )
    first, second = (client.post("/api/chat/conversations").json()["conversation_id"] for _ in "ab")
    for _ in range(3):  # allowed: they reach the gateway's Rasa call (nothing listens: 503)
        assert client.post(f"/api/chat/{first}/messages", json={"text": "hi"}).status_code == 503
    limited = client.post(f"/api/chat/{first}/messages", json={"text": "hi"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "3 messages in one conversation per minute" in limited.json()["detail"]
    for _ in range(2):
        assert client.post(f"/api/chat/{second}/messages", json={"text": "hi"}).status_code == 503
    by_address = client.post(f"/api/chat/{second}/messages", json={"text": "hi"})
    assert by_address.status_code == 429
    assert "5 chat messages from one address per minute" in by_address.json()["detail"]
    # Rasa got the 5 let through, each with a stand-in for the address (tickets are counted by
    # it in the action server), never the address itself
    assert len(rasa.requests) == 5
    sent = json.loads(rasa.requests[0]["body"])
    assert sent["metadata"]["client"] == client_key(SECRET, "203.0.113.7")
    assert "203.0.113.7" not in rasa.requests[0]["body"].decode()


def test_a_full_conversation_says_to_start_a_new_one(
    tmp_path: Path, queue: HandoffQueue, rasa: Recorder
) -> None:
    client = _app(
        tmp_path, queue, rasa.url, conversation_max_messages=10, chat_messages_per_minute=0
    )
    conversation = client.post("/api/chat/conversations").json()["conversation_id"]
    for _ in range(10):
        client.post(f"/api/chat/{conversation}/messages", json={"text": "hi"})
    full = client.post(f"/api/chat/{conversation}/messages", json={"text": "hi"})
    assert full.status_code == 409 and "start a new conversation" in full.json()["detail"]


def test_search_is_limited_per_address_with_a_page_for_the_help_centre(
    tmp_path: Path, queue: HandoffQueue
) -> None:
    client = _app(tmp_path, queue, searches_per_minute_per_address=2)
    for _ in range(2):
        assert client.get("/api/search", params={"q": "refund"}).status_code != 429
    limited = client.get("/api/search", params={"q": "refund"})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert "2 searches from one address per minute" in limited.json()["detail"]


def test_the_help_centre_says_so_on_a_page(tmp_path: Path, queue: HandoffQueue) -> None:
    client = _app(tmp_path, queue)
    limits = client.app.state.limits

    @client.app.get("/help/x/limited")
    def limited(request: Request) -> dict:  # a help-centre page behind the search limit
        limits.check([(Limit("search", 1, 60, "searches from one address"), "203.0.113.7")])
        return {}

    assert client.get("/help/x/limited").status_code == 200
    page = client.get("/help/x/limited")
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert "at most 1 searches from one address per minute" in page.text
    assert 1 <= int(page.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("trusted", [True, False])
def test_a_forwarded_address_counts_only_from_a_trusted_proxy(
    tmp_path: Path, trusted: bool
) -> None:
    """Behind the configured proxy each customer is counted apart by X-Forwarded-For; anyone
    else sending that header is counted by the address they connect from."""
    settings = own_stack_settings(
        tmp_path,
        conversations_per_hour_per_address=1,
        trusted_proxies=["127.0.0.1"] if trusted else ["192.0.2.1"],
    )
    web = start_web(settings, tmp_path)
    try:
        wait_ready(web)
        first = httpx.post(
            f"{web.url}/api/chat/conversations", headers={"X-Forwarded-For": "198.51.100.1"}
        )
        other = httpx.post(
            f"{web.url}/api/chat/conversations", headers={"X-Forwarded-For": "198.51.100.2"}
        )
    finally:
        web.stop()
    assert first.status_code == 201
    assert other.status_code == (201 if trusted else 429)
