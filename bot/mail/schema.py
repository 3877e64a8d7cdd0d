"""The mail outbox table (SQLAlchemy Core); migration 0007 creates it in the handoff database."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, MetaData, String, Table, Text

STATUSES = ("queued", "sending", "sent", "failed")
KINDS = ("handoff", "handoff_followup", "agent_notice", "answer", "password_reset", "other")

metadata = MetaData()

outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # fixed when the email is queued: a resend after a crash carries the same one, so the
    # receiving helpdesk recognises it
    Column("message_id", String(255), nullable=False, unique=True),
    # what the email is about ("ticket:12:created"); queuing the same key twice queues one email
    Column("dedupe_key", String(160), unique=True),
    Column("kind", String(32), nullable=False),
    Column("ticket_id", Integer),
    Column("recipients", JSON, nullable=False),
    Column("subject", Text, nullable=False),
    Column("raw", Text, nullable=False),  # the whole RFC 5322 message, as sent
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True)),  # while a worker is sending it
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("mail_outbox_due", "status", "next_attempt_at"),
    Index("mail_outbox_by_ticket", "ticket_id"),
)
