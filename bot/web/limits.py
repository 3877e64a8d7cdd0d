"""The web app's rate limits: what each public endpoint counts, against which key, and the 429.

A script can send chat messages (per conversation and per client address), start conversations,
ask for a person (new tickets) and search; each is limited by a setting whose default a customer
typing never reaches. Counts are shared by every web worker (bot.ratelimit: Redis when the
stack runs it, else the handoff database). A refused request gets 429 with Retry-After and a
reason that names the limit: JSON for the APIs, a short page for the help centre.

A key refused again before its Retry-After has passed (a script that does not read it) is
tarpitted: its 429 comes only after rate_limit_tarpit_seconds (at most its Retry-After), an
asyncio sleep in the exception handler that holds no thread, so a script that sends as soon as
it is answered slows to a trickle and costs no CPU on either side. The first refusal is
immediate. At most rate_limit_tarpit_max refusals are held at once per worker; past it they are
answered at once.

The client's address is the one uvicorn gives the request: the connection's peer, or the
X-Forwarded-For of a proxy listed in trusted_proxies (uvicorn's forwarded_allow_ips), never a
header from anyone else. Tickets are counted where they are made, in the action server, under
a key the gateway derives from the address (`client_key`) and sends with each message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import HTTPException, Request
from sqlalchemy import Engine

from bot.ratelimit import Counter, DatabaseCounter, Limit, RedisCounter, Refused
from bot.settings import Settings

logger = logging.getLogger(__name__)
WARN_EVERY_SECONDS = 60.0  # a counter store that is away is logged at most this often
MAX_REMEMBERED = 10_000  # refused keys a worker remembers (see RateLimits._refused)


class TooManyRequests(HTTPException):
    """A 429 whose detail says which limit and when to try again (Retry-After); repeat: the
    key was refused before and its Retry-After has not passed (the tarpit's business)."""

    def __init__(self, refused: Refused, repeat: bool = False) -> None:
        super().__init__(429, refused.reason(), headers={"Retry-After": str(refused.retry_after)})
        self.refused = refused
        self.repeat = repeat


class Tarpit:
    """Holds a repeat refusal for `seconds` (at most its Retry-After) before it is answered;
    at most `most` at once (one event loop's count: only the exception handler touches it)."""

    def __init__(
        self,
        seconds: float,
        most: int,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.seconds = seconds
        self.most = most
        self.sleep = sleep
        self.held = 0  # refusals being held now

    async def hold(self, exc: TooManyRequests) -> TooManyRequests:
        """The refusal to answer: a first one at once; a repeat after the delay, with the
        Retry-After that is left (at least 1 s). Past `most` held, at once."""
        if not exc.repeat or self.seconds <= 0 or self.held >= self.most:
            return exc
        wait = exc.refused.retry_after
        delay = min(self.seconds, wait)
        self.held += 1
        try:
            await self.sleep(delay)
        finally:
            self.held -= 1
        left = Refused(exc.refused.limit, max(1, math.ceil(wait - delay)))
        return TooManyRequests(left, repeat=True)


def client_address(request: Request) -> str:
    """The client's address as uvicorn gave it (a trusted proxy's X-Forwarded-For, else the
    connection's peer)."""
    return request.client.host if request.client else "unknown"


def uses_redis(settings: Settings) -> bool:
    """True when the limits are counted in Redis (rate_limit_store, or 'auto' on a stack that
    runs Redis for several Rasa servers)."""
    if settings.rate_limit_store == "auto":
        return settings.rasa_replicas > 1 or bool(settings.rasa_backends)
    return settings.rate_limit_store == "redis"


def open_counter(settings: Settings, engine: Engine) -> Counter:
    """The counter store the settings choose."""
    if uses_redis(settings):
        return RedisCounter(settings.redis_url, settings.lock_key_prefix)
    return DatabaseCounter(engine)


def ticket_limit(settings: Settings) -> Limit:
    """New tickets one client address may open per hour (counted by the action server)."""
    return Limit("tickets", settings.tickets_per_hour_per_address, 3600, "requests for a person")


def ticket_refused(counter: Counter, settings: Settings, client: str | None) -> Refused | None:
    """Count a new ticket for the client (client_key's value, from the message's metadata);
    the refusal when that address asked for people too often. A counter that cannot be reached,
    or a message without a client (another channel), lets the ticket through."""
    if not client:
        return None
    try:
        return counter.hit([(ticket_limit(settings), client)])
    except Exception as exc:  # Redis or the database away for a moment
        logger.warning("ticket limit not counted (%s: %s)", type(exc).__name__, exc)
        return None


def restock_limits(settings: Settings) -> tuple[Limit, Limit]:
    """Back-in-stock alerts per client address per hour, and per email address per day (each
    new alert emails a confirmation: nobody may flood someone else's inbox)."""
    return (
        Limit(
            "restock_address",
            settings.restock_alerts_per_hour_per_address,
            3600,
            "back-in-stock alerts from one address",
        ),
        Limit(
            "restock_email",
            settings.restock_alerts_per_day_per_email,
            86400,
            "back-in-stock alerts for one email address",
        ),
    )


def restock_refused(
    counter: Counter, settings: Settings, client: str | None, email: str
) -> Refused | None:
    """Count a new alert for the client (client_key's value) and the email; the refusal when
    either asked too often. A counter that cannot be reached lets the alert through."""
    per_address, per_email = restock_limits(settings)
    checks = [(per_email, email.strip().lower())]
    if client:
        checks.append((per_address, client))
    try:
        return counter.hit(checks)
    except Exception as exc:  # Redis or the database away for a moment
        logger.warning("alert limit not counted (%s: %s)", type(exc).__name__, exc)
        return None


def client_key(secret: str, address: str) -> str:
    """A stand-in for a client's address that the gateway sends with each message (so the
    action server can count tickets per address) without putting the address in the
    conversation: an HMAC of it under a server secret, short."""
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def chat_address_limit(settings: Settings) -> Limit:
    """Chat messages one client address may send per minute."""
    return Limit(
        "chat_address",
        settings.chat_messages_per_minute_per_address,
        60,
        "chat messages from one address",
    )


def conversations_limit(settings: Settings) -> Limit:
    """New conversations one client address may start per hour."""
    return Limit(
        "conversations",
        settings.conversations_per_hour_per_address,
        3600,
        "new conversations from one address",
    )


def search_limit(settings: Settings) -> Limit:
    """Searches one client address may make per minute."""
    return Limit(
        "search", settings.searches_per_minute_per_address, 60, "searches from one address"
    )


class RateLimits:
    """The limits of the public endpoints and the counter they share."""

    def __init__(
        self, settings: Settings, counter: Counter, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.counter = counter
        self.clock = clock
        self.tarpit = Tarpit(settings.rate_limit_tarpit_seconds, settings.rate_limit_tarpit_max)
        # a conversation's length, as messages in a day: past it each turn grows slow
        self.length = Limit(
            "conversation_length",
            settings.conversation_max_messages,
            86400,
            "messages in one conversation",
        )
        self.per_conversation = Limit(
            "chat_conversation",
            settings.chat_messages_per_minute,
            60,
            "messages in one conversation",
        )
        self.per_address = chat_address_limit(settings)
        self.conversations = conversations_limit(settings)
        self.searches = search_limit(settings)
        self._warned = 0.0
        # (limit name, key) -> (clock time its Retry-After passes, the refusal): a key refused
        # stays refused until a second before then (refused requests count nowhere, so nothing
        # can free it sooner), and this worker says so without asking the counter store: a
        # script that keeps sending costs a dictionary lookup, not a write to the database or
        # Redis. A refusal before that time is a repeat (tarpitted).
        self._refused: dict[tuple[str, str], tuple[float, Refused]] = {}
        self._lock = threading.Lock()

    def _known_refusal(self, checks: Sequence[tuple[Limit, str]]) -> Refused | None:
        now = self.clock()
        with self._lock:
            for limit, key in checks:
                known = self._refused.get((limit.name, key))
                if known is None:
                    continue
                deadline, refused = known
                if now < deadline - 1:  # never past the store's time
                    return Refused(refused.limit, max(1, math.ceil(deadline - 1 - now)))
                if now >= deadline:
                    del self._refused[(limit.name, key)]
        return None

    def _remember(self, refused: Refused, checks: Sequence[tuple[Limit, str]]) -> bool:
        """Remember the refusal until its Retry-After; True when the key's last Retry-After
        had not yet passed (a repeat)."""
        key = next(k for limit, k in checks if limit is refused.limit)
        now = self.clock()
        with self._lock:
            known = self._refused.get((refused.limit.name, key))
            repeat = known is not None and now < known[0]
            if len(self._refused) >= MAX_REMEMBERED:  # many keys refused at once: start over
                self._refused.clear()
            self._refused[(refused.limit.name, key)] = (now + refused.retry_after, refused)
        return repeat

    def check(self, checks: Sequence[tuple[Limit, str]]) -> None:
        """Count a request against these (limit, key) pairs; TooManyRequests when one refuses.
        A counter store that cannot be reached lets the request through (logged): the limits
        guard the service, and must not take it down."""
        known = self._known_refusal(checks)
        if known is not None:
            raise TooManyRequests(known, repeat=True)
        try:
            refused = self.counter.hit(checks)
        except Exception as exc:  # Redis or the database away for a moment
            if time.monotonic() - self._warned > WARN_EVERY_SECONDS:
                self._warned = time.monotonic()
                logger.warning("rate limits not counted (%s: %s)", type(exc).__name__, exc)
            return
        if refused is not None:
            logger.info("rate limit: %s reached", refused.limit.describe())
            raise TooManyRequests(refused, repeat=self._remember(refused, checks))

    def message(self, request: Request, conversation_id: str) -> None:
        """A chat message: per conversation, per client address, and the conversation's length
        (a refusal of that one: TooManyRequests whose limit is self.length)."""
        self.check(
            [
                (self.per_conversation, conversation_id),
                (self.per_address, client_address(request)),
                (self.length, conversation_id),
            ]
        )

    def new_conversation(self, request: Request) -> None:
        """A new conversation id, per client address."""
        self.check([(self.conversations, client_address(request))])

    def search(self, request: Request) -> None:
        """A search (the API's or the help centre's), per client address."""
        self.check([(self.searches, client_address(request))])
