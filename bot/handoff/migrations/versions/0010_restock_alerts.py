"""Back-in-stock alerts (a customer's email per variant, confirmed by a link), and catalogue gaps
marked on recorded turns ("we don't sell that").

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    """Create restock_alerts; add insight_turns.not_sold."""
    op.create_table(
        "restock_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("variant_id", sa.String(128), nullable=False),
        sa.Column("product_title", sa.Text, nullable=False),
        sa.Column("variant_title", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("conversation_id", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_index("restock_alerts_due", "restock_alerts", ["status", "variant_id"])
    op.create_index("restock_alerts_by_email", "restock_alerts", ["email"])
    op.create_index(
        "one_live_restock_alert",
        "restock_alerts",
        ["email", "variant_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('pending', 'confirmed')"),
        postgresql_where=sa.text("status IN ('pending', 'confirmed')"),
    )
    op.add_column("insight_turns", sa.Column("not_sold", sa.Boolean))


def downgrade() -> None:
    """Drop restock_alerts and insight_turns.not_sold."""
    with op.batch_alter_table("insight_turns") as batch:
        batch.drop_column("not_sold")
    op.drop_index("one_live_restock_alert", "restock_alerts")
    op.drop_index("restock_alerts_by_email", "restock_alerts")
    op.drop_index("restock_alerts_due", "restock_alerts")
    op.drop_table("restock_alerts")
