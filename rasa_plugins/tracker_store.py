"""Rasa's SQL tracker store, with customers' secrets masked before anything is written.

`MaskingSQLTrackerStore` is Rasa's own `SQLTrackerStore` (SQLite or PostgreSQL) with three
changes:
- every string in an event is passed through `bot.privacy.mask_secrets` before it is stored, so a
  card number or password a customer types is in no database (tickets are masked the same way);
- it never falls back to memory: if the database cannot be reached at start it raises (Rasa exits
  and `bot up` names the reason) instead of Rasa's silent `InMemoryTrackerStore`, and a failing
  write is retried before the error reaches Rasa;
- an index on (sender_id, timestamp) lets the chat gateway read "what is new in this
  conversation" without reading the whole conversation.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from bot.privacy import mask_secrets

logger = logging.getLogger(__name__)

READY_MARKER = "tier0 tracker store ready"
POLL_INDEX = "ix_events_sender_timestamp"
CONNECT_SECONDS = 20.0
WRITE_ATTEMPTS = 3
SETUP_ATTEMPTS = 4


class TrackerStoreUnavailable(RuntimeError):
    """The conversation database cannot be used; the message says which and why."""


def masked(value: Any) -> Any:
    """The value with every string in it masked (dicts and lists walked)."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


class MaskingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store that masks secrets and refuses to run without its database."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        dialect = kwargs.get("dialect", "sqlite")
        url = self.get_db_url(
            dialect,
            kwargs.get("host"),
            kwargs.get("port"),
            kwargs.get("db", "rasa.db"),
            kwargs.get("username"),
            kwargs.get("password"),
            kwargs.get("login_db"),
        )
        where = f"{dialect} database '{kwargs.get('db')}'"
        _wait_for_database(url, where)
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            try:
                super().__init__(*args, **kwargs)
                with self.engine.begin() as connection:
                    connection.execute(
                        sa.text(
                            f"CREATE INDEX IF NOT EXISTS {POLL_INDEX} "
                            "ON events (sender_id, timestamp)"
                        )
                    )
                break
            except Exception as exc:  # noqa: BLE001 - anything here must stop Rasa, loudly
                # Rasa replicas starting together race to create the database and the table:
                # the loser's error goes away once the winner is done
                if attempt == SETUP_ATTEMPTS:
                    raise TrackerStoreUnavailable(
                        f"tracker store: cannot use the {where}: {exc}"
                    ) from exc
                time.sleep(attempt)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        logger.info(f"{READY_MARKER}: {type(self).__name__} on the {where}")

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the tracker's new events, masked; retry a failing write before giving up."""
        await self.stream_events(tracker)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self._save_masked(tracker)
                break
            except sa.exc.SQLAlchemyError as exc:
                if attempt == WRITE_ATTEMPTS:
                    logger.critical(
                        f"tracker store: conversation {tracker.sender_id} was not saved "
                        f"after {attempt} attempts: {exc}"
                    )
                    raise
                time.sleep(0.2 * attempt)

    def _save_masked(self, tracker: DialogueStateTracker) -> None:
        # The body of SQLTrackerStore.save (Rasa 3.6), with each event's data masked.
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = masked(event.as_dict())
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=(data.get("parse_data") or {}).get("intent", {}).get("name"),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()


def _wait_for_database(url: Any, where: str) -> None:
    """Connect within CONNECT_SECONDS or raise (Rasa's own store would retry forever)."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + CONNECT_SECONDS
    try:
        while True:
            try:
                with engine.connect() as connection:
                    if engine.dialect.name == "sqlite":  # kept in the file from now on
                        connection.execute(sa.text("PRAGMA journal_mode=WAL"))
                    return
            except sa.exc.SQLAlchemyError as exc:
                if time.monotonic() > deadline:
                    raise TrackerStoreUnavailable(
                        f"tracker store: cannot connect to the {where} "
                        f"within {CONNECT_SECONDS:.0f} s: {exc}"
                    ) from exc
                time.sleep(1)
    finally:
        engine.dispose()


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """Wait for a lock instead of failing (the web app reads while Rasa writes)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
