"""Transcript lines may have no recorded time; tickets keep what the bot verified.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Make ticket_messages.at nullable and add tickets.verified."""
    # batch mode: SQLite cannot drop NOT NULL in place, so alembic copies the table there
    with op.batch_alter_table("ticket_messages") as batch:
        batch.alter_column("at", existing_type=sa.DateTime(timezone=True), nullable=True)
    op.add_column("tickets", sa.Column("verified", sa.JSON))


def downgrade() -> None:
    """Drop tickets.verified; lines without a time get their ticket's creation time."""
    op.drop_column("tickets", "verified")
    op.execute(
        "UPDATE ticket_messages SET at = (SELECT created_at FROM tickets"
        " WHERE tickets.id = ticket_messages.ticket_id) WHERE at IS NULL"
    )
    with op.batch_alter_table("ticket_messages") as batch:
        batch.alter_column("at", existing_type=sa.DateTime(timezone=True), nullable=False)
