"""Blocking database and Redis calls of a Rasa server, made in worker threads.

Rasa serves every conversation from one asyncio event loop, yet its tracker stores and lock
stores call their databases synchronously, inside that loop: while one turn waited for
PostgreSQL or Redis (about a dozen round trips a turn), every other conversation of the replica
waited too. On a busy machine each round trip also waits for the database process to be given a
core, so under load the replicas queued turns with CPU to spare (benchmarks/README.md).
`to_completion` runs such a call in a worker thread while the loop goes on with other turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def to_completion(function: Callable[..., T], *args: Any) -> T:
    """function(*args) in a worker thread, awaited to the end even when the awaiting task is
    cancelled meanwhile (the cancellation is raised once it has finished), as when the function
    ran in the event loop itself: a conversation's lock is never let go while its events are
    still being written, and a ticket taken is always known to the caller's cleanup."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(work)
            break
        except asyncio.CancelledError:
            if work.cancelled():
                raise
            cancelled = True  # wait on: the thread goes on whatever happens here
    if cancelled:
        raise asyncio.CancelledError
    return result
