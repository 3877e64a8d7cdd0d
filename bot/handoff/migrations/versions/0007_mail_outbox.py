"""The mail outbox (every email the bot sends, with its tries), and tickets marked after hours.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    """Create mail_outbox; add tickets.after_hours."""
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("dedupe_key", sa.String(160), unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ticket_id", sa.Integer),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("mail_outbox_due", "mail_outbox", ["status", "next_attempt_at"])
    op.create_index("mail_outbox_by_ticket", "mail_outbox", ["ticket_id"])
    op.add_column(
        "tickets", sa.Column("after_hours", sa.Boolean, nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    """Drop mail_outbox and tickets.after_hours."""
    op.drop_column("tickets", "after_hours")
    op.drop_index("mail_outbox_by_ticket", "mail_outbox")
    op.drop_index("mail_outbox_due", "mail_outbox")
    op.drop_table("mail_outbox")
