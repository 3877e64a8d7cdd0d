"""The help centre's record: article votes ("Was this helpful?") and searches with no good result.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    """Create help_votes and help_searches."""
    op.create_table(
        "help_votes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(255), nullable=False),
        sa.Column("visitor", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("comment", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("article_id", "visitor", name="help_votes_once"),
    )
    op.create_index("help_votes_by_client", "help_votes", ["client", "at"])
    op.create_index("help_votes_by_time", "help_votes", ["at"])
    op.create_table(
        "help_searches",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("visitor", sa.String(64), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("best_article", sa.String(255)),
        sa.Column("best_score", sa.Float),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("help_searches_by_time", "help_searches", ["at"])


def downgrade() -> None:
    """Drop the help centre's tables."""
    op.drop_index("help_searches_by_time", "help_searches")
    op.drop_table("help_searches")
    op.drop_index("help_votes_by_time", "help_votes")
    op.drop_index("help_votes_by_client", "help_votes")
    op.drop_table("help_votes")
