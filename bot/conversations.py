"""Read conversations from Rasa's tracker store: only what is new since a moment, never all of it.

The chat gateway polls every few seconds per open widget. Asking Rasa's API for the tracker
returns the whole conversation each time, so a poll's cost grew with the conversation's length.
This reads Rasa's `events` table directly (SQLite or PostgreSQL, the same database Rasa writes),
through the (sender_id, timestamp) index our tracker store creates, so a poll with a cursor costs
the same at turn 10 and at turn 200. Read-only: nothing here writes to Rasa's tables.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from bot.database import autocommit_reader, read_rows

QUERY_ALL = text("SELECT id, data FROM events WHERE sender_id = :sender ORDER BY id")
QUERY_SINCE = text(
    "SELECT id, data FROM events WHERE sender_id = :sender AND timestamp > :since ORDER BY id"
)


class ConversationStoreUnavailable(RuntimeError):
    """The tracker store's database could not be read."""


class ConversationLog:
    """Rasa's stored events of one conversation, each with its row id."""

    def __init__(self, url: str) -> None:
        self.engine = reader_engine(url)

    def events(self, conversation_id: str, since: float | None = None) -> list[dict[str, Any]]:
        """The conversation's events in order, all of them or those after `since` (a time)."""
        query, params = QUERY_ALL, {"sender": conversation_id}
        if since is not None:
            query, params = QUERY_SINCE, {**params, "since": since}
        try:
            rows = read_rows(self.engine, query, params)
        except (OperationalError, ProgrammingError) as exc:
            if no_table_yet(exc):
                return []  # Rasa has not stored a conversation yet
            raise ConversationStoreUnavailable(str(exc).splitlines()[0]) from exc
        except SQLAlchemyError as exc:
            raise ConversationStoreUnavailable(str(exc).splitlines()[0]) from exc
        return [{**json.loads(data), "row": row_id} for row_id, data in rows]

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


def no_table_yet(exc: Exception) -> bool:
    """The error says Rasa has not created its events table yet (no conversation stored)."""
    message = str(exc).lower()
    return "no such table" in message or "does not exist" in message and "relation" in message


def reader_engine(url: str) -> Engine:
    """An engine for reading the tracker store (on SQLite, waiting for Rasa's writes).

    On PostgreSQL each read is one statement in autocommit (bot.database), read with
    `read_rows`.
    """
    if make_url(url).get_backend_name() != "sqlite":
        return autocommit_reader(url, pool_size=5, max_overflow=5)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _wait_for_writers(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return engine


# What the widget's own buttons say (their payloads are not in any bot message)
WIDGET_PAYLOADS = {
    "/request_human": "Talk to a human",
    "/feedback_helpful": "That helped",
    "/feedback_not_helpful": "That didn't help",
}


def button_titles(events: list[dict[str, Any]]) -> dict[str, str]:
    """Each button payload the bot offered in these events, with the title the customer saw
    (the latest offer wins), and the widget's own buttons."""
    titles = dict(WIDGET_PAYLOADS)
    for item in events:
        if item.get("event") == "bot":
            for button in (item.get("data") or {}).get("buttons") or []:
                titles[str(button.get("payload", ""))] = str(button.get("title", ""))
    return titles


def said(item: dict[str, Any], titles: dict[str, str]) -> str:
    """What a customer's message said as they saw it: a button press shows the button's title
    (`/inform{"email": ...}` is "Yes, ana@gmail.com"), not its payload; a payload whose button
    is not known shows as its intent in brackets."""
    text = item.get("text") or ""
    if not text.startswith("/"):
        return text
    title = (item.get("metadata") or {}).get("title") or titles.get(text)
    if title:
        return str(title)
    intent = (item.get("parse_data") or {}).get("intent", {}).get("name")
    return f"[{intent or text.split('{', 1)[0].lstrip('/') or 'button'}]"


def transcript_lines(events: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A conversation's events as lines for a handoff ticket, each with when it was said.

    A line is {"sender": "customer" | "bot", "text": ..., "at": ISO 8601 UTC}; "at" is left out
    when the event has no usable timestamp (Rasa's are epoch seconds).
    """
    from datetime import UTC, datetime

    lines = []
    titles = dict(WIDGET_PAYLOADS)
    for item in events:
        if item.get("event") == "bot":
            titles.update(button_titles([item]))
        if item.get("event") == "user" and item.get("text"):
            line = {"sender": "customer", "text": said(item, titles)}
        elif item.get("event") == "bot" and item.get("text"):
            line = {"sender": "bot", "text": item["text"]}
        else:
            continue
        stamp = item.get("timestamp")
        if isinstance(stamp, int | float) and not isinstance(stamp, bool):
            try:
                moment = datetime.fromtimestamp(stamp, UTC)
                line["at"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            except (OverflowError, OSError, ValueError):
                pass  # a time no clock gives: the line goes without one
        lines.append(line)
    return lines[-200:]


def products_discussed(events: list[dict[str, Any]], limit: int = 5) -> list[dict[str, str]]:
    """The products the bot showed in a conversation (its product cards), the latest `limit`,
    each once: {"id", "title", "url", "price"} for a handoff ticket."""
    found: dict[str, dict[str, str]] = {}
    for item in events:
        if item.get("event") != "bot":
            continue
        custom = (item.get("data") or {}).get("custom") or {}
        cards = custom.get("products") if isinstance(custom, dict) else None
        for card in cards if isinstance(cards, list) else ():
            if not isinstance(card, dict) or not card.get("id") or not card.get("title"):
                continue
            found.pop(str(card["id"]), None)  # talked about again: it moves to the end
            found[str(card["id"])] = {
                "id": str(card["id"])[:128],
                "title": str(card["title"])[:300],
                "url": str(card.get("link") or "")[:2000],
                "price": str(card.get("price") or "")[:32],
            }
    return list(found.values())[-limit:]
