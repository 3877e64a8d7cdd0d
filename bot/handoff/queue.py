"""The handoff queue: create tickets with context, claim them safely, resolve or return them,
and keep the customer's rating of a resolved one."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Annotated, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.database import read
from bot.handoff.db import create_db_engine, create_reader_engine, migrate
from bot.handoff.schema import ACTIVE, CSAT_SCORES, STATUSES, events, messages, tickets
from bot.handoff.summary import summarize
from bot.privacy import mask_secrets

log = logging.getLogger(__name__)

Reason = Literal[
    "customer_request", "complaint", "low_confidence", "negative_feedback", "flow_failure"
]
Status = Literal["open", "claimed", "resolved", "returned_to_bot"]
Sender = Literal["customer", "bot", "agent", "system"]

# Complaints and customers who come back first; then people who asked for a human.
BASE_PRIORITY = {
    "complaint": 30,
    "customer_request": 20,
    "flow_failure": 15,
    "negative_feedback": 10,
    "low_confidence": 10,
}
REPEAT_CONTACT_BONUS = 25
REPEAT_WINDOW = dt.timedelta(days=30)
MAX_TEXT = 4000
# No spaces or control characters. Both are spelled out, not left to \s alone: \s means one set to
# Python and pydantic (U+0085 included) and another to JSON Schema's ECMA regexes (U+FEFF), and
# the OpenAPI schema must accept exactly what the API does.
_NOT_IN_EMAIL = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]"
EMAIL_PATTERN = rf"^{_NOT_IN_EMAIL}+@{_NOT_IN_EMAIL}+\.{_NOT_IN_EMAIL}+$"
MAX_MESSAGES = 500
# PostgreSQL text cannot hold NUL characters: ids and names with one are refused (a 422 at the
# API, and the schema says so); in free text, where a NUL means nothing, it is dropped.
NO_NUL = r"^[^\x00]*$"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
# Ticket ids are INTEGER columns: 32 bits on PostgreSQL (64 on SQLite), so no id is larger and no
# page starts further in. Callers bound their input to these; the queue treats anything else as
# missing instead of handing the database a number it cannot hold.
MAX_TICKET_ID = 2**31 - 1
MAX_OFFSET = MAX_TICKET_ID
MAX_SEARCH = 200  # characters of a search; callers refuse longer ones
MAX_TERMS = 8  # words of a search that count
MAX_CSAT_COMMENT = 1000  # characters of a rating's comment


def _without_nul(value: object) -> object:
    return value.replace("\x00", "") if isinstance(value, str) else value


def _iso_8601(value: object) -> object:
    """Only dates and times as ISO 8601 writes them; pydantic would read 0.5 as a Unix time."""
    if isinstance(value, dt.datetime) or (isinstance(value, str) and ISO_DATE.match(value)):
        return value
    raise ValueError("use ISO 8601, e.g. 2024-06-01T09:00:00Z")


def _as_utc(moment: dt.datetime) -> dt.datetime:
    """A time in UTC, as the queue stores and compares it; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 is before the year 1 in UTC
        raise ValueError("the time is out of range once converted to UTC") from exc


Text = Annotated[str, BeforeValidator(_without_nul)]
UtcTime = Annotated[dt.datetime, BeforeValidator(_iso_8601), AfterValidator(_as_utc)]


class TicketNotFound(LookupError):
    """No ticket has that id."""


class TicketConflict(RuntimeError):
    """The ticket is not in a state that allows the action (already claimed, resolved, ...)."""


