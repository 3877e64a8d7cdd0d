"""Keep Python's garbage collector from pausing a server to look at what it loaded at start.

Python's cyclic collector walks every tracked object in its oldest generation whenever that
generation has grown by a quarter. A server's oldest generation is mostly what it loaded once
and keeps (Rasa's TensorFlow model: about 640,000 objects; the web app's and the action
server's libraries and index): under load, each such collection stopped a Rasa replica for
0.3-0.6 s, and the web app for up to 0.5 s, with every conversation on it waiting
(benchmarks/README.md). `gc.freeze()` moves the objects alive now into a permanent generation the
collector skips; what a server makes afterwards (conversations, requests) is collected as
before. A frozen object is never freed by the cyclic collector, so this is done once, after the
server has loaded what it keeps for its lifetime.
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
