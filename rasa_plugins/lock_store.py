"""Rasa's `RedisLockStore`, checked at start: one conversation, one Rasa replica at a time.

With more than one Rasa server (`rasa_replicas` > 1), `bot up` configures this lock store. It is
Rasa's own `RedisLockStore` with three changes:
- it pings Redis when Rasa starts and raises (Rasa exits, `bot up` names the reason) instead of
  starting and failing on the first message. Once it is ready it logs READY_MARKER, which
  `bot up` looks for;
- the Redis calls of taking and giving back a lock (seven round trips a turn) are made in worker
  threads (rasa_plugins.threads), not inside Rasa's event loop; the steps, their order and the
  tickets are Rasa's (`LockStore.lock` and `_acquire_lock`). Rasa reads a lock and writes it
  back in two calls; in the loop nothing came between them, and in threads a process lock per
  conversation (one of STRIPES) keeps it so: two turns of one conversation on this replica
  never take the same ticket or drop each other's.
- every lock key is written with an expiry: its last ticket's, plus LOCK_GRACE_SECONDS. Rasa
  writes lock keys without one and drops a lapsed ticket only when a later turn of the same
  conversation reads the lock, so a ticket taken by a replica that died during a
  conversation's last turn (or a lock it emptied but did not get to delete) would stay in
  Redis for good. A lock held by a replica that died lapses after TICKET_LOCK_LIFETIME seconds
  (set from `lock_lifetime_seconds`), in Redis as well.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from rasa_plugins.threads import pool, to_completion

logger = logging.getLogger(__name__)

READY_MARKER = "tier0 lock store ready"
LOCK_THREADS = 8  # threads for the lock calls of turns in flight
STRIPES = 64  # process locks over conversations' read-and-write steps
# How long a lock key outlives its last ticket: longer than a waiting turn's pause between two
# looks at the lock, so a waiter whose own ticket lapsed still finds the lock and takes another.
LOCK_GRACE_SECONDS = 5.0


class LockStoreUnavailable(RuntimeError):
    """Redis cannot be used for conversation locks; the message says where and why."""


class CheckedRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store that refuses to start without its Redis, its Redis calls in
    worker threads."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        self._threads = pool(LOCK_THREADS, "lock")
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        kwargs: dict[str, Any] = dict(endpoint_config.kwargs)
        host = endpoint_config.url or "localhost"
        super().__init__(host=host, **kwargs)
        where = f"redis://{host}:{kwargs.get('port', 6379)}/{kwargs.get('db', 1)}"
        try:
            self.red.ping()
        except Exception as exc:  # noqa: BLE001 - anything here must stop Rasa, loudly
            raise LockStoreUnavailable(f"lock store: cannot reach Redis at {where}: {exc}") from exc
        logger.info(
            f"{READY_MARKER}: {type(self).__name__} at {where}, keys '{self.key_prefix}*', "
            f"a dead server's lock expires after {LOCK_LIFETIME:.0f} s"
        )

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        """Rasa's LockStore.lock, its Redis calls in worker threads: take a ticket and look at
        the lock (one thread call), wait for the ticket's turn, and give the ticket back however
        the work ends (cancelled while taking it too)."""
        tickets: list[int] = []  # the ticket taken, known to the cleanup even if reading fails

        def give_back(ticket: int) -> None:
            with self._stripe(conversation_id):
                self.cleanup(conversation_id, ticket)

        try:
            lock = await to_completion(
                self._threads, self._take, conversation_id, tickets, lock_lifetime
            )
            yield await self._wait_for_turn(
                conversation_id, tickets, lock, wait_time_in_seconds, lock_lifetime
            )
        finally:
            if tickets:
                await to_completion(self._threads, give_back, tickets[0])

    async def _wait_for_turn(
        self,
        conversation_id: str,
        tickets: list[int],
        lock: TicketLock | None,
        wait_time_in_seconds: float,
        lock_lifetime: float,
    ) -> TicketLock:
        """Rasa's LockStore._acquire_lock from its first reading of the lock (`lock`), reading
        and updating the lock in worker threads, for the ticket in `tickets`.

        One difference: a ticket that expires while it waits (its turn had not come when its
        lifetime ran out, as when the tickets ahead were a dead replica's and lapsed in the same
        second) is replaced by a new one at the back of the queue. In Rasa's loop the lock,
        emptied of tickets, then names no one as served and the turn waits forever."""
        while lock:  # none: it expired
            if not lock.is_locked(tickets[0]):
                return lock
            if all(waiting.number != tickets[0] for waiting in lock.tickets):
                logger.info(
                    f"Lock ticket {tickets[0]} of conversation '{conversation_id}' expired "
                    f"while it waited; taking another"
                )
                lock = await to_completion(
                    self._threads, self._take, conversation_id, tickets, lock_lifetime
                )
                continue
            logger.debug(
                f"Failed to acquire lock for conversation ID '{conversation_id}': "
                f"{tickets[0] - (lock.now_serving or 0)} other item(s) first; "
                f"retrying in {wait_time_in_seconds} seconds ..."
            )
            await asyncio.sleep(wait_time_in_seconds)
            # updated, then fetched again on every round: the lock may have expired meanwhile
            lock = await to_completion(self._threads, self._update_and_get, conversation_id)
        raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")

    def _take(
        self, conversation_id: str, tickets: list[int], lock_lifetime: float
    ) -> TicketLock | None:
        """Take a ticket (in place of an expired one in `tickets`, if any: the ticket kept there
        is the one given back), then read the lock."""
        with self._stripe(conversation_id):
            tickets[:] = [self.issue_ticket(conversation_id, lock_lifetime)]
            return self.get_lock(conversation_id)

    def _update_and_get(self, conversation_id: str) -> TicketLock | None:
        with self._stripe(conversation_id):
            self.update_lock(conversation_id)
        return self.get_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        """Rasa's save, with an expiry: the key lapses LOCK_GRACE_SECONDS after its last
        ticket does, so a lock whose holder died leaves nothing behind in Redis."""
        now = time.time()
        last = max((ticket.expires for ticket in lock.tickets), default=now)
        milliseconds = int((max(last - now, 0.0) + LOCK_GRACE_SECONDS) * 1000)
        self.red.set(self.key_prefix + lock.conversation_id, lock.dumps(), px=milliseconds)

    def _stripe(self, conversation_id: str) -> threading.Lock:
        """The process lock of the conversation's read-and-write steps."""
        return self._stripes[zlib.crc32(conversation_id.encode()) % STRIPES]