class Rating(BaseModel):
    """A customer's rating of the help a resolved ticket gave: 1 (very bad) to 5 (very good)."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(
        ge=CSAT_SCORES[0],
        le=CSAT_SCORES[-1],
        strict=True,  # a whole number: not "4", not 4.5, not true
        description="1 very bad, 2 bad, 3 okay, 4 good, 5 very good.",
        examples=[4],
    )
    comment: Text = Field(
        "",
        max_length=MAX_CSAT_COMMENT,
        description=f"Optional, at most {MAX_CSAT_COMMENT} characters; secrets are masked.",
    )

    @field_validator("comment")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip()


class NewMessage(BaseModel):
    """One line of a transcript."""

    model_config = ConfigDict(extra="forbid")

    sender: Sender
    text: Text = Field(min_length=1, max_length=MAX_TEXT)
    at: UtcTime | None = None


class IntentScore(BaseModel):
    """An intent the NLU considered, with its confidence."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    confidence: float = Field(ge=0, le=1, strict=True)  # a number: not "0.5", not false


class ArticleTried(BaseModel):
    """An article the bot offered or considered, with its search score."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    title: str = Field(max_length=300, pattern=NO_NUL)
    url: str = Field(max_length=2000, pattern=NO_NUL)
    score: float = Field(ge=-1, le=1, strict=True)


class GuideTaken(BaseModel):
    """The article's guide the customer walked before the handoff, and the choices they took."""

    model_config = ConfigDict(extra="forbid")

    article_id: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    title: str = Field("", max_length=300, pattern=NO_NUL, description="The article's title.")
    section: str = Field("", max_length=300, pattern=NO_NUL, description="The guide's section.")
    question: str = Field(min_length=1, max_length=1000, pattern=NO_NUL)
    path: list[Annotated[str, Field(max_length=300, pattern=NO_NUL)]] = Field(
        default_factory=list, max_length=30
    )
    end: Literal["answer", "handoff"] | None = None


class Verified(BaseModel):
    """What the bot confirmed with the store: the email and order number that matched."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)
    order_number: str | None = Field(None, max_length=32, pattern=NO_NUL)


class ProductDiscussed(BaseModel):
    """A product the bot showed the customer (a product card), for the agent to see."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    title: str = Field(min_length=1, max_length=300, pattern=NO_NUL)
    url: str = Field("", max_length=2000, pattern=NO_NUL)
    price: str = Field("", max_length=32, pattern=NO_NUL)


class NewTicket(BaseModel):
    """What the action server sends when it hands a conversation to a human."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(min_length=1, max_length=128, pattern=NO_NUL)
    reason: Reason
    customer_email: str | None = Field(None, max_length=254, pattern=EMAIL_PATTERN)
    order_number: str | None = Field(None, max_length=32, pattern=NO_NUL)
    intents: list[IntentScore] = Field(default_factory=list, max_length=10)
    articles: list[ArticleTried] = Field(default_factory=list, max_length=10)
    products: list[ProductDiscussed] = Field(
        default_factory=list,
        max_length=10,
        description="Products the bot showed in the conversation; the summary names them.",
    )
    transcript: list[NewMessage] = Field(default_factory=list, max_length=MAX_MESSAGES)
    verified: Verified | None = None
    guide: GuideTaken | None = Field(
        None, description="The guide the customer walked (its choices); the summary says it."
    )
    idempotency_key: str | None = Field(None, min_length=1, max_length=128, pattern=NO_NUL)
    after_hours: bool = Field(
        False,
        strict=True,
        description="Opened outside business hours or with nobody signed in: the customer "
        "was told the answer comes by email.",
    )


@dataclass
class Ticket:
    """A ticket as agents and the API see it."""

    id: int
    conversation_id: str
    status: Status
    reason: Reason
    priority: int
    customer_email: str | None
    order_number: str | None
    intents: list[dict]
    articles: list[dict]
    summary: str
    verified: dict | None
    claimed_by: str | None
    resolution_note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    claimed_at: dt.datetime | None
    resolved_at: dt.datetime | None
    csat_score: int | None = None  # the customer's rating, 1-5, once they gave one
    csat_comment: str | None = None
    csat_at: dt.datetime | None = None
    after_hours: bool = False  # opened when nobody could answer live: the answer goes by email
    transcript: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    @property
    def seconds_to_claim(self) -> float | None:
        """How long the customer waited for an agent."""
        return (self.claimed_at - self.created_at).total_seconds() if self.claimed_at else None

    @property
    def seconds_to_resolve(self) -> float | None:
        """How long from handoff to resolution."""
        return (self.resolved_at - self.created_at).total_seconds() if self.resolved_at else None

    def to_dict(self) -> dict:
        """JSON-ready form, timestamps in ISO 8601."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, dt.datetime):
                data[key] = value.isoformat()
        for item in data["transcript"] + data["events"]:
            item["at"] = item["at"].isoformat() if item["at"] else None
        data["seconds_to_claim"] = self.seconds_to_claim
        data["seconds_to_resolve"] = self.seconds_to_resolve
        return data


