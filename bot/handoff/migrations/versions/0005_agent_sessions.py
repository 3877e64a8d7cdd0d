"""Server-side inbox sessions (only a hash of each session id) and failed sign-ins per address.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    """Create agent_sessions and sign_in_failures."""
    op.create_table(
        "agent_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("credential", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_agent_sessions_agent", "agent_sessions", ["agent"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("sign_in_failures_by_client", "sign_in_failures", ["client", "at"])


def downgrade() -> None:
    """Drop the session tables."""
    op.drop_index("sign_in_failures_by_client", "sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_index("ix_agent_sessions_agent", "agent_sessions")
    op.drop_table("agent_sessions")
