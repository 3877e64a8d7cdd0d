"""What visitors of the help centre tell us: article votes, and searches that found nothing good.

"Was this helpful?" keeps one vote per visitor and article (a second vote replaces the first),
with no sign-in: a visitor is a random id in a cookie, kept here only as a keyed hash, as is the
address a vote came from (for the rate limit). A search with no good result is kept (masked) for
the content-gap report, at most SEARCHES_PER_HOUR per visitor so one visitor cannot fill it.
The insights report reads `vote_counts` and `failed_searches`; the web app writes the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.help.schema import REASONS, searches, votes
from bot.privacy import mask_secrets

VOTES_PER_HOUR = 30  # from one address: enough for a household, too few to stuff the counts
SEARCHES_PER_HOUR = 60  # recorded per visitor; more are answered but not recorded
COMMENT_CHARS = 500


class RateLimited(Exception):
    """Too many votes from one address within the hour."""


@dataclass(frozen=True)
class Vote:
    """One visitor's vote on one article."""

    article_id: str
    helpful: bool
    reason: str | None = None
    comment: str | None = None


class HelpRecord:
    """Votes and failed searches in the queue's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, secret: str) -> None:
        self.engine = engine
        self._key = secret.encode()

    def _hash(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()

    def vote(self, vote: Vote, visitor: str, client: str, now: dt.datetime | None = None) -> bool:
        """Record (or change) a visitor's vote; True when it is their first on this article.

        Raises RateLimited when the address voted VOTES_PER_HOUR times in the last hour, and
        ValueError for a reason that is not one of REASONS."""
        if vote.reason is not None and vote.reason not in REASONS:
            raise ValueError(f"reason must be one of {', '.join(REASONS)}, not {vote.reason!r}")
        now = now or dt.datetime.now(dt.UTC)
        who, where = self._hash("visitor", visitor), self._hash("client", client)
        comment = mask_secrets(vote.comment.strip())[:COMMENT_CHARS] if vote.comment else None
        values = {
            "helpful": vote.helpful,
            "reason": vote.reason if not vote.helpful else None,
            "comment": (comment or None) if not vote.helpful else None,
            "at": now,
            "client": where,
        }
        with self.engine.begin() as conn:
            recent = conn.execute(
                select(func.count())
                .select_from(votes)
                .where(and_(votes.c.client == where, votes.c.at > now - dt.timedelta(hours=1)))
            ).scalar_one()
            if recent >= VOTES_PER_HOUR:
                raise RateLimited
            changed = conn.execute(
                update(votes)
                .where(and_(votes.c.article_id == vote.article_id, votes.c.visitor == who))
                .values(**values)
            ).rowcount
            if changed:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(votes).values(article_id=vote.article_id, visitor=who, **values)
                )
        except IntegrityError:  # the same visitor's other tab voted first: theirs is replaced
            with self.engine.begin() as conn:
                conn.execute(
                    update(votes)
                    .where(and_(votes.c.article_id == vote.article_id, votes.c.visitor == who))
                    .values(**values)
                )
            return False
        return True

    def visitor_vote(self, article_id: str, visitor: str) -> Vote | None:
        """The vote a visitor gave an article, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(votes.c.helpful, votes.c.reason, votes.c.comment).where(
                    and_(
                        votes.c.article_id == article_id,
                        votes.c.visitor == self._hash("visitor", visitor),
                    )
                )
            ).first()
        return Vote(article_id, row.helpful, row.reason, row.comment) if row else None

    def no_result(
        self,
        visitor: str,
        query: str,
        best: tuple[str, float] | None,
        now: dt.datetime | None = None,
    ) -> bool:
        """Keep a search that found nothing good; False when this visitor's hourly share is used."""
        now = now or dt.datetime.now(dt.UTC)
        who = self._hash("visitor", visitor)
        with self.engine.begin() as conn:
            recent = conn.execute(
                select(func.count())
                .select_from(searches)
                .where(and_(searches.c.visitor == who, searches.c.at > now - dt.timedelta(hours=1)))
            ).scalar_one()
            if recent >= SEARCHES_PER_HOUR:
                return False
            conn.execute(
                insert(searches).values(
                    visitor=who,
                    query=mask_secrets(query)[:500],
                    best_article=best[0] if best else None,
                    best_score=round(best[1], 4) if best else None,
                    at=now,
                )
            )
        return True


def vote_counts(engine: Engine, since: dt.datetime, until: dt.datetime) -> dict[str, dict]:
    """Per article: {"yes": n, "no": n} of the votes given (or last changed) in the period."""
    query = (
        select(votes.c.article_id, votes.c.helpful, func.count())
        .where(and_(votes.c.at >= since, votes.c.at < until))
        .group_by(votes.c.article_id, votes.c.helpful)
    )
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for article_id, helpful, count in conn.execute(query):
            out.setdefault(article_id, {"yes": 0, "no": 0})["yes" if helpful else "no"] = count
    return out


def failed_searches(engine: Engine, since: dt.datetime, until: dt.datetime) -> list[dict]:
    """Searches with no good result in the period, oldest first, as the gap report reads
    questions (bot.insights.gaps.Question): the visitor stands for the conversation."""
    query = (
        select(searches.c.visitor, searches.c.query, searches.c.at)
        .where(and_(searches.c.at >= since, searches.c.at < until))
        .order_by(searches.c.at, searches.c.id)
    )
    with engine.connect() as conn:
        return [
            {
                "conversation_id": f"help:{row.visitor[:16]}",
                "text": row.query,
                "at": _utc(row.at),
                "kind": "help_search",
            }
            for row in conn.execute(query)
        ]


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite returns naive times: they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
