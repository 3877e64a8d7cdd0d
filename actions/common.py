"""Shared wiring of the action server: settings, the KB, the store and the queue, opened once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, partial
from typing import Any

from rasa_sdk import Tracker

from bot.conversations import transcript_lines
from bot.handoff import HandoffQueue
from bot.kb.encoder import load_query_encoder
from bot.kb.search import KnowledgeBase, QueryEncoder
from bot.settings import Settings, load_settings
from bot.store.base import StoreBackend

_lock = threading.Lock()


@cache
def settings() -> Settings:
    """The bot's settings, read once per process."""
    return load_settings()


@cache
def knowledge_base() -> KnowledgeBase:
    """The search index; it reloads itself when a newer version is published."""
    return KnowledgeBase(
        settings().index_dir, settings().embedding_model, query_encoder=query_encoder_factory()
    )


def query_encoder_factory() -> Callable[[], QueryEncoder] | None:
    """The ONNX question encoder when the settings ask for it (None: sentence-transformers)."""
    if settings().query_encoder != "onnx":
        return None
    return partial(
        load_query_encoder,
        settings().embedding_model,
        settings().encoder_dir,
        settings().action_torch_threads,
    )


@cache
def store() -> StoreBackend:
    """The accounts and orders backend the settings choose."""
    from bot.store.factory import open_store

    return open_store(settings())


@cache
def queue() -> HandoffQueue:
    """The handoff queue, with its webhook notifications."""
    from bot.web.app import open_queue

    return open_queue(settings())


def intent_of(tracker: Tracker) -> str | None:
    """The latest user message's intent name."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def top_intents(tracker: Tracker, n: int = 3) -> list[dict[str, Any]]:
    """The NLU's best intents for the latest message, with confidences."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    return [
        {"name": r["name"], "confidence": round(float(r.get("confidence", 0)), 4)}
        for r in ranking[:n]
        if r.get("name")
    ]


def transcript(tracker: Tracker) -> list[dict[str, str]]:
    """The conversation so far as lines for a handoff ticket (bot.conversations)."""
    return transcript_lines(tracker.events)
