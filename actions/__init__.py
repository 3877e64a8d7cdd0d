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
        return
    from bot.heap import freeze_loaded

    freeze_loaded("the knowledge base")  # no collector pauses for the model and index
    try:
        knowledge_base().router(fresh=True)  # with the questions people confirmed
    except Exception:  # the database away: the first turns' check tries again
        logging.getLogger(__name__).warning("could not read learned phrasings", exc_info=True)


def warm_up_in_background() -> None:
    """Start loading the model and index in a thread; the server answers meanwhile."""
    threading.Thread(target=_warm_up, name="kb-warm-up", daemon=True).start()


if "rasa_sdk" in sys.argv[0]:  # `python -m rasa_sdk`; bot.action_server calls it itself
    warm_up_in_background()
