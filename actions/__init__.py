"""Rasa custom actions: thin adapters over the bot library, run by the rasa-sdk action server."""

import logging
import sys
import threading


def _warm_up() -> None:
    """Load the embedding model and index before the first customer needs them."""
    try:
        from actions.common import knowledge_base

        knowledge_base().search("warm up", k=1)
    except Exception:  # a missing index is reported on the first real question instead
        logging.getLogger(__name__).warning("could not warm up the knowledge base", exc_info=True)


if "rasa_sdk" in sys.argv[0]:  # only in the action server itself, not when tests import us
    threading.Thread(target=_warm_up, name="kb-warm-up", daemon=True).start()
