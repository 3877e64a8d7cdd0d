"""Record every customer turn, with what the bot did about it, from Rasa's tracker store.

Why the tracker store and not a parallel log or Rasa's SQL event broker: Rasa already writes each
event there durably, in order, with a row id, and masked (rasa_plugins.tracker_store); every bot
message carries its outcome metadata. An event broker would write every event a second time on
Rasa's hot path (CPU per turn) and keep the customers' words in one more place. So the recorder
reads only the rows after its cursor, turns them into one row per customer message in the queue's
database (bot.insights.schema), and commits the rows and the cursor in one transaction: recording
twice, or from two processes at once, records each message once.

Called by the web app every `insights_record_seconds`, and by `bot insights report`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from bot.conversations import ConversationStoreUnavailable, no_table_yet, reader_engine
from bot.database import read_rows
from bot.insights.schema import cursor, turns
from bot.privacy import mask_secrets

logger = logging.getLogger(__name__)

CURSOR = "tracker_store"
BATCH = 5000
# Rows younger than this may still have an older neighbour uncommitted (PostgreSQL assigns ids
# before commit); they are read next time.
SETTLE_SECONDS = 2.0
FEEDBACK = {"feedback_helpful": "up", "feedback_not_helpful": "down"}
# When a turn's bot messages disagree, the turn is what the most decisive one says it is.
PRIORITY = (
    "handoff",
    "flow",
    "article",
    "clarify",
    "fallback",
    "handoff_offer",
    "relayed",
    "smalltalk",
)
QUERY = text(
    "SELECT id, sender_id, type_name, timestamp, data FROM events "
    "WHERE id > :after ORDER BY id LIMIT :limit"
)


@dataclass
class Recorded:
    """What one recording pass did."""

    events: int = 0
    turns: int = 0
    feedback: int = 0
    cursor: int = 0


@dataclass
class _Turn:
    """A customer message being recorded, with the bot's replies as they are read."""

    row: dict[str, Any]
    actions: list[str] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None  # set once the row exists


def is_test(conversation_id: str, prefixes: Iterable[str]) -> bool:
    """Test traffic: a conversation id with one of the configured prefixes."""
    return any(conversation_id.startswith(p) for p in prefixes if p)


