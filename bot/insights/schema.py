"""Tables of the insights record (in the queue's database); alembic migration 0004 creates them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.handoff.schema import metadata

KINDS = ("message", "button", "feedback")

# One row per customer message, with what the bot did about it (read from Rasa's tracker store).
turns = Table(
    "insight_turns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(128), nullable=False),
    # the tracker store's row id of the customer's message: recording twice changes nothing
    Column("event_id", BigInteger, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("test", Boolean, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text),  # masked; NULL when insights_keep_text is off
    Column("intent", String(64)),
    Column("confidence", Float),
    Column("outcome", String(32)),  # article, clarify, fallback, flow, handoff, handoff_offer, ...
    Column("article_id", String(255)),
    Column("section", String(255)),
    Column("score", Float),
    Column("top_article", String(255)),  # the best candidate when the bot could not answer
    Column("flow", String(32)),
    Column("flow_result", String(32)),  # found, not_found, sent, rate_limited, failed
    Column("offer_reason", String(32)),  # a person was offered, and why
    Column("handoff_reason", String(32)),  # a ticket was opened, and why
    Column("feedback", String(8)),  # up / down, given to this answer afterwards
    # the bot said we do not sell what was asked (a catalogue gap; migration 0010)
    Column("not_sold", Boolean),
    UniqueConstraint("conversation_id", "event_id", name="insight_turns_once"),
    Index("insight_turns_by_time", "test", "at"),
    Index("insight_turns_by_conversation", "conversation_id", "id"),
)

# How far the tracker store has been read.
cursor = Table(
    "insight_cursor",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
