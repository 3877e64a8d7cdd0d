"""Rasa's `RedisLockStore`, checked at start: one conversation, one Rasa replica at a time.

With more than one Rasa server (`rasa_replicas` > 1), `bot up` configures this lock store. It is
Rasa's own `RedisLockStore` with one change: it pings Redis when Rasa starts and raises (Rasa
exits, `bot up` names the reason) instead of starting and failing on the first message. Once it
is ready it logs READY_MARKER, which `bot up` looks for. A lock held by a replica that died
expires after TICKET_LOCK_LIFETIME seconds (set from `lock_lifetime_seconds`).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

READY_MARKER = "tier0 lock store ready"


class LockStoreUnavailable(RuntimeError):
    """Redis cannot be used for conversation locks; the message says where and why."""


class CheckedRedisLockStore(RedisLockStore):
    """Rasa's Redis lock store that refuses to start without its Redis."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
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