class Recorder:
    """Reads new tracker-store events and records turns in the queue's database."""

    def __init__(
        self,
        queue_engine: Engine,
        tracker_store_url: str,
        *,
        test_prefixes: Iterable[str] = (),
        keep_text: bool = True,
    ) -> None:
        self.engine = queue_engine
        self.tracker_url = tracker_store_url
        self.tracker = reader_engine(tracker_store_url)
        self.test_prefixes = tuple(test_prefixes)
        self.keep_text = keep_text

    def close(self) -> None:
        """Release the tracker store's connections (the queue's engine is not ours)."""
        self.tracker.dispose()

    def record(self, batch: int = BATCH, max_batches: int = 100) -> Recorded:
        """Record everything new; returns what was recorded."""
        total = Recorded()
        for _ in range(max_batches):
            done = self._record_batch(batch)
            total.events += done.events
            total.turns += done.turns
            total.feedback += done.feedback
            total.cursor = done.cursor
            if done.events < batch:
                break
        return total

    def _record_batch(self, batch: int) -> Recorded:
        with self.engine.begin() as conn:
            after = self._cursor(conn)
            rows, cut = self._read(after, batch)
            rows = _complete_turns(rows, cut=cut)
            done = Recorded(events=len(rows), cursor=after)
            if not rows:
                return done
            open_turns: dict[str, _Turn | None] = {}
            for row_id, sender, kind, stamp, data in rows:
                event = json.loads(data) if isinstance(data, str) else (data or {})
                if sender not in open_turns:
                    open_turns[sender] = self._latest(conn, sender)
                current = open_turns[sender]
                if kind == "user":
                    self._flush(conn, current, done)
                    open_turns[sender] = self._start(sender, row_id, stamp, event)
                elif current is None:
                    continue
                elif kind == "action":
                    current.actions.append(event.get("name") or "")
                elif kind == "bot":
                    custom = (event.get("data") or {}).get("custom")
                    if isinstance(custom, dict):
                        current.outcomes.append(dict(custom))
            for current in open_turns.values():
                self._flush(conn, current, done)
            done.cursor = rows[-1][0]
            self._move_cursor(conn, after, done.cursor)
        return done

    def _read(self, after: int, limit: int) -> tuple[list[tuple], bool]:
        """Rows after the cursor, and whether more may follow (a full or time-cut batch)."""
        try:
            rows = read_rows(self.tracker, QUERY, {"after": after, "limit": limit})
        except (OperationalError, ProgrammingError) as exc:
            if no_table_yet(exc):
                return [], False  # Rasa has not stored a conversation yet
            raise ConversationStoreUnavailable(str(exc).splitlines()[0]) from exc
        except SQLAlchemyError as exc:
            raise ConversationStoreUnavailable(str(exc).splitlines()[0]) from exc
        settled = time.time() - SETTLE_SECONDS
        kept = []
        for row in rows:
            if float(row[3] or 0) >= settled:
                return kept, True
            kept.append(tuple(row))
        return kept, len(rows) == limit

    def _cursor(self, conn: Connection) -> int:
        query = select(cursor.c.last_event_id).where(cursor.c.name == CURSOR)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # a second recorder waits, then reads the new cursor
        found = conn.execute(query).scalar()
        if found is None:
            conn.execute(insert(cursor).values(name=CURSOR, last_event_id=0, updated_at=_now()))
            if conn.dialect.name == "postgresql":
                conn.execute(query).scalar()  # lock the row just made
            return 0
        return int(found)

    def _move_cursor(self, conn: Connection, before: int, after: int) -> None:
        moved = conn.execute(
            update(cursor)
            .where(and_(cursor.c.name == CURSOR, cursor.c.last_event_id == before))
            .values(last_event_id=after, updated_at=_now())
        )
        if moved.rowcount != 1:
            raise RuntimeError("another recorder moved the cursor; this pass is rolled back")

    def _latest(self, conn: Connection, sender: str) -> _Turn | None:
        """The conversation's last recorded turn: a new batch may hold the rest of its replies."""
        row = (
            conn.execute(
                select(turns)
                .where(turns.c.conversation_id == sender)
                .order_by(turns.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _Turn(row=dict(row), id=row["id"])

    def _start(self, sender: str, row_id: int, stamp: Any, event: dict) -> _Turn | None:
        parse = event.get("parse_data") or {}
        intent = (parse.get("intent") or event.get("intent") or {}) or {}
        name = intent.get("name")
        if name and name.startswith("EXTERNAL_"):
            return None  # an agent's action, not something the customer said
        said = event.get("text") or ""
        kind = "button" if said.startswith("/") else "message"
        if kind == "button":
            said = (event.get("metadata") or {}).get("title") or said.split("{", 1)[0]
        confidence = intent.get("confidence")
        return _Turn(
            row={
                "conversation_id": sender,
                "event_id": row_id,
                "at": dt.datetime.fromtimestamp(float(stamp or 0), dt.UTC),
                "test": is_test(sender, self.test_prefixes),
                "kind": kind,
                "text": mask_secrets(said)[:2000] if self.keep_text else None,
                "intent": name,
                "confidence": float(confidence) if confidence is not None else None,
            }
        )

    def _flush(self, conn: Connection, current: _Turn | None, done: Recorded) -> None:
        """Write the turn (new, or an update with replies read in this batch)."""
        if current is None or (current.id is not None and not current.outcomes):
            return
        values = dict(current.row)
        feedback = _feedback_of(values, current.actions)
        if feedback:
            values["kind"] = "feedback"
            self._give_feedback(conn, values["conversation_id"], values["event_id"], feedback)
            done.feedback += 1
        fields = _outcome_fields(current.outcomes, values)
        if _rank(values.get("outcome")) <= _rank(fields.get("outcome")):
            for key in ("outcome", "article_id", "section", "score", "top_article"):
                fields.pop(key, None)  # replies read earlier said more than these
        values.update(fields)
        values.pop("id", None)
        if current.id is None:
            current.id = conn.execute(insert(turns).values(**values)).inserted_primary_key[0]
            done.turns += 1
        else:
            conn.execute(update(turns).where(turns.c.id == current.id).values(**values))
        current.row = {**values, "id": current.id}
        current.outcomes = []
        current.actions = []

    def _give_feedback(self, conn: Connection, sender: str, before: int, verdict: str) -> None:
        """👍/👎 belongs to the conversation's last answer before it."""
        answer = conn.execute(
            select(func.max(turns.c.id)).where(
                turns.c.conversation_id == sender,
                turns.c.event_id < before,
                turns.c.outcome == "article",
            )
        ).scalar()
        if answer is not None:
            conn.execute(update(turns).where(turns.c.id == answer).values(feedback=verdict))

    def purge(self, older_than: dt.datetime) -> int:
        """Delete turns recorded before a moment; returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(delete(turns).where(turns.c.at < older_than)).rowcount or 0


def _feedback_of(row: dict, actions: list[str]) -> str | None:
    """A 👍/👎: the NLU said feedback and the feedback action ran, not handing on to an answer."""
    verdict = FEEDBACK.get(row.get("intent") or "")
    if verdict is None or row.get("kind") == "feedback":
        return None
    if "action_feedback" in actions and "action_kb_answer" not in actions:
        return verdict
    return None


def _outcome_fields(outcomes: list[dict], row: dict) -> dict[str, Any]:
    """The turn's outcome, article, flow and handoff, from the bot's messages so far."""
    fields: dict[str, Any] = {}
    known = [o for o in outcomes if o.get("outcome")]
    for o in known:
        if o["outcome"] == "handoff" and o.get("state"):
            o["outcome"] = "relayed"  # a message passed to the agent, or the bot back
        if o["outcome"] == "handoff_offer":
            fields["offer_reason"] = o.get("reason")
        if o["outcome"] == "handoff" and o.get("reason"):
            fields["handoff_reason"] = o["reason"]
        if o["outcome"] == "product" and o.get("not_sold"):
            fields["not_sold"] = True  # "we don't sell that": a catalogue gap
        if o.get("flow"):
            fields["flow"] = o["flow"]
            if o.get("result") or o.get("failed"):
                fields["flow_result"] = o.get("result") or "failed"
    if row.get("kind") == "feedback":
        return {"outcome": "feedback", **fields}
    ranked = sorted(known, key=lambda o: _rank(o["outcome"]))
    if ranked:
        best = ranked[0]
        fields["outcome"] = best["outcome"]
        citation = best.get("citation") or {}
        fields["article_id"] = best.get("article_id") or citation.get("id")
        fields["section"] = citation.get("section")
        fields["score"] = best.get("score")
        fields["top_article"] = best.get("top_article")
    return fields


def _rank(outcome: str | None) -> int:
    """Lower is more decisive; no outcome is least."""
    if outcome is None:
        return len(PRIORITY) + 1
    return PRIORITY.index(outcome) if outcome in PRIORITY else len(PRIORITY)


def _complete_turns(rows: list[tuple], cut: bool) -> list[tuple]:
    """When the batch was cut, end it before the first unfinished turn (read next time).

    Rasa stores a turn's events together when the turn is over, so only a cut batch (full, or
    stopped at rows too young to trust) can end in the middle of one.
    """
    if not cut:
        return rows
    last_listen: dict[str, int] = {}
    last_row: dict[str, int] = {}
    for index, (_id, sender, kind, _stamp, data) in enumerate(rows):
        last_row[sender] = index
        if kind == "action" and '"action_listen"' in (data or ""):
            last_listen[sender] = index
    cut = min(
        (
            last_listen.get(sender, -1) + 1
            for sender, end in last_row.items()
            if last_listen.get(sender, -1) < end
        ),
        default=len(rows),
    )
    return rows[:cut] if cut > 0 else rows


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
