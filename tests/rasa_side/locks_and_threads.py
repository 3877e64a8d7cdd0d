"""Run by tests/test_rasa_threads.py in .venv-rasa (Python 3.10): Rasa's blocking store calls in
worker threads and the Redis lock store, on this machine's Redis. Every check waits for an
event, never for a guessed time. Prints one REPORT line of JSON for the test to check.

Usage: python tests/rasa_side/locks_and_threads.py KEY_PREFIX
"""

import asyncio
import json
import sys
import threading
import time

from rasa.utils.endpoints import EndpointConfig

from rasa_plugins.lock_store import LOCK_GRACE_SECONDS, CheckedRedisLockStore
from rasa_plugins.threads import pool, to_completion

WAIT = 30.0  # the most any step here waits for what it expects, on a very busy machine


async def until(condition, seconds=WAIT):
    """Wait until condition() is true (or the time is up); whether it came true."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def threads_report():
    """The loop stays free while a call blocks in its thread; a cancelled call finishes first."""
    report = {}
    threads = pool(2, "test")

    # the blocking call waits for the loop itself to release it: only a free loop can
    release = threading.Event()
    call = asyncio.create_task(to_completion(threads, lambda: release.wait(WAIT)))
    await asyncio.sleep(0)
    release.set()
    report["loop_free_while_blocked"] = await call

    # cancelled while its call runs: the call finishes, then the cancellation lands
    started, proceed, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_write():
        started.set()
        proceed.wait(WAIT)
        finished.set()

    task = asyncio.create_task(to_completion(threads, slow_write))
    await until(started.is_set)
    task.cancel()
    asyncio.get_running_loop().call_later(0.2, proceed.set)
    try:
        await task
        report["cancelled"] = False
    except asyncio.CancelledError:
        report["cancelled"] = True
    report["finished_before_cancel"] = finished.is_set()
    return report


async def locks_report(prefix):
    """Rasa's ticket lock through our store: one holder at a time, nothing left behind."""
    report = {}
    store = CheckedRedisLockStore(
        EndpointConfig(url="127.0.0.1", port=6379, db=1, key_prefix=prefix)
    )
    order = []
    leave = {"first": asyncio.Event(), "cancelled": asyncio.Event()}

    async def turn(name):
        async with store.lock("conv", wait_time_in_seconds=0.05):
            order.append(f"{name} in")
            if name in leave:
                await leave[name].wait()
            order.append(f"{name} out")

    # the second turn comes while the first holds the lock: it waits for the first to end
    first = asyncio.create_task(turn("first"))
    await until(lambda: "first in" in order)
    second = asyncio.create_task(turn("second"))
    await asyncio.sleep(0.2)  # the second has been refused the lock a few times meanwhile
    leave["first"].set()
    await asyncio.gather(first, second)
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
    holder = asyncio.create_task(turn("cancelled"))
    await until(lambda: "cancelled in" in order)
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)
    report["left_after_cancel"] = store.get_lock("conv") is not None
    await turn("next")
    report["next_served"] = order[-1] == "next out"

    # a dead replica's ticket and a waiter's, both lapsing before the waiter looks again: the
    # waiter takes a new ticket and is served (in Rasa's loop it would wait forever)
    store.issue_ticket("orphan", 0.3)  # taken by a server that died holding it

    async def late_turn():
        async with store.lock("orphan", lock_lifetime=0.3, wait_time_in_seconds=0.6):
            return "served"

    try:
        report["after_both_lapsed"] = await asyncio.wait_for(late_turn(), WAIT)
    except asyncio.TimeoutError:  # not the builtin TimeoutError on Python 3.10
        report["after_both_lapsed"] = "waited forever"
    report["left_after_lapse"] = store.get_lock("orphan") is not None

    # a ticket taken by a server that died during the conversation's last turn, which no later
    # turn reads: its key lapses by itself, LOCK_GRACE_SECONDS after the ticket
    store.issue_ticket("dead", 0.2)
    report["dead_ttl_ms"] = store.red.pttl(store.key_prefix + "dead")
    report["grace_ms"] = LOCK_GRACE_SECONDS * 1000
    await until(lambda: store.get_lock("dead") is None, 0.2 + LOCK_GRACE_SECONDS + WAIT)
    report["dead_left"] = store.get_lock("dead") is not None
    return report


async def main(prefix):
    return {**await threads_report(), **await locks_report(prefix)}


if __name__ == "__main__":
    print("REPORT " + json.dumps(asyncio.run(main(sys.argv[1]))))
