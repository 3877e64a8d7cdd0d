"""Blocking database and Redis calls of a Rasa server, made in worker threads.

Rasa serves every conversation from one asyncio event loop, yet its tracker stores and lock
stores call their databases synchronously, inside that loop: while one turn waited for
PostgreSQL or Redis (about a dozen round trips a turn), every other conversation of the replica
waited too. On a busy machine each round trip also waits for the database process to be given a
core, so under load the replicas queued turns with CPU to spare (benchmarks/README.md).
`to_completion` runs such a call in a worker thread of the store's own pool while the loop goes
on with other turns. A store whose database takes one writer at a time (SQLite) gets a pool of
one thread, so its calls still run one after the other, in order, as they did in the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def pool(threads: int, name: str) -> ThreadPoolExecutor:
    """A store's own worker threads (not the event loop's default pool, shared with Rasa)."""
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)


async def to_completion(executor: Executor, function: Callable[..., T], *args: Any) -> T:
    """function(*args) in one of the executor's threads, awaited to the end even when the
    awaiting task is cancelled meanwhile (the cancellation is raised once it has finished), as
    when the function ran in the event loop itself: a conversation's lock is never let go while
    its events are still being written, and a ticket taken is always known to the caller's
    cleanup. If the function fails after a cancellation, its error is raised instead."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, function, *args)
    work = loop.run_in_executor(executor, call)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(work)
            break
        except asyncio.CancelledError:
            if work.cancelled():  # only the loop shutting down cancels the work itself
                raise
            cancelled = True  # wait on: the thread goes on whatever happens here
    if cancelled:
        raise asyncio.CancelledError
    return result
