"""Learned phrasings: customers' questions a person confirmed the right place for.

A writer or an agent confirms, in the review queue (/review) or with `bot kb learn`, that a
question the bot missed belongs to an article, a flow, a person (handoff) or nothing we answer
(out_of_scope); or that it needs a new article. Each confirmation is a row with who confirmed it
and when; undoing it marks the row removed (the history stays). Nothing is stored that a person
did not confirm. The router learns the active rows (bot.kb.learning) and `bot kb learned export`
writes them into the writers' files (bot.kb.learned_export).

A counter row (`learned_version`) moves with every change, in the same transaction, so each
worker of each replica can tell cheaply whether there is anything new to learn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)

from bot.dialogue.flows import FLOWS
from bot.handoff.schema import metadata
from bot.inbound import MAX_CHARS
from bot.kb.loader import ID_PATTERN
from bot.kb.router import ARTICLE, INTENT, normalised
from bot.privacy import mask_secrets

HANDOFF = "handoff"
OUT_OF_SCOPE = "out_of_scope"
NEW_ARTICLE = "new_article"  # not a route: a writer has a new article to write
VERSION_ROW = "phrasings"
MAX_BY = 64

phrasings = Table(
    "learned_phrasings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),  # masked, spacing tidied
    # SHA-256 of the text, case and spacing aside: one active row per question
    Column("norm_hash", String(64), nullable=False),
    # article:<id>, flow:<name>, handoff, out_of_scope, or new_article
    Column("target", String(255), nullable=False),
    Column("batch", String(32), nullable=False),  # confirmed together, undone together
    Column("confirmed_by", String(MAX_BY), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
    Column("removed_by", String(MAX_BY)),
    Column("removed_at", DateTime(timezone=True)),
    Column("exported_at", DateTime(timezone=True)),  # written into the writers' files
    Column("draft", Text),  # the article draft of a new_article mark
    Index("learned_phrasings_by_batch", "batch"),
    Index(
        "one_active_learned_phrasing",
        "norm_hash",
        unique=True,
        sqlite_where=text("removed_at IS NULL"),
        postgresql_where=text("removed_at IS NULL"),
    ),
)

version = Table(
    "learned_version",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
)


class BadTarget(ValueError):
    """A target that is not an article, flow, handoff, out_of_scope or new_article."""


class BadQuestion(ValueError):
    """A question that cannot be learned (empty or too long)."""


@dataclass(frozen=True)
class Learned:
    """One confirmed question and where it belongs."""

    id: int
    text: str
    target: str
    batch: str
    confirmed_by: str
    confirmed_at: dt.datetime
    removed_by: str | None = None
    removed_at: dt.datetime | None = None
    exported_at: dt.datetime | None = None
    draft: str | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None

    @property
    def label(self) -> str | None:
        """The router label it teaches (None for a new-article mark)."""
        return router_label(self.target)

    def to_dict(self) -> dict:
        """JSON form (times as ISO 8601; the draft left out)."""
        return {
            "id": self.id,
            "text": self.text,
            "target": self.target,
            "batch": self.batch,
            "confirmed_by": self.confirmed_by,
            "confirmed_at": self.confirmed_at.isoformat(),
            "removed_by": self.removed_by,
            "removed_at": self.removed_at.isoformat() if self.removed_at else None,
            "exported_at": self.exported_at.isoformat() if self.exported_at else None,
            "has_draft": self.draft is not None,
        }


def check_target(target: str, articles: Iterable[str] | None = None) -> str:
    """The target, tidied, or BadTarget naming what is accepted; with `articles` (the ids in
    the index), an article target must be one of them."""
    target = target.strip()
    if target in (HANDOFF, OUT_OF_SCOPE, NEW_ARTICLE):
        return target
    kind, _, name = target.partition(":")
    if kind == "article" and ID_PATTERN.match(name):
        if articles is not None and name not in set(articles):
            raise BadTarget(f"no article '{name}' in the index; see `bot kb stats` or /help/")
        return target
    if kind == "flow" and name in FLOWS:
        return target
    if kind == "flow":
        raise BadTarget(f"no flow '{name}'; the flows are {', '.join(FLOWS)}")
    raise BadTarget(
        f"'{target[:60]}' is not a target: use article:<id>, flow:<name> "
        f"({', '.join(FLOWS)}), {HANDOFF}, {OUT_OF_SCOPE} or {NEW_ARTICLE}"
    )


def router_label(target: str) -> str | None:
    """The router's label for a target: article:<id> stays, flow:<name> is intent:<name>, a
    handoff is intent:request_human, out_of_scope intent:out_of_scope; new_article has none."""
    if target.startswith(ARTICLE):
        return target
    if target.startswith("flow:"):
        return INTENT + target.split(":", 1)[1]
    return {HANDOFF: INTENT + "request_human", OUT_OF_SCOPE: INTENT + OUT_OF_SCOPE}.get(target)


def target_of(label: str) -> str | None:
    """The target a router label stands for (None for small talk and the like)."""
    if label.startswith(ARTICLE):
        return label
    intent = label[len(INTENT) :] if label.startswith(INTENT) else None
    if intent in FLOWS:
        return f"flow:{intent}"
    if intent == "reset_email_missing":
        return "flow:reset_password"
    if intent in ("request_human", "complaint"):
        return HANDOFF
    if intent == OUT_OF_SCOPE:
        return OUT_OF_SCOPE
    return None


def tidy(question: str) -> str:
    """A question as it is stored: secrets masked, spacing tidied; BadQuestion if unusable."""
    said = " ".join(mask_secrets(question).split())
    if not said:
        raise BadQuestion("the question is empty")
    if len(said) > MAX_CHARS:
        raise BadQuestion(
            f"the question is {len(said)} characters; at most {MAX_CHARS} can be learned"
        )
    return said


def norm_hash(question: str) -> str:
    """The key under which a question is confirmed once: case and spacing aside."""
    return hashlib.sha256(normalised(question).encode()).hexdigest()


class LearnedStore:
    """Confirmed questions in the queue's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def confirm(
        self, questions: Iterable[str], target: str, by: str, draft: str | None = None
    ) -> list[Learned]:
        """Confirm where questions belong, as one batch (undone together); a question already
        confirmed elsewhere moves here (the earlier confirmation is marked removed by `by`).
        The target is checked for its form only (check_target with the index's articles first)."""
        target = check_target(target)
        by = by.strip()[:MAX_BY] or "unknown"
        texts = list(dict.fromkeys(tidy(q) for q in questions))
        if not texts:
            raise BadQuestion("no question to confirm")
        now = _now()
        batch = uuid.uuid4().hex
        with self.engine.begin() as conn:
            for said in texts:
                key = norm_hash(said)
                conn.execute(
                    update(phrasings)
                    .where(phrasings.c.norm_hash == key, phrasings.c.removed_at.is_(None))
                    .values(removed_by=by, removed_at=now)
                )
                conn.execute(
                    insert(phrasings).values(
                        text=said,
                        norm_hash=key,
                        target=target,
                        batch=batch,
                        confirmed_by=by,
                        confirmed_at=now,
                        draft=draft,
                    )
                )
            _bump(conn)
        return self.batch(batch)

    def remove(self, ids: Iterable[int] = (), batch: str | None = None, by: str = "") -> int:
        """Undo confirmations (by id, or a whole batch); returns how many were active."""
        ids = [int(i) for i in ids]
        where = phrasings.c.batch == batch if batch else phrasings.c.id.in_(ids)
        if not batch and not ids:
            return 0
        with self.engine.begin() as conn:
            done = conn.execute(
                update(phrasings)
                .where(where, phrasings.c.removed_at.is_(None))
                .values(removed_by=by.strip()[:MAX_BY] or "unknown", removed_at=_now())
            ).rowcount
            if done:
                _bump(conn)
        return int(done or 0)

    def mark_exported(self, ids: Iterable[int]) -> None:
        """Record that these rows are now in the writers' files."""
        ids = [int(i) for i in ids]
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(phrasings).where(phrasings.c.id.in_(ids)).values(exported_at=_now())
            )

    def active(self) -> list[Learned]:
        """Every confirmation in force, oldest first."""
        return self._rows(phrasings.c.removed_at.is_(None))

    def batch(self, batch: str) -> list[Learned]:
        """The rows of one batch."""
        return self._rows(phrasings.c.batch == batch)

    def get(self, row_id: int) -> Learned | None:
        """One row by id."""
        found = self._rows(phrasings.c.id == int(row_id))
        return found[0] if found else None

    def recent(self, limit: int = 50) -> list[Learned]:
        """The latest confirmations, undone ones included, newest first."""
        query = select(phrasings).order_by(phrasings.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_learned(r) for r in conn.execute(query).mappings()]

    def version(self) -> int:
        """A number that changes whenever a confirmation is added or undone (one row read)."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(version.c.version).where(version.c.name == VERSION_ROW)
            ).scalar()
        return int(found or 0)

    def _rows(self, where) -> list[Learned]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(phrasings).where(where).order_by(phrasings.c.id)).mappings()
            return [_learned(r) for r in rows]


def _bump(conn) -> None:
    """Move the version counter (its row is made by migration 0009)."""
    moved = conn.execute(
        update(version).where(version.c.name == VERSION_ROW).values(version=version.c.version + 1)
    ).rowcount
    if not moved:
        conn.execute(insert(version).values(name=VERSION_ROW, version=1))


def _learned(row) -> Learned:
    return Learned(
        id=row["id"],
        text=row["text"],
        target=row["target"],
        batch=row["batch"],
        confirmed_by=row["confirmed_by"],
        confirmed_at=_utc(row["confirmed_at"]),
        removed_by=row["removed_by"],
        removed_at=_utc(row["removed_at"]) if row["removed_at"] else None,
        exported_at=_utc(row["exported_at"]) if row["exported_at"] else None,
        draft=row["draft"],
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
