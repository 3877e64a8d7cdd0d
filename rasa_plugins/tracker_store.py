"""Rasa's SQL tracker store, with customers' secrets masked before anything is written.

`MaskingSQLTrackerStore` is Rasa's own `SQLTrackerStore` (SQLite or PostgreSQL) with these
changes:
- every string in an event is passed through `bot.privacy.mask_secrets` before it is stored, so a
  card number or password a customer types is in no database (tickets are masked the same way);
- it never falls back to memory: if the database cannot be reached at start it raises (Rasa exits
  and `bot up` names the reason) instead of Rasa's silent `InMemoryTrackerStore`, and a failing
  write is retried before the error reaches Rasa;
- an index on (sender_id, timestamp) lets the chat gateway read "what is new in this
  conversation" without reading the whole conversation, and one on (sender_id, id) does the same
  for the cache below;
- the latest session of recent conversations is cached, so a turn does not read and count the
  whole session twice.

The cache: each process keeps, for its most recently used conversations (at most
CACHE_CONVERSATIONS of them and CACHE_CHARS characters), the latest session as stored: each row's
`data` text, already masked (a tracker rebuilt from the cache is the one Rasa rebuilds from the
database; no unmasked event is kept), its timestamp, the session's start, and the number and the
largest id of the conversation's rows of all sessions. Rasa reads the whole session with the ORM
for each retrieve and counts it again in each save to know which events are new; here `retrieve`
asks only for the rows after the cached largest id, with the conversation's row count (another
replica may have served the conversation meanwhile; a new session among those rows, or a count
that does not add up, because rows were deleted or committed late with smaller ids, is read
Rasa's way), and `save` takes the
cached session's length as the stored part of the tracker once it has checked, in the
transaction of its INSERT, that the conversation's row count and largest id are still the cached
ones. A new session among the saved events restarts the entry where Rasa's query starts it (at
the latest `session_started` row's timestamp). This is safe because Rasa retrieves and saves a
conversation under its lock (in memory, or in Redis with several replicas), so nobody writes in
between; if somebody did anyway (an expired lock), or the tracker is shorter than the cached
session, `save` counts the way Rasa does and drops the entry. An entry is only updated after a
commit, and dropped on any error. `retrieve_full_tracker` (all sessions, for the HTTP API) is
Rasa's, uncached.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.orm import sessionmaker

from bot.privacy import mask_secrets
from rasa_plugins.threads import pool, to_completion

logger = logging.getLogger(__name__)

READY_MARKER = "tier0 tracker store ready"
POLL_INDEX = "ix_events_sender_timestamp"
SESSION_INDEX = "ix_events_sender_id_id"
CONNECT_SECONDS = 20.0
WRITE_ATTEMPTS = 3
SETUP_ATTEMPTS = 4
# Latest sessions kept per process, least recently used dropped first: at most this many
# conversations, and at most this many characters of event data (a 10-turn session is ~20,000)
CACHE_CONVERSATIONS = 2000
CACHE_CHARS = 50_000_000
INSERT_ROWS = 100  # event rows per INSERT statement
STORE_THREADS = 8  # threads for the database calls of turns in flight (PostgreSQL)
COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")

# The conversation's row count and largest id: has anyone written since the cache was filled?
LATEST_ROW = sa.text("SELECT count(*), max(id) FROM events WHERE sender_id = :sender")
# The rows stored after the cached ones (another replica served the conversation meanwhile),
# each with the conversation's row count; one row of NULLs with the count when there are none.
# A count that is not the cached one plus the new rows means rows went (deleted) or came with
# smaller ids (a replica that outlived its lock committed late): then the session is read again.
NEWER_ROWS = sa.text(
    "SELECT counted.total, e.id, e.type_name, e.timestamp, e.data "
    "FROM (SELECT count(*) AS total FROM events WHERE sender_id = :sender) AS counted "
    "LEFT JOIN events AS e ON e.sender_id = :sender AND e.id > :after "
    "ORDER BY e.id"
)


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


@dataclass(frozen=True)
class StoredSession:
    """A conversation's latest session as stored: what Rasa's query of that session returns.

    `data` and `stamps` are the `data` and `timestamp` columns of the session's rows in id order
    (the rows whose timestamp is at least `start`, the latest `session_started` row's timestamp,
    or all rows when there is none); `chars` is the length of `data`'s texts; `total` and
    `last_id` count the conversation's rows of every session and name the largest id.
    """

    data: tuple[str, ...]
    stamps: tuple[float | None, ...]
    start: float | None
    chars: int
    total: int
    last_id: int | None

    def extended(self, rows: Sequence[tuple[str, Any, str]], last_id: int) -> StoredSession:
        """This session after `rows` (type name, timestamp, data; in id order) were stored.

        A `session_started` row later than `start` starts a new session: it holds the rows,
        known ones and new ones, with a timestamp at least the new start, as Rasa's query does
        (rows of older sessions, which are not cached, are all earlier than the old start).
        """
        start = self.start
        for type_name, stamp, _ in rows:
            if type_name == SessionStarted.type_name and stamp is not None:
                start = stamp if start is None else max(start, stamp)
        pairs: Iterable[tuple[float | None, str]] = ((stamp, data) for _, stamp, data in rows)
        if start != self.start:
            pairs = itertools.chain(zip(self.stamps, self.data, strict=True), pairs)
            kept = [(stamp, data) for stamp, data in pairs if stamp is not None and stamp >= start]
            data, stamps = tuple(d for _, d in kept), tuple(t for t, _ in kept)
            chars = sum(map(len, data))
        else:
            kept = [(t, d) for t, d in pairs if start is None or (t is not None and t >= start)]
            data = self.data + tuple(d for _, d in kept)
            stamps = self.stamps + tuple(t for t, _ in kept)
            chars = self.chars + sum(len(d) for _, d in kept)
        return StoredSession(data, stamps, start, chars, self.total + len(rows), last_id)

    def events(self) -> list[dict[str, Any]]:
        """The session's events as Rasa reads them from the database (new dicts every call)."""
        return json.loads(f"[{','.join(self.data)}]")


