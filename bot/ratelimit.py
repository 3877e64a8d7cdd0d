"""Rate limits shared by every web worker: how many requests of a kind one key (a conversation, a
client address) may make in a window, counted in Redis or in the handoff database.

Each limit is a sliding window, estimated from two fixed windows (the current one and the one
before, weighted by how much of it still overlaps the sliding window): two counters per key, one
small write per request, and no burst of twice the limit at a window's edge. A request is checked
against all its limits at once and counted in all of them only if every one lets it through, so a
refused request costs nothing of the caller's allowance. Keys are stored hashed (with the limit's
name), never a client's address in clear. The clock is injectable: tests move time, never sleep.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, delete, select

metadata = MetaData()

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 hex of the limit's name and the key
    Column("slot", BigInteger, primary_key=True),  # the window's number: its start // its length
    Column("hits", Integer, nullable=False),
    Column("expires", BigInteger, nullable=False, index=True),  # Unix time it can be deleted
)


@dataclass(frozen=True)
class Limit:
    """At most `count` requests per `seconds` for one key; `what` names them for a person
    ("messages in one conversation"). A count of 0 turns the limit off."""

    name: str
    count: int
    seconds: int
    what: str

    def describe(self) -> str:
        """'20 messages in one conversation per minute'."""
        return f"{self.count} {self.what} per {_period(self.seconds)}"


@dataclass(frozen=True)
class Refused:
    """A request over a limit: which, and in how many seconds one more is allowed."""

    limit: Limit
    retry_after: int

    def reason(self) -> str:
        """Why, for the 429's body: the limit in words and when to try again."""
        return reason_text(self.limit, str(self.retry_after))


def reason_text(limit: Limit, retry_after: str) -> str:
    """A refusal's reason with retry_after as given (seconds, or HAProxy's expression for them:
    bot.stack.edge writes the same sentence as the web app)."""
    return f"Too many requests: at most {limit.describe()}. Try again in {retry_after} s."


def _period(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds == size:
            return unit
        if seconds % size == 0:
            return f"{seconds // size} {unit}s"
    return f"{seconds} s"


def hashed(limit: Limit, key: str) -> str:
    """The stored key: a digest of the limit's name and the key (an address never in clear)."""
    return hashlib.sha256(f"{limit.name}\0{key}".encode()).hexdigest()


def estimate(previous: int, current: int, elapsed: float) -> float:
    """Requests in the sliding window: all of the current window's and the share of the
    previous window's that the sliding window still covers (elapsed: 0..1 of the window)."""
    return previous * (1.0 - elapsed) + current


def retry_after(limit: Limit, previous: int, current: int, elapsed: float) -> int:
    """Whole seconds until estimate() falls below the limit again (at least 1)."""
    length = limit.seconds
    if current < limit.count and previous > 0:
        # still in this window: once enough of the previous window has slid out of it
        share = 1.0 - (limit.count - current) / previous
        wait = share * length - elapsed * length
    else:
        # in the next window, this window's requests become the previous ones
        wait = (1.0 - elapsed) * length + max(0.0, 1.0 - limit.count / max(current, 1)) * length
    return max(1, math.ceil(wait + 1e-9))


class Counter(Protocol):
    """Where the hits are counted."""

    def hit(self, checks: Sequence[tuple[Limit, str]]) -> Refused | None:
        """Count one request against each (limit, key) when all allow it; else the refusal
        (of the first limit that does not) and count nothing."""

    def purge(self) -> int:
        """Forget counters too old to matter; how many were removed."""


def _active(checks: Sequence[tuple[Limit, str]]) -> list[tuple[Limit, str]]:
    return [(limit, key) for limit, key in checks if limit.count > 0 and key]


class _Refusal(Exception):
    def __init__(self, refused: Refused) -> None:
        self.refused = refused


class DatabaseCounter:
    """Counters in the handoff database's rate_limits table (SQLite or PostgreSQL): each request
    is one transaction that adds to the current windows' counters (an upsert, which on
    PostgreSQL holds the row until commit, so parallel workers queue per key) and is rolled back
    when a limit refuses it."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        self._insert = insert

    def hit(self, checks: Sequence[tuple[Limit, str]]) -> Refused | None:
        """See Counter.hit."""
        active = _active(checks)
        if not active:
            return None
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                for limit, key in active:
                    digest = hashed(limit, key)
                    window = int(now // limit.seconds)
                    upsert = self._insert(rate_limits).values(
                        key=digest,
                        slot=window,
                        hits=1,
                        expires=(window + 2) * limit.seconds,
                    )
                    current = conn.execute(
                        upsert.on_conflict_do_update(
                            index_elements=["key", "slot"],
                            set_={"hits": rate_limits.c.hits + 1},
                        ).returning(rate_limits.c.hits)
                    ).scalar_one()
                    previous = (
                        conn.execute(
                            select(rate_limits.c.hits).where(
                                rate_limits.c.key == digest, rate_limits.c.slot == window - 1
                            )
                        ).scalar()
                        or 0
                    )
                    elapsed = (now % limit.seconds) / limit.seconds
                    before = current - 1  # this request's own hit is not yet allowed
                    if estimate(previous, before, elapsed) >= limit.count:
                        wait = retry_after(limit, previous, before, elapsed)
                        raise _Refusal(Refused(limit, wait))  # rolls every counter back
        except _Refusal as refusal:
            return refusal.refused
        return None

    def purge(self) -> int:
        """See Counter.purge."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(rate_limits).where(rate_limits.c.expires < int(self.clock()))
            ).rowcount


# Checks every (limit, key) first, then counts in all of them: one round trip, atomic in Redis.
# KEYS: current and previous window's key of each check; ARGV: count, elapsed share and expiry.
_REDIS_HIT = """
local n = #KEYS / 2
for i = 1, n do
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  local count = tonumber(ARGV[3 * i - 2])
  local elapsed = tonumber(ARGV[3 * i - 1])
  if previous * (1 - elapsed) + current >= count then
    return {i, previous, current}
  end
end
for i = 1, n do
  redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], tonumber(ARGV[3 * i]))
end
return {0, 0, 0}
"""


class RedisCounter:
    """Counters in Redis (keys `<prefix>-rate:<digest>:<window>`, beside and apart from the
    lock store's `<prefix>:...`; expiring by themselves): for
    a stack that runs Redis anyway, and fewer writes to the database."""

    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.time) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self.clock = clock
        self._script = self.client.register_script(_REDIS_HIT)

    def hit(self, checks: Sequence[tuple[Limit, str]]) -> Refused | None:
        """See Counter.hit."""
        active = _active(checks)
        if not active:
            return None
        now = self.clock()
        keys: list[str] = []
        args: list[str] = []
        for limit, key in active:
            window = int(now // limit.seconds)
            base = f"{self.prefix}-rate:{hashed(limit, key)}"
            keys += [f"{base}:{window}", f"{base}:{window - 1}"]
            args += [str(limit.count), repr((now % limit.seconds) / limit.seconds)]
            args.append(str(2 * limit.seconds))
        which, previous, current = self._script(keys=keys, args=args)
        if not which:
            return None
        limit = active[int(which) - 1][0]
        elapsed = (now % limit.seconds) / limit.seconds
        return Refused(limit, retry_after(limit, int(previous), int(current), elapsed))

    def purge(self) -> int:
        """Nothing to do: Redis expires the counters."""
        return 0
