"""Keep Python's garbage collector from pausing a server to look at what it loaded at start.

Python's cyclic collector walks every tracked object in its oldest generation whenever that
generation has grown by a quarter. A server's oldest generation is mostly what it loaded once
and keeps (Rasa's TensorFlow model; the web app's and the action server's libraries and
index): under load, each such collection stops a server for a noticeable pause, with every
conversation on it waiting (the measured pauses are in benchmarks/README.md). `gc.freeze()`
moves the objects alive at that point into a permanent generation the collector skips; what a
server makes afterwards (conversations, requests) is collected as before. A frozen object is
never freed by the cyclic collector, so this is done once, after the server has loaded what it
keeps for its lifetime.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)


def freeze_loaded(what: str) -> int:
    """Collect once, then leave every object alive now out of later collections; how many."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("heap: %s loaded; %d objects left out of garbage collection", what, frozen)
    return frozen
