"""Tables of the help centre's record, in the queue's database (alembic migration 0008)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from bot.handoff.schema import metadata

REASONS = ("unclear", "incomplete", "wrong", "not_my_question")

# "Was this helpful?" on an article page: one row per visitor and article (a second vote
# changes the first). Visitors and addresses are kept as salted hashes only.
votes = Table(
    "help_votes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("article_id", String(255), nullable=False),
    Column("visitor", String(64), nullable=False),
    Column("client", String(64), nullable=False),  # for the rate limit
    Column("helpful", Boolean, nullable=False),
    Column("reason", String(32)),  # one of REASONS, for a "no"
    Column("comment", Text),  # masked, at most COMMENT_CHARS
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("article_id", "visitor", name="help_votes_once"),
    Index("help_votes_by_client", "client", "at"),
    Index("help_votes_by_time", "at"),
)

# A help-centre search with no good result: the content-gap report groups these with the
# questions the bot could not answer.
searches = Table(
    "help_searches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visitor", String(64), nullable=False),
    Column("query", Text, nullable=False),  # masked
    Column("best_article", String(255)),
    Column("best_score", Float),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("help_searches_by_time", "at"),
)
