"""Rasa's blocking store calls in worker threads (rasa_plugins.threads): the event loop goes on
meanwhile, a cancelled turn still finishes what it started, and the Redis lock store takes and
gives back conversation locks as Rasa's does, on this machine's Redis."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from bot.stack import RASA_PYTHON
from tests.rasa_process import run_in_rasa

SCRIPT = r"""
import asyncio, json, sys, threading, time

from rasa.utils.endpoints import EndpointConfig

from rasa_plugins.lock_store import CheckedRedisLockStore
from rasa_plugins.threads import pool, to_completion

report = {}


async def main(prefix):
    # the loop runs other work while a blocking call waits in its thread
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    threads = pool(2, "test")
    beat = asyncio.create_task(ticker())
    assert await to_completion(threads, lambda: time.sleep(0.3) or "slept") == "slept"
    beat.cancel()
    report["ticks_while_blocked"] = ticks

    # cancelled while its call runs: the call finishes first, then the cancellation comes
    finished = threading.Event()

    def slow_write():
        time.sleep(0.3)
        finished.set()

    task = asyncio.create_task(to_completion(threads, slow_write))
    await asyncio.sleep(0.05)
    task.cancel()
    try:
        await task
        report["cancelled"] = False
    except asyncio.CancelledError:
        report["cancelled"] = True
    report["finished_before_cancel"] = finished.is_set()

    # the lock: one holder at a time, in ticket order; nothing left in Redis afterwards
    store = CheckedRedisLockStore(
        EndpointConfig(url="127.0.0.1", port=6379, db=1, key_prefix=prefix)
    )
    order = []

    async def turn(name, hold):
        async with store.lock("conv", wait_time_in_seconds=0.05):
            order.append(f"{name} in")
            await asyncio.sleep(hold)
            order.append(f"{name} out")

    await asyncio.gather(turn("first", 0.3), turn("second", 0.0))
    report["order"] = list(order)
    report["left_after_turns"] = store.get_lock("conv") is not None

    # many turns of one conversation at once: one holder at a time, each served once
    inside, most, served = 0, 0, []

    async def crowded(n):
        nonlocal inside, most
        async with store.lock("busy", wait_time_in_seconds=0.01):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.005)
            served.append(n)
            inside -= 1

    await asyncio.gather(*(crowded(n) for n in range(30)))
    report["crowd_most_inside"] = most
    report["crowd_served"] = sorted(served) == list(range(30))
    report["left_after_crowd"] = store.get_lock("busy") is not None

    # a turn cancelled while it holds the lock gives it back
    holder = asyncio.create_task(turn("cancelled", 5))
    await asyncio.sleep(0.2)
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    report["left_after_cancel"] = store.get_lock("conv") is not None
    await turn("next", 0)
    report["next_served"] = order[-1] == "next out"

    # a dead replica's ticket and a waiter's, both lapsing before the waiter looks again: the
    # waiter takes a new ticket and is served (in Rasa's loop it would wait forever)
    store.issue_ticket("orphan", 0.3)  # taken by a server that died holding it

    async def late_turn():
        async with store.lock("orphan", lock_lifetime=0.3, wait_time_in_seconds=0.6):
            return "served"

    try:
        report["after_both_lapsed"] = await asyncio.wait_for(late_turn(), 10)
    except asyncio.TimeoutError:
        report["after_both_lapsed"] = "waited forever"
    report["left_after_lapse"] = store.get_lock("orphan") is not None


asyncio.run(main(sys.argv[1]))
print("REPORT " + json.dumps(report))
"""


def test_blocking_calls_leave_the_loop_free_and_locks_are_rasas(tmp_path: Path) -> None:
    script = tmp_path / "threads.py"
    script.write_text(SCRIPT, encoding="utf-8")
    prefix = f"test{uuid.uuid4().hex[:8]}"
    result = run_in_rasa([str(RASA_PYTHON), str(script), prefix], timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix("REPORT "))
    assert report["ticks_while_blocked"] >= 10  # the loop ran on for the 0.3 s of the call
    assert report["cancelled"] and report["finished_before_cancel"]
    assert report["order"] == ["first in", "first out", "second in", "second out"]
    assert not report["left_after_turns"]
    assert report["crowd_most_inside"] == 1 and report["crowd_served"]
    assert not report["left_after_crowd"]
    assert not report["left_after_cancel"] and report["next_served"]
    assert report["after_both_lapsed"] == "served" and not report["left_after_lapse"]
