"""The tarpit in the web app: a key refused again before its Retry-After has passed gets its 429
only after a delay (an asyncio sleep, injected here: tests hold, never wait), the first refusal
is answered at once, and past rate_limit_tarpit_max held refusals the rest are answered at once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.handoff import HandoffQueue
from bot.ratelimit import DatabaseCounter, Limit, Refused
from bot.settings import Settings
from bot.stack import free_port
from bot.web.app import create_app
from bot.web.limits import RateLimits, Tarpit, TooManyRequests

TWO_A_MINUTE = Limit("test", 2, 60, "tries")


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = 1_000_040.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """An injected sleep: records each delay and, when gated, holds until the gate opens."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.delays: list[float] = []
        self.gate = gate

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.gate is not None:
            await self.gate.wait()


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[HandoffQueue]:
    q = HandoffQueue.from_url(f"sqlite:///{tmp_path / 'q.db'}")
    yield q
    q.close()


def _settings(tmp_path: Path, **fields) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        settings_file=Path("/nonexistent"),
        session_secret="tarpit-test-session-secret",
        rasa_url=f"http://127.0.0.1:{free_port()}",
        rate_limit_store="database",
        **fields,
    )


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run in a thread of its own: a browser test's sync Playwright may have left an
    event loop running in this one, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _refusal(limits: RateLimits, key: str = "198.51.100.1") -> TooManyRequests:
    with pytest.raises(TooManyRequests) as refused:
        limits.check([(TWO_A_MINUTE, key)])
    return refused.value


def test_a_refusal_is_a_repeat_only_before_the_last_retry_after_passed(
    tmp_path: Path, queue: HandoffQueue
) -> None:
    clock = Clock()
    limits = RateLimits(_settings(tmp_path), DatabaseCounter(queue.engine, clock), clock)
    for _ in range(2):
        limits.check([(TWO_A_MINUTE, "198.51.100.1")])
    first = _refusal(limits)
    assert not first.repeat  # a client that reads Retry-After gets it at once
    again = _refusal(limits)
    assert again.repeat
    other = RateLimits(_settings(tmp_path), DatabaseCounter(queue.engine, clock), clock)
    assert not _refusal(other).repeat  # another worker knows of no refusal yet: a first one
    clock.now += first.refused.retry_after  # it waited as told: allowed again, nothing held
    limits.check([(TWO_A_MINUTE, "198.51.100.1")])


def test_a_repeat_refusal_is_held_and_a_first_one_is_not(tmp_path: Path) -> None:
    limit = Limit("test", 2, 60, "tries")
    sleeps = Sleeps()
    tarpit = Tarpit(5.0, 10, sleeps)
    first = TooManyRequests(Refused(limit, 40))
    assert run(tarpit.hold(first)) is first and sleeps.delays == []
    answered = run(tarpit.hold(TooManyRequests(Refused(limit, 40), repeat=True)))
    assert sleeps.delays == [5.0]
    assert answered.status_code == 429 and answered.headers["Retry-After"] == "35"  # what is left
    assert answered.detail.endswith("Try again in 35 s.")
    # never held past its Retry-After, and never told to come back in under a second
    short = run(tarpit.hold(TooManyRequests(Refused(limit, 2), repeat=True)))
    assert sleeps.delays == [5.0, 2] and short.headers["Retry-After"] == "1"
    assert tarpit.held == 0
    off = Tarpit(0, 10, sleeps)
    repeat = TooManyRequests(Refused(limit, 40), repeat=True)
    assert run(off.hold(repeat)) is repeat and len(sleeps.delays) == 2


def test_past_the_bound_a_repeat_refusal_is_answered_at_once() -> None:
    limit = Limit("test", 2, 60, "tries")

    async def scenario() -> None:
        gate = asyncio.Event()
        tarpit = Tarpit(5.0, 2, Sleeps(gate))
        held = [
            asyncio.create_task(tarpit.hold(TooManyRequests(Refused(limit, 40), repeat=True)))
            for _ in range(2)
        ]
        await asyncio.sleep(0)  # both reach the (gated) sleep
        assert tarpit.held == 2
        third = TooManyRequests(Refused(limit, 40), repeat=True)
        assert await tarpit.hold(third) is third  # not held: the bound is reached
        assert not any(task.done() for task in held)
        gate.set()
        answered = await asyncio.gather(*held)
        assert [a.headers["Retry-After"] for a in answered] == ["35", "35"]
        assert tarpit.held == 0

    run(scenario())


def test_the_web_app_holds_a_repeat_refusal_before_its_429(
    tmp_path: Path, queue: HandoffQueue
) -> None:
    app = create_app(
        _settings(tmp_path, conversations_per_hour_per_address=1, rate_limit_tarpit_seconds=7),
        queue=queue,
    )
    sleeps = Sleeps()
    app.state.limits.tarpit.sleep = sleeps
    client = TestClient(app, client=("203.0.113.7", 50000))
    assert client.post("/api/chat/conversations").status_code == 201
    first = client.post("/api/chat/conversations")
    assert first.status_code == 429 and sleeps.delays == []  # answered at once
    wait = int(first.headers["Retry-After"])
    repeat = client.post("/api/chat/conversations")
    assert sleeps.delays == [7]  # held before it was answered
    assert repeat.status_code == 429
    assert wait - 7 - 1 <= int(repeat.headers["Retry-After"]) <= wait - 7
    assert "new conversations from one address" in repeat.json()["detail"]
    assert app.state.limits.tarpit.held == 0