def search_terms(search: str | None) -> list[str]:
    """The words of a search, as list() matches them: split on spaces, at most MAX_TERMS."""
    return (search or "").replace("\x00", "").split()[:MAX_TERMS]


def _filters(reason: str | None, search: str | None) -> list:
    """WHERE conditions for a reason and a text search (every word somewhere, any case)."""
    conditions = []
    if reason:
        conditions.append(tickets.c.reason == reason)
    for term in search_terms(search):
        # autoescape: a customer's "50%" or "a_b" is text, not a LIKE wildcard
        said = (
            select(messages.c.id)
            .where(
                messages.c.ticket_id == tickets.c.id,
                messages.c.text.icontains(term, autoescape=True),
            )
            .exists()
        )
        conditions.append(
            or_(
                tickets.c.summary.icontains(term, autoescape=True),
                tickets.c.customer_email.icontains(term, autoescape=True),
                tickets.c.order_number.icontains(term, autoescape=True),
                said,
            )
        )
    return conditions


def _check_id(ticket_id: int) -> None:
    """An id no ticket can have is a missing ticket, not a database error."""
    if not 1 <= ticket_id <= MAX_TICKET_ID:
        raise TicketNotFound(f"Ticket {ticket_id} doesn't exist.")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


class TicketMail(Protocol):
    """Emails about tickets, queued in the same transaction as the change they are about (so a
    crash never keeps a ticket and loses its email, or the other way round): bot.mail.mailer."""

    def ticket_created(self, conn: Connection, ticket: dict) -> None:
        """A new ticket was stored."""

    def message_added(self, conn: Connection, ticket: dict, message: dict) -> None:
        """A message was added to an active ticket."""


