"""Tickets, their messages and their event history.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create the queue's tables."""
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("customer_email", sa.String(254)),
        sa.Column("order_number", sa.String(32)),
        sa.Column("intents", sa.JSON, nullable=False),
        sa.Column("articles", sa.JSON, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("resolution_note", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_tickets_conversation_id", "tickets", ["conversation_id"])
    op.create_index("tickets_queue_order", "tickets", ["status", "priority", "created_at"])
    op.create_index(
        "one_active_ticket_per_conversation",
        "tickets",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('open', 'claimed')"),
        postgresql_where=sa.text("status IN ('open', 'claimed')"),
    )
    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ticket_messages_ticket_id", "ticket_messages", ["ticket_id"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])


def downgrade() -> None:
    """Drop the queue's tables."""
    op.drop_table("ticket_events")
    op.drop_table("ticket_messages")
    op.drop_table("tickets")
