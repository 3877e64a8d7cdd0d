"""Customer satisfaction: a resolved ticket keeps the customer's 1-5 rating and comment.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Add tickets.csat_score (1-5, checked by the database), csat_comment and csat_at."""
    # A column constraint goes inside ADD COLUMN, which SQLite accepts without copying the table.
    op.add_column(
        "tickets",
        sa.Column(
            "csat_score",
            sa.Integer,
            sa.CheckConstraint("csat_score BETWEEN 1 AND 5", name="tickets_csat_score_range"),
        ),
    )
    op.add_column("tickets", sa.Column("csat_comment", sa.Text))
    op.add_column("tickets", sa.Column("csat_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    """Drop the rating columns (and their ratings); the 'rated' events stay in the history."""
    op.drop_column("tickets", "csat_at")
    op.drop_column("tickets", "csat_comment")
    op.drop_column("tickets", "csat_score")