NO_ROWS = StoredSession((), (), None, 0, 0, None)


class MaskingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store that masks secrets, refuses to run without its database and
    keeps the latest session of recent conversations in memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sessions: OrderedDict[str, StoredSession] = OrderedDict()
        self._sessions_chars = 0
        self._sessions_lock = threading.Lock()
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
                    connection.execute(
                        sa.text(
                            f"CREATE INDEX IF NOT EXISTS {SESSION_INDEX} ON events (sender_id, id)"
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
        # A turn's reads are single statements. On PostgreSQL they go through an engine of their
        # own in autocommit: no BEGIN and ROLLBACK round trips (each statement sees what was
        # committed when it started, as in Rasa's READ COMMITTED transaction). SQLite's driver
        # begins no transaction for a SELECT anyway. A Core connection, not an ORM session, for
        # the cached path.
        self._reader = self.engine
        if self.engine.dialect.name == "postgresql":
            self._reader = sa.create_engine(
                self.engine.url,
                isolation_level="AUTOCOMMIT",
                **create_engine_kwargs(self.engine.url),
            )
        self._read_sessions = sessionmaker(bind=self._reader)
        # the database calls of retrieve and save, in threads (rasa_plugins.threads); SQLite takes
        # one writer at a time, so one thread there: its calls stay in order, as in the loop
        self._threads = pool(
            1 if self.engine.dialect.name == "sqlite" else STORE_THREADS, "tracker"
        )
        logger.info(f"{READY_MARKER}: {type(self).__name__} on the {where}")

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the tracker's new events, masked; retry a failing write before giving up.

        The database work runs in a worker thread (rasa_plugins.threads): Rasa serves every
        conversation from one event loop, which would otherwise stand still while it commits."""
        await self.stream_events(tracker)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await to_completion(self._threads, self._save_masked, tracker)
                break
            except sa.exc.SQLAlchemyError as exc:
                if attempt == WRITE_ATTEMPTS:
                    logger.critical(
                        f"tracker store: conversation {tracker.sender_id} was not saved "
                        f"after {attempt} attempts: {exc}"
                    )
                    raise
                await asyncio.sleep(0.2 * attempt)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The tracker of the conversation's latest session, from the cache when it has it.

        The database is read in a worker thread, like `save` (rasa_plugins.threads); the
        tracker is built from the rows in the event loop: that is Python work, which holds the
        interpreter's lock in a thread as well, so it would only add hand-overs. Rasa reads and
        saves a conversation under its lock, so one conversation is never in two threads at
        once."""
        if not self.domain:
            return await super().retrieve(sender_id)
        stored = await to_completion(self._threads, self._read_current, sender_id)
        events = stored.events() if stored is not None else []
        if not events:
            logger.debug(f"tracker store: no events of conversation {sender_id}")
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    def _read_current(self, sender_id: str) -> StoredSession | None:
        """`_current_session`, the conversation forgotten by the cache if reading fails."""
        try:
            return self._current_session(sender_id)
        except BaseException:
            self._forget(sender_id)
            raise

    def _current_session(self, sender_id: str) -> StoredSession | None:
        """The conversation's latest session as stored now, None when it has no events."""
        cached = self._cached(sender_id)
        if cached is not None:
            with self._reader.connect() as connection:
                found = connection.execute(
                    NEWER_ROWS, {"sender": sender_id, "after": cached.last_id}
                ).all()
            rows = [row for row in found if row.id is not None]
            # a count that is not the cached one plus the new rows: rows were deleted, or came
            # late with smaller ids; a new session among the new rows: read it Rasa's way too
            if found[0].total == cached.total + len(rows):
                if not rows:
                    return cached
                if not any(row.type_name == SessionStarted.type_name for row in rows):
                    logger.debug(f"tracker store: {len(rows)} new events of {sender_id}")
                    new = [(row.type_name, row.timestamp, row.data) for row in rows]
                    return self._remember(sender_id, cached, cached.extended(new, rows[-1].id))
        stored = self._read_session(sender_id)
        if stored is None:
            self._forget(sender_id)
            return None
        return self._remember(sender_id, cached, stored)

    def _read_session(self, sender_id: str) -> StoredSession | None:
        """Rasa's query of the latest session, with the row count and largest id of the
        conversation taken in the same statement; None when the conversation has no events."""
        table = self.SQLEvent.__table__.alias("conversation")
        total = sa.select(sa.func.count()).where(table.c.sender_id == sender_id)
        last_id = sa.select(sa.func.max(table.c.id)).where(table.c.sender_id == sender_id)
        session = self._read_sessions()
        with session:
            rows = (
                self._event_query(session, sender_id, fetch_events_from_all_sessions=False)
                .with_entities(
                    self.SQLEvent.type_name,
                    self.SQLEvent.timestamp,
                    self.SQLEvent.data,
                    total.scalar_subquery(),
                    last_id.scalar_subquery(),
                )
                .all()
            )
        if not rows:
            return None
        starts = [r[1] for r in rows if r[0] == SessionStarted.type_name and r[1] is not None]
        data = tuple(r[2] for r in rows)
        return StoredSession(
            data=data,
            stamps=tuple(r[1] for r in rows),
            start=max(starts, default=None),
            chars=sum(map(len, data)),
            total=rows[0][3],
            last_id=rows[0][4],
        )

    def _save_masked(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save with each event's data masked; the stored part of the tracker is the
        cached session's length when nobody wrote since, Rasa's count of the session if not."""
        sender_id = tracker.sender_id
        cached = self._cached(sender_id)
        try:
            with self.session_scope() as session:
                total, last_id = session.execute(LATEST_ROW, {"sender": sender_id}).one()
                if (
                    cached is not None
                    and (cached.total, cached.last_id) == (total, last_id)
                    and len(tracker.events) >= len(cached.data)
                ):
                    known: StoredSession | None = cached
                elif total == 0:
                    known = NO_ROWS
                else:  # written elsewhere, or a tracker shorter than what is stored
                    known = None
                if known is None:
                    events = list(self._additional_events(session, tracker))
                else:
                    events = list(itertools.islice(tracker.events, len(known.data), None))
                rows = [_row(sender_id, event) for event in events]
                new_last_id = self._insert(session, rows)
                session.commit()
        except BaseException:
            self._forget(sender_id)
            raise
        if known is None or (rows and (new_last_id is None or not _stamps_known(rows))):
            self._forget(sender_id)
        elif rows:
            new = [(row["type_name"], row["timestamp"], row["data"]) for row in rows]
            self._remember(sender_id, cached, known.extended(new, new_last_id))
        logger.debug(f"tracker store: {len(rows)} events of {sender_id} stored")

    def _insert(self, session: Any, rows: list[dict[str, Any]]) -> int | None:
        """Insert the rows in order; the largest new id (None if the database cannot say)."""
        dialect = self.engine.dialect.name
        last_id = None
        for first in range(0, len(rows), INSERT_ROWS):
            batch = rows[first : first + INSERT_ROWS]
            statement = _insert_statement(len(batch), returning=dialect == "postgresql")
            params = {f"{name}_{i}": row[name] for i, row in enumerate(batch) for name in COLUMNS}
            result = session.execute(statement, params)
            if dialect == "postgresql":
                last_id = max([*result.scalars().all(), last_id or 0])
            else:  # SQLite's last row id is the batch's last row's; others cannot say
                last_id = result.lastrowid if dialect == "sqlite" else None
        return last_id

    def _cached(self, sender_id: str) -> StoredSession | None:
        with self._sessions_lock:
            stored = self._sessions.get(sender_id)
            if stored is not None:
                self._sessions.move_to_end(sender_id)
            return stored

    def _remember(
        self, sender_id: str, before: StoredSession | None, stored: StoredSession
    ) -> StoredSession:
        """Cache `stored` unless the entry changed since `before` was read (then drop it)."""
        with self._sessions_lock:
            current = self._sessions.pop(sender_id, None)
            if current is not None:
                self._sessions_chars -= current.chars
            if current is before:
                self._sessions[sender_id] = stored
                self._sessions_chars += stored.chars
                while self._sessions and (
                    len(self._sessions) > CACHE_CONVERSATIONS or self._sessions_chars > CACHE_CHARS
                ):
                    _, dropped = self._sessions.popitem(last=False)
                    self._sessions_chars -= dropped.chars
        return stored

    def _forget(self, sender_id: str) -> None:
        with self._sessions_lock:
            dropped = self._sessions.pop(sender_id, None)
            if dropped is not None:
                self._sessions_chars -= dropped.chars


def _row(sender_id: str, event: Event) -> dict[str, Any]:
    """The event's row, its data masked (the columns Rasa's SQLTrackerStore.save writes)."""
    data = masked(event.as_dict())
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


@functools.lru_cache(maxsize=2 * INSERT_ROWS)
def _insert_statement(rows: int, returning: bool) -> sa.TextClause:
    """INSERT of `rows` event rows in one statement (a text statement: compiled once)."""
    values = ", ".join(f"({', '.join(f':{name}_{i}' for name in COLUMNS)})" for i in range(rows))
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES {values}"
    return sa.text(f"{sql} RETURNING id" if returning else sql)


def _stamps_known(rows: list[dict[str, Any]]) -> bool:
    """True when each row's timestamp is stored as the number it is here (or NULL)."""
    return all(
        row["timestamp"] is None
        or (
            isinstance(row["timestamp"], int | float)
            and not isinstance(row["timestamp"], bool)
            and math.isfinite(row["timestamp"])
        )
        for row in rows
    )


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
