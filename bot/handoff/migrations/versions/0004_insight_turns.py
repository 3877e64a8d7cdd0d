"""The insights record: one row per customer message, and how far the tracker store was read.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Create insight_turns and insight_cursor."""
    op.create_table(
        "insight_turns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("test", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("intent", sa.String(64)),
        sa.Column("confidence", sa.Float),
        sa.Column("outcome", sa.String(32)),
        sa.Column("article_id", sa.String(255)),
        sa.Column("section", sa.String(255)),
        sa.Column("score", sa.Float),
        sa.Column("top_article", sa.String(255)),
        sa.Column("flow", sa.String(32)),
        sa.Column("flow_result", sa.String(32)),
        sa.Column("offer_reason", sa.String(32)),
        sa.Column("handoff_reason", sa.String(32)),
        sa.Column("feedback", sa.String(8)),
        sa.UniqueConstraint("conversation_id", "event_id", name="insight_turns_once"),
    )
    op.create_index("insight_turns_by_time", "insight_turns", ["test", "at"])
    op.create_index("insight_turns_by_conversation", "insight_turns", ["conversation_id", "id"])
    op.create_table(
        "insight_cursor",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("last_event_id", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the insights tables."""
    op.drop_table("insight_cursor")
    op.drop_index("insight_turns_by_conversation", "insight_turns")
    op.drop_index("insight_turns_by_time", "insight_turns")
    op.drop_table("insight_turns")
