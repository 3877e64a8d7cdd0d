"""The router with what people confirmed: the index's router plus the learned phrasings.

Each process that routes (every action-server worker, on every replica; the web app for the
review queue) keeps one `LearnedRouting`. A turn asks it for the router and never waits for the
database: at most every `poll_seconds` it starts a check in a thread of its own, which reads one
counter row (bot.kb.learned) and, when the counter or the index version moved, embeds only the
phrasings it has not embedded before and refits the router's channels on the cached vectors
(`Router.with_phrasings`); the next turn uses the new router. A confirmation therefore reaches
every worker within poll_seconds plus the refit (benchmarks/README.md, "Learning curve").
`refresh` does the same at once, for the warm-up, the CLI and the benchmarks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.kb.learned import LearnedStore
from bot.kb.router import Phrasing, Router

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)
LEARNED = "learned"  # the phrasings' source in the router


class LearnedRouting:
    """Keeps a router current with the learned phrasings of one database."""

    def __init__(
        self,
        store: LearnedStore,
        encode: Callable[[str], np.ndarray],
        poll_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.encode = encode  # a (1, d) or (d,) unit vector for a text
        self.poll_seconds = poll_seconds
        self._vectors: dict[str, np.ndarray] = {}
        self._base: Router | None = None
        self._version: int | None = None
        self._router: Router | None = None
        self._last_poll = float("-inf")
        self._lock = threading.Lock()  # one refresh at a time
        self._checking = False
        self.last_refit_seconds: float | None = None

    def router(self, base: Router) -> Router:
        """The router a turn should use now: `base` with the learned phrasings, as of the
        last check; a new check starts in the background when one is due."""
        due = time.monotonic() - self._last_poll >= self.poll_seconds or self._base is not base
        if due and not self._checking:
            self._checking = True
            self._last_poll = time.monotonic()
            threading.Thread(
                target=self._check, args=(base,), name="learned-phrasings", daemon=True
            ).start()
        router = self._router
        return router if router is not None and self._base is base else base

    def refresh(self, base: Router) -> Router:
        """Check now and return the up-to-date router (refitting it if anything changed)."""
        with self._lock:
            self._last_poll = time.monotonic()
            current = self.store.version()
            if self._base is base and self._version == current and self._router is not None:
                return self._router
            rows = [r for r in self.store.active() if r.label is not None]
            missing = [r.text for r in rows if r.text not in self._vectors]
            for said in missing:
                self._vectors[said] = self.encode(said).reshape(-1)
            started = time.perf_counter()
            if rows:
                import numpy as np

                learned = [Phrasing(r.text, r.label, LEARNED) for r in rows]
                vectors = np.stack([self._vectors[r.text] for r in rows])
                # the last update's weights are the closest start: one more question is a
                # few iterations of the refit
                last = self._router if self._base is base else None
                router = base.with_phrasings(learned, vectors, start=last)
            else:
                router = base
            self.last_refit_seconds = time.perf_counter() - started
            self._router, self._base, self._version = router, base, current
            return router

    def _check(self, base: Router) -> None:
        try:
            self.refresh(base)
        except Exception:  # the database away for a moment: keep the router we have
            logger.warning("learned phrasings: could not refresh the router", exc_info=True)
        finally:
            self._checking = False
