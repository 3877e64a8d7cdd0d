"""Learned phrasings: questions a person confirmed the place of, and their version counter.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    """Create learned_phrasings and learned_version (with its one row)."""
    op.create_table(
        "learned_phrasings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("norm_hash", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("batch", sa.String(32), nullable=False),
        sa.Column("confirmed_by", sa.String(64), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_by", sa.String(64)),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        sa.Column("exported_at", sa.DateTime(timezone=True)),
        sa.Column("draft", sa.Text),
    )
    op.create_index("learned_phrasings_by_batch", "learned_phrasings", ["batch"])
    op.create_index(
        "one_active_learned_phrasing",
        "learned_phrasings",
        ["norm_hash"],
        unique=True,
        sqlite_where=sa.text("removed_at IS NULL"),
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    table = op.create_table(
        "learned_version",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.bulk_insert(table, [{"name": "phrasings", "version": 0}])


def downgrade() -> None:
    """Drop the learned phrasings."""
    op.drop_table("learned_version")
    op.drop_index("one_active_learned_phrasing", "learned_phrasings")
    op.drop_index("learned_phrasings_by_batch", "learned_phrasings")
    op.drop_table("learned_phrasings")
