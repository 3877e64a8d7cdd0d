"""Insights for one deployment: record new turns, build the report and its content gaps.

The web app (/insights) and the CLI (`bot insights ...`) both go through `Insights`, so the page,
its JSON twin and the report command show the same figures.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from bot.catalog.alerts import AlertStore
from bot.dialogue.answers import Gate
from bot.help.record import failed_searches, vote_counts
from bot.insights.recorder import Recorded, Recorder
from bot.insights.report import build_report, failed_questions, not_sold_questions
from bot.kb.search import KnowledgeBase
from bot.settings import Settings

DEFAULT_DAYS = 7


def period(
    since: dt.date | None, until: dt.date | None, days: int = DEFAULT_DAYS
) -> tuple[dt.datetime, dt.datetime]:
    """[since, until) in UTC: whole days, the last `days` days up to today by default."""
    today = dt.datetime.now(dt.UTC).date()
    end = (until or today) + dt.timedelta(days=1)
    start = since or end - dt.timedelta(days=days)
    if start >= end:
        raise ValueError(f"since ({start}) must be on or before until ({end - dt.timedelta(1)})")
    return (
        dt.datetime.combine(start, dt.time(), dt.UTC),
        dt.datetime.combine(end, dt.time(), dt.UTC),
    )


class Insights:
    """The insights of the deployment the settings describe."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        knowledge_base: Callable[[], KnowledgeBase | None] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._kb = knowledge_base or (lambda: None)
        self._recorder: Recorder | None = None
        self._lock = threading.Lock()
        self._gaps_cache: tuple[tuple, list] | None = None
        self._catalog_cache: tuple[tuple, list] | None = None

    @property
    def recorder(self) -> Recorder:
        """Reads Rasa's tracker store (opened on first use)."""
        if self._recorder is None:
            self._recorder = Recorder(
                self.engine,
                self.settings.conversations_url,
                test_prefixes=self.settings.insights_test_prefixes,
                keep_text=self.settings.insights_keep_text,
            )
        return self._recorder

    def record(self) -> Recorded:
        """Record the turns Rasa stored since the last time (one pass at a time per process)."""
        with self._lock:
            return self.recorder.record()

    def purge(self, now: dt.datetime | None = None, days: int | None = None) -> int:
        """Delete recorded turns older than the retention period; returns how many."""
        keep = days if days is not None else self.settings.insights_retention_days
        cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep)
        return self.recorder.purge(cutoff)

    def report(
        self,
        since: dt.datetime,
        until: dt.datetime,
        *,
        include_test: bool = False,
        with_gaps: bool = True,
        now: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """The report of conversations that began in [since, until), with content gaps."""
        kb = self._kb()
        articles = kb.reader.articles() if kb is not None else []
        data = build_report(
            self.engine,
            since=since,
            until=until,
            now=now,
            idle_minutes=self.settings.insights_idle_minutes,
            test_prefixes=self.settings.insights_test_prefixes,
            include_test=include_test,
            articles=articles,
        )
        _add_page_votes(data["articles"], vote_counts(self.engine, since, until))
        data["text_kept"] = self.settings.insights_keep_text
        data["gaps"] = (
            [gap_dict(g) for g in self.gaps(since, until, include_test=include_test)]
            if with_gaps
            else []
        )
        alerts = AlertStore(self.engine)  # what customers wait for: demand for restocking
        data["restock_alerts"] = {"counts": alerts.counts(), "waiting": alerts.waiting(10)}
        data["catalog_gaps"] = (
            [g.to_dict() for g in self.catalog_gaps(since, until, include_test=include_test)]
            if with_gaps
            else []
        )
        return data

    def catalog_gaps(
        self, since: dt.datetime, until: dt.datetime, *, include_test: bool = False
    ) -> list:
        """Groups of requests for products we do not sell, the most asked first."""
        kb = self._kb()
        if kb is None or not self.settings.insights_keep_text:
            return []
        from bot.insights.gaps import Question, find_catalog_gaps

        asked = not_sold_questions(self.engine, since=since, until=until, include_test=include_test)
        key = (since, until, include_test, len(asked), asked[-1]["at"] if asked else None)
        if self._catalog_cache is not None and self._catalog_cache[0] == key:
            return self._catalog_cache[1]
        found = find_catalog_gaps([Question(**q) for q in asked], kb.embedder)
        self._catalog_cache = (key, found)
        return found

    def gaps(self, since: dt.datetime, until: dt.datetime, *, include_test: bool = False) -> list:
        """Groups of questions the bot failed on, the most asked first."""
        kb = self._kb()
        if kb is None or not self.settings.insights_keep_text:
            return []
        from bot.insights.gaps import Question, find_gaps

        failed = failed_questions(self.engine, since=since, until=until, include_test=include_test)
        # searches of the help centre that found nothing good are gaps too
        failed = sorted(failed + failed_searches(self.engine, since, until), key=lambda q: q["at"])
        kb.reload_if_stale(force=True)  # "covered" is judged by the newest index
        # grouping embeds every question: reuse the last result while nothing it depends on moved
        key = (
            since,
            until,
            include_test,
            kb.reader.version,
            len(failed),
            failed[-1]["at"] if failed else None,
        )
        if self._gaps_cache is not None and self._gaps_cache[0] == key:
            return self._gaps_cache[1]
        questions = [Question(**q) for q in failed]
        config = self.settings
        gate = Gate(config.answer_threshold, config.clarify_threshold, config.similarity_threshold)
        found = find_gaps(questions, kb, gate, config.nlu_weight)
        self._gaps_cache = (key, found)
        return found

    def draft(self, key: str, since: dt.datetime, until: dt.datetime) -> str | None:
        """A Markdown article draft for one gap, or None if no gap has that key."""
        from bot.insights.gaps import draft

        gap = next((g for g in self.gaps(since, until) if g.key == key), None)
        return draft(gap, dt.datetime.now(dt.UTC).date()) if gap else None

    def close(self) -> None:
        """Release the tracker store's connections."""
        if self._recorder is not None:
            self._recorder.close()


def gap_dict(gap: Any) -> dict[str, Any]:
    """A gap as JSON."""
    return gap.to_dict()


def _add_page_votes(articles: list[dict], votes: dict[str, dict[str, int]]) -> None:
    """Each article's "Was this helpful?" votes in the help centre, beside the bot's 👍/👎."""
    for article in articles:
        counts = votes.get(article["id"], {})
        article["page_yes"] = counts.get("yes", 0)
        article["page_no"] = counts.get("no", 0)