class HandoffQueue:
    """The queue over one database; safe for many threads and processes at once."""

    def __init__(
        self,
        engine: Engine,
        on_created: Callable[[dict], object] | None = None,
        on_closed: Callable[[dict], object] | None = None,
        reader: Engine | None = None,
        mail: TicketMail | None = None,
    ) -> None:
        self.engine = engine
        self.mail = mail
        # what every turn reads (a conversation's tickets): on PostgreSQL in autocommit, without
        # the writes' ping before each use (bot.database); the same engine on SQLite
        self.reader = reader or engine
        self.on_created = on_created
        self.on_closed = on_closed

    @classmethod
    def from_url(cls, url: str, **hooks: object) -> HandoffQueue:
        """Open (and migrate) the queue database at url."""
        engine = create_db_engine(url)
        migrate(engine)
        return cls(engine, reader=create_reader_engine(url), **hooks)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()

    def _after(self, hook: Callable[[dict], object] | None, ticket: Ticket) -> None:
        """Run a notification hook; its failure never affects the stored ticket."""
        if hook is None:
            return
        try:
            hook(ticket.to_dict())
        except Exception:
            log.exception("notification hook failed for ticket %s", ticket.id)

    # -- writes -------------------------------------------------------------------------------

    def create(self, new: NewTicket) -> tuple[Ticket, bool]:
        """Store a ticket; returns (ticket, created). A conversation has one active ticket."""
        now = _now()
        # A line keeps the time it was said; one sent without a time stays without one.
        transcript = [
            {"sender": m.sender, "text": mask_secrets(m.text), "at": m.at} for m in new.transcript
        ]
        verified = new.verified.model_dump(exclude_none=True) if new.verified else {}
        # What the store confirmed wins over what the customer last typed.
        email = verified.get("email") or new.customer_email
        order_number = verified.get("order_number") or new.order_number
        try:
            with self.engine.begin() as conn:
                existing = self._existing(conn, new)
                if existing is not None:
                    return self._load(conn, existing), False
                priority = BASE_PRIORITY[new.reason] + self._repeat_bonus(conn, new, email, now)
                ticket_id = conn.execute(
                    insert(tickets).values(
                        conversation_id=new.conversation_id,
                        idempotency_key=new.idempotency_key,
                        status="open",
                        reason=new.reason,
                        priority=priority,
                        customer_email=email,
                        order_number=order_number,
                        verified=verified or None,
                        intents=[i.model_dump() for i in new.intents],
                        articles=[a.model_dump() for a in new.articles],
                        summary=summarize(
                            transcript,
                            new.reason,
                            [a.model_dump() for a in new.articles],
                            verified=verified,
                            products=[p.title for p in new.products],
                            guide=new.guide.model_dump() if new.guide else None,
                        ),
                        created_at=now,
                        updated_at=now,
                        after_hours=new.after_hours,
                    )
                ).inserted_primary_key[0]
                if transcript:
                    conn.execute(
                        insert(messages), [{"ticket_id": ticket_id, **m} for m in transcript]
                    )
                self._event(conn, ticket_id, "created", "bot", now, {"reason": new.reason})
                ticket = self._load(conn, ticket_id)
                if self.mail is not None:
                    self.mail.ticket_created(conn, ticket.to_dict())
            self._after(self.on_created, ticket)
            return ticket, True
        except IntegrityError:
            # another process created the conversation's ticket at the same moment
            with self.engine.connect() as conn:
                existing = self._existing(conn, new)
                if existing is None:
                    raise
                return self._load(conn, existing), False

    def claim(self, ticket_id: int, agent: str) -> Ticket:
        """Give an open ticket to an agent; a ticket can never be claimed twice."""
        _check_id(ticket_id)
        now = _now()
        with self.engine.begin() as conn:
            self._claim_open(conn, ticket_id, agent, now)
            return self._load(conn, ticket_id)

    def _claim_open(self, conn, ticket_id: int, agent: str, now: dt.datetime) -> None:
        """Claim an open ticket inside the caller's transaction (a conflict if it is not open)."""
        claimed = conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id, tickets.c.status == "open")
            .values(status="claimed", claimed_by=agent, claimed_at=now, updated_at=now)
        ).rowcount
        if not claimed:
            self._explain_conflict(conn, ticket_id, "claim")
        self._event(conn, ticket_id, "claimed", agent, now, {})

    @staticmethod
    def _holder(conn, ticket_id: int):
        """The ticket's status and holder, read in the caller's transaction."""
        row = conn.execute(
            select(tickets.c.status, tickets.c.claimed_by).where(tickets.c.id == ticket_id)
        ).first()
        if row is None:
            raise TicketNotFound(f"Ticket {ticket_id} doesn't exist.")
        return row

    def take_over(self, ticket_id: int, agent: str) -> Ticket:
        """Give a claimed ticket to another agent (or claim an open one), recorded as an event
        the customer is shown; a ticket the agent already holds stays as it is."""
        _check_id(ticket_id)
        now = _now()
        with self.engine.begin() as conn:
            row = self._holder(conn, ticket_id)
            if row.status == "open":
                self._claim_open(conn, ticket_id, agent, now)
            elif row.status != "claimed":
                self._explain_conflict(conn, ticket_id, "take over")
            elif row.claimed_by != agent:
                taken = conn.execute(
                    update(tickets)
                    .where(
                        tickets.c.id == ticket_id,
                        tickets.c.status == "claimed",
                        tickets.c.claimed_by == row.claimed_by,
                    )
                    .values(claimed_by=agent, updated_at=now)
                ).rowcount
                if not taken:  # changed hands or closed since it was read
                    self._explain_conflict(conn, ticket_id, "take over")
                self._event(conn, ticket_id, "taken_over", agent, now, {"from": row.claimed_by})
            return self._load(conn, ticket_id)

    def claim_next(self, agent: str) -> Ticket | None:
        """Claim the highest-priority, oldest open ticket, or None when the queue is empty."""
        now = _now()
        with self.engine.begin() as conn:
            ticket_id = conn.execute(
                select(tickets.c.id)
                .where(tickets.c.status == "open")
                .order_by(tickets.c.priority.desc(), tickets.c.created_at, tickets.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)  # PostgreSQL; SQLite holds the write lock
            ).scalar()
            if ticket_id is None:
                return None
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(status="claimed", claimed_by=agent, claimed_at=now, updated_at=now)
            )
            self._event(conn, ticket_id, "claimed", agent, now, {"next": True})
            return self._load(conn, ticket_id)

    def add_message(self, ticket_id: int, message: NewMessage, actor: str | None = None) -> Ticket:
        """Append to an active ticket's transcript (secrets masked).

        An agent (sender 'agent', named by actor) writes only into a ticket they hold: writing
        into an open one claims it for them first; one another agent holds is a TicketConflict
        (take_over it first), so the customer always sees who is writing.
        """
        _check_id(ticket_id)
        now = _now()
        with self.engine.begin() as conn:
            row = self._holder(conn, ticket_id)
            status = row.status
            if status not in ACTIVE:
                raise TicketConflict(f"Ticket {ticket_id} is {status}; it takes no new messages.")
            if message.sender == "agent":
                if not actor:
                    raise ValueError("An agent's message needs the agent's name (actor).")
                if status == "claimed" and row.claimed_by != actor:
                    raise TicketConflict(
                        f"Ticket {ticket_id} is held by {row.claimed_by}; take it over before "
                        "writing to the customer."
                    )
                if status == "open":
                    self._claim_open(conn, ticket_id, actor, now)
            count = conn.execute(
                select(func.count()).select_from(messages).where(messages.c.ticket_id == ticket_id)
            ).scalar()
            if count >= MAX_MESSAGES:
                raise TicketConflict(f"Ticket {ticket_id} already has {MAX_MESSAGES} messages.")
            line = {"sender": message.sender, "text": mask_secrets(message.text)}
            conn.execute(insert(messages).values(ticket_id=ticket_id, at=message.at or now, **line))
            conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated_at=now))
            self._event(conn, ticket_id, "message_added", actor or message.sender, now, {})
            ticket = self._load(conn, ticket_id)
            if self.mail is not None:
                said = {**line, "at": message.at or now, "actor": actor or message.sender}
                self.mail.message_added(conn, ticket.to_dict(), said)
            return ticket

    def set_contact_email(self, ticket_id: int, email: str) -> Ticket:
        """The address an after-hours answer goes to, given in the chat: kept on an active
        ticket whose email the store did not verify, and noted in its transcript."""
        _check_id(ticket_id)
        email = Verified(email=email).email or ""
        now = _now()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(tickets.c.status, tickets.c.verified).where(tickets.c.id == ticket_id)
            ).first()
            if row is None:
                raise TicketNotFound(f"Ticket {ticket_id} doesn't exist.")
            if row.status not in ACTIVE:
                raise TicketConflict(f"Ticket {ticket_id} is {row.status}; it takes no email.")
            if (row.verified or {}).get("email"):
                return self._load(conn, ticket_id)  # what the store confirmed stays
            line = {
                "sender": "system",
                "text": f"The customer wants the answer by email at {email} (typed in the chat).",
            }
            conn.execute(insert(messages).values(ticket_id=ticket_id, at=now, **line))
            conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id)
                .values(customer_email=email, updated_at=now)
            )
            self._event(conn, ticket_id, "email_given", "customer", now, {"email": email})
            ticket = self._load(conn, ticket_id)
            if self.mail is not None:
                self.mail.message_added(conn, ticket.to_dict(), {**line, "at": now})
            return ticket

    def note(self, ticket_id: int, kind: str, actor: str, detail: dict) -> None:
        """Record an event in a ticket's history (e.g. the email the bot asked to confirm)."""
        _check_id(ticket_id)
        with self.engine.begin() as conn:
            self._event(conn, ticket_id, kind, actor, _now(), detail)

    def resolve(self, ticket_id: int, agent: str, note: str = "") -> Ticket:
        """Close a ticket with a resolution note."""
        return self._close(ticket_id, agent, note, "resolved")

    def return_to_bot(self, ticket_id: int, agent: str, note: str = "") -> Ticket:
        """Hand the conversation back to the bot."""
        return self._close(ticket_id, agent, note, "returned_to_bot")

    def _close(self, ticket_id: int, agent: str, note: str, status: str) -> Ticket:
        _check_id(ticket_id)
        now = _now()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(tickets)
                .where(
                    tickets.c.id == ticket_id,
                    or_(
                        tickets.c.status == "open",
                        and_(tickets.c.status == "claimed", tickets.c.claimed_by == agent),
                    ),
                )
                .values(
                    status=status,
                    resolution_note=note[:MAX_TEXT],
                    resolved_at=now,
                    updated_at=now,
                    claimed_by=func.coalesce(tickets.c.claimed_by, agent),
                    claimed_at=func.coalesce(tickets.c.claimed_at, now),
                )
            ).rowcount
            if not done:
                self._explain_conflict(
                    conn, ticket_id, "resolve" if status == "resolved" else "return"
                )
            self._event(conn, ticket_id, status, agent, now, {"note": note[:MAX_TEXT]})
            ticket = self._load(conn, ticket_id)
        self._after(self.on_closed, ticket)
        return ticket

    def rate(self, conversation_id: str, score: int, comment: str | None = None) -> Ticket:
        """Keep the customer's rating of the conversation's most recent resolved ticket.

        One rating per ticket, the first one: a second is a TicketConflict (a retry included),
        so what a report counts is what the customer said when asked. No resolved ticket is a
        TicketNotFound; a score outside 1-5 or a comment over MAX_CSAT_COMMENT characters is a
        pydantic ValidationError (a ValueError). The comment is stored with secrets masked.
        """
        rating = Rating(score=score, comment=comment or "")
        now = _now()
        with self.engine.begin() as conn:
            ticket_id = conn.execute(
                select(tickets.c.id)
                .where(tickets.c.conversation_id == conversation_id, tickets.c.status == "resolved")
                .order_by(tickets.c.id.desc())
                .limit(1)
            ).scalar()
            if ticket_id is None:
                raise TicketNotFound(
                    f"Conversation '{conversation_id}' has no resolved ticket to rate."
                )
            # Only an unrated ticket: of two ratings at once (PostgreSQL rechecks the row after
            # the first commits; SQLite has one writer), exactly one is kept.
            rated = conn.execute(
                update(tickets)
                .where(tickets.c.id == ticket_id, tickets.c.csat_score.is_(None))
                .values(
                    csat_score=rating.score,
                    csat_comment=mask_secrets(rating.comment) if rating.comment else None,
                    csat_at=now,
                    updated_at=now,
                )
            ).rowcount
            if not rated:
                raise TicketConflict(
                    f"Ticket {ticket_id} is already rated; a ticket takes one rating."
                )
            self._event(conn, ticket_id, "rated", "customer", now, {"score": rating.score})
            return self._load(conn, ticket_id)

    # -- reads --------------------------------------------------------------------------------

    def get(self, ticket_id: int) -> Ticket:
        """One ticket with its transcript and history."""
        _check_id(ticket_id)
        with self.engine.connect() as conn:
            return self._load(conn, ticket_id)

    def active_for_conversation(self, conversation_id: str) -> Ticket | None:
        """The open or claimed ticket of a conversation, if a human owns it now."""
        with self.engine.connect() as conn:
            ticket_id = conn.execute(
                select(tickets.c.id).where(
                    tickets.c.conversation_id == conversation_id, tickets.c.status.in_(ACTIVE)
                )
            ).scalar()
            return self._load(conn, ticket_id) if ticket_id is not None else None

    def for_conversation(self, conversation_id: str, limit: int = 20) -> list[Ticket]:
        """A conversation's newest tickets, oldest first, with transcripts and history."""

        def newest(conn) -> list[Ticket]:
            ids = conn.execute(
                select(tickets.c.id)
                .where(tickets.c.conversation_id == conversation_id)
                .order_by(tickets.c.id.desc())
                .limit(limit)
            ).scalars()
            return [self._load(conn, ticket_id) for ticket_id in reversed(list(ids))]

        return read(self.reader, newest)

    def position(self, ticket_id: int) -> int | None:
        """1-based place of an open ticket in the queue; None once it is claimed or closed."""
        _check_id(ticket_id)
        with self.engine.connect() as conn:
            row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
            if row is None:
                raise TicketNotFound(f"Ticket {ticket_id} doesn't exist.")
            if row.status != "open":
                return None
            ahead = conn.execute(
                select(func.count())
                .select_from(tickets)
                .where(
                    tickets.c.status == "open",
                    or_(
                        tickets.c.priority > row.priority,
                        and_(
                            tickets.c.priority == row.priority,
                            tickets.c.created_at < row.created_at,
                        ),
                        and_(
                            tickets.c.priority == row.priority,
                            tickets.c.created_at == row.created_at,
                            tickets.c.id < row.id,
                        ),
                    ),
                )
            ).scalar()
            return int(ahead) + 1

    def list(
        self,
        status: Status | None = None,
        reason: Reason | None = None,
        since: dt.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        search: str | None = None,
    ) -> tuple[list[Ticket], int]:
        """A page of tickets (without transcripts) and the total that match the filters.

        search: words that must each appear (any case) in the summary, the transcript, the
        customer's email or the order number.
        """
        offset = min(offset, MAX_OFFSET)  # past the last possible row the page is empty either way
        conditions = _filters(reason, search)
        if status:
            conditions.append(tickets.c.status == status)
        if since:
            conditions.append(tickets.c.updated_at >= since)
        order = (
            [tickets.c.priority.desc(), tickets.c.created_at, tickets.c.id]
            if status == "open"
            else [tickets.c.updated_at.desc(), tickets.c.id.desc()]
        )
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(tickets).where(*conditions)
            ).scalar()
            rows = conn.execute(
                select(tickets).where(*conditions).order_by(*order).limit(limit).offset(offset)
            ).all()
        return [self._ticket(row) for row in rows], int(total)

    def counts(self, reason: Reason | None = None, search: str | None = None) -> dict[str, int]:
        """Number of tickets in each status (every status present, zero included).

        reason and search narrow the count as they narrow list().
        """
        with self.engine.connect() as conn:
            found = dict(
                conn.execute(
                    select(tickets.c.status, func.count())
                    .where(*_filters(reason, search))
                    .group_by(tickets.c.status)
                ).all()
            )
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def export(self, since: dt.datetime | None = None, batch: int = 200) -> Iterator[Ticket]:
        """Every ticket updated since a time, oldest first, with transcripts: for a helpdesk."""
        last_id = 0
        while True:
            with self.engine.connect() as conn:
                query = select(tickets.c.id).where(tickets.c.id > last_id)
                if since:
                    query = query.where(tickets.c.updated_at >= since)
                ids = conn.execute(query.order_by(tickets.c.id).limit(batch)).scalars().all()
                loaded = [self._load(conn, ticket_id) for ticket_id in ids]
            yield from loaded
            if len(ids) < batch:
                return
            last_id = ids[-1]

    # -- helpers ------------------------------------------------------------------------------

    def _existing(self, conn, new: NewTicket) -> int | None:
        if new.idempotency_key:
            found = conn.execute(
                select(tickets.c.id).where(tickets.c.idempotency_key == new.idempotency_key)
            ).scalar()
            if found is not None:
                return found
        return conn.execute(
            select(tickets.c.id).where(
                tickets.c.conversation_id == new.conversation_id, tickets.c.status.in_(ACTIVE)
            )
        ).scalar()

    def _repeat_bonus(self, conn, new: NewTicket, email: str | None, now: dt.datetime) -> int:
        """Customers who already needed a human recently go further up the queue."""
        same_customer = [tickets.c.conversation_id == new.conversation_id]
        if email:
            same_customer.append(tickets.c.customer_email == email)
        earlier = conn.execute(
            select(func.count())
            .select_from(tickets)
            .where(or_(*same_customer), tickets.c.created_at >= now - REPEAT_WINDOW)
        ).scalar()
        return REPEAT_CONTACT_BONUS if earlier else 0

    def _explain_conflict(self, conn, ticket_id: int, action: str) -> None:
        row = conn.execute(
            select(tickets.c.status, tickets.c.claimed_by).where(tickets.c.id == ticket_id)
        ).first()
        if row is None:
            raise TicketNotFound(f"Ticket {ticket_id} doesn't exist.")
        owner = f" by {row.claimed_by}" if row.claimed_by else ""
        raise TicketConflict(f"Cannot {action} ticket {ticket_id}: it is {row.status}{owner}.")

    def _event(
        self, conn, ticket_id: int, kind: str, actor: str, at: dt.datetime, detail: dict
    ) -> None:
        conn.execute(
            insert(events).values(ticket_id=ticket_id, kind=kind, actor=actor, at=at, detail=detail)
        )

    def _load(self, conn, ticket_id: int) -> Ticket:
        row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
        if row is None:
            raise TicketNotFound(f"Ticket {ticket_id} doesn't exist.")
        ticket = self._ticket(row)
        ticket.transcript = [
            {"sender": m.sender, "text": m.text, "at": _utc(m.at)}
            for m in conn.execute(
                select(messages).where(messages.c.ticket_id == ticket_id).order_by(messages.c.id)
            )
        ]
        ticket.events = [
            {"kind": e.kind, "actor": e.actor, "at": _utc(e.at), "detail": e.detail}
            for e in conn.execute(
                select(events).where(events.c.ticket_id == ticket_id).order_by(events.c.id)
            )
        ]
        return ticket

    @staticmethod
    def _ticket(row) -> Ticket:
        return Ticket(
            id=row.id,
            conversation_id=row.conversation_id,
            status=row.status,
            reason=row.reason,
            priority=row.priority,
            customer_email=row.customer_email,
            order_number=row.order_number,
            intents=row.intents,
            articles=row.articles,
            summary=row.summary,
            verified=row.verified,
            claimed_by=row.claimed_by,
            resolution_note=row.resolution_note,
            created_at=_utc(row.created_at),
            updated_at=_utc(row.updated_at),
            claimed_at=_utc(row.claimed_at),
            resolved_at=_utc(row.resolved_at),
            csat_score=row.csat_score,
            csat_comment=row.csat_comment,
            csat_at=_utc(row.csat_at),
            after_hours=bool(row.after_hours),
        )
