"""Rate-limit counters shared by every web worker (bot.ratelimit), when not kept in Redis.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    """Create rate_limits: one counter per hashed key and window."""
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("slot", sa.BigInteger, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_rate_limits_expires", "rate_limits", ["expires"])


def downgrade() -> None:
    """Drop rate_limits."""
    op.drop_index("ix_rate_limits_expires", "rate_limits")
    op.drop_table("rate_limits")
