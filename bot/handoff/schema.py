"""Tables of the handoff queue (SQLAlchemy Core); alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)

STATUSES = ("open", "claimed", "resolved", "returned_to_bot")
ACTIVE = ("open", "claimed")
REASONS = ("customer_request", "complaint", "low_confidence", "negative_feedback", "flow_failure")
SENDERS = ("customer", "bot", "agent", "system")
CSAT_SCORES = (1, 2, 3, 4, 5)  # 1 very bad ... 5 very good

metadata = MetaData()

tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(128), nullable=False, index=True),
    Column("idempotency_key", String(128), unique=True),
    Column("status", String(20), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("customer_email", String(254)),
    Column("order_number", String(32)),
    # What the bot confirmed with the store ({"email": ..., "order_number": ...}), if anything.
    Column("verified", JSON),
    Column("intents", JSON, nullable=False),
    Column("articles", JSON, nullable=False),
    Column("summary", Text, nullable=False),
    Column("claimed_by", String(64)),
    Column("resolution_note", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("claimed_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    # The customer's rating of a resolved ticket (one per ticket), its comment (secrets masked)
    # and when it came; NULL until the customer rates. Migration 0003 adds them.
    Column(
        "csat_score",
        Integer,
        CheckConstraint("csat_score BETWEEN 1 AND 5", name="tickets_csat_score_range"),
    ),
    Column("csat_comment", Text),
    Column("csat_at", DateTime(timezone=True)),
    # Opened outside business hours or with nobody signed in: answered by email (migration 0007).
    Column("after_hours", Boolean, nullable=False, server_default=false()),
    Index("tickets_queue_order", "status", "priority", "created_at"),
    Index(
        "one_active_ticket_per_conversation",
        "conversation_id",
        unique=True,
        sqlite_where=text("status IN ('open', 'claimed')"),
        postgresql_where=text("status IN ('open', 'claimed')"),
    ),
)

messages = Table(
    "ticket_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("sender", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", DateTime(timezone=True)),  # when it was said; NULL when nobody recorded it
)

events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", JSON, nullable=False),
)
