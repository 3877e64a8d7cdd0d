"""The review queue: questions the bot missed, grouped by meaning, for a person to place.

It lists what the content-gap report lists (bot.insights.gaps: questions the bot could not
answer, answered with a choice of articles, or answered and got a 👎), grouped the same way and
most asked first, leaving out the questions a person has already confirmed (bot.kb.learned).
Each group carries the router's top suggestions for its questions, and the choices a person can
confirm: any article, a flow, a person (handoff), "not something we answer", or a new article
(with a draft). One `build` makes the dict that /review and /review.json both show.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import Engine

from bot.dialogue.answers import Gate
from bot.dialogue.flows import FLOWS
from bot.insights.report import failed_questions
from bot.kb.learned import (
    HANDOFF,
    NEW_ARTICLE,
    OUT_OF_SCOPE,
    Learned,
    LearnedStore,
    target_of,
)
from bot.kb.router import normalised
from bot.kb.search import KnowledgeBase

SUGGESTIONS = 3
LIMIT = 20
RECENT = 20
FLOW_NAMES = {"reset_password": "Password reset", "track_order": "Order tracking"}


def same_question(text: str) -> str:
    """The form in which a recorded question and a confirmed one are the same."""
    return normalised(text).strip(" ?!.")


class Review:
    """The review queue of one deployment (the gap grouping is reused while nothing moved)."""

    def __init__(
        self,
        engine: Engine,
        store: LearnedStore,
        gate: Gate,
        nlu_weight: float = 0.0,
        limit: int = LIMIT,
    ) -> None:
        self.engine, self.store, self.gate = engine, store, gate
        self.nlu_weight, self.limit = nlu_weight, limit
        self._lock = threading.Lock()
        self._cache: tuple[tuple, list] | None = None

    def groups(
        self, kb: KnowledgeBase, since: dt.datetime, until: dt.datetime, include_test: bool = False
    ) -> list:
        """The gaps (bot.insights.gaps.Gap) of the questions nobody has confirmed yet."""
        from bot.insights.gaps import Question, find_gaps

        failed = failed_questions(self.engine, since=since, until=until, include_test=include_test)
        version = self.store.version()
        kb.reload_if_stale(force=True)
        key = (
            since,
            until,
            include_test,
            kb.reader.version,
            version,
            len(failed),
            failed[-1]["at"] if failed else None,
        )
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            confirmed = {same_question(r.text) for r in self.store.active()}
            questions = [Question(**q) for q in failed if same_question(q["text"]) not in confirmed]
            kb.router(fresh=True)  # "covered" and the suggestions know what was confirmed
            found = find_gaps(questions, kb, self.gate, self.nlu_weight, limit=self.limit)
            self._cache = (key, found)
            return found

    def build(
        self,
        kb: KnowledgeBase | None,
        since: dt.datetime,
        until: dt.datetime,
        include_test: bool = False,
        done: str | None = None,
    ) -> dict[str, Any]:
        """The page's data: groups with suggestions, every target, and recent confirmations
        (`done`: the batch just confirmed, offered for undo at the top). Without an index
        (kb None) there is nothing to group the questions against yet."""
        names = target_names(kb)
        groups = []
        for gap in self.groups(kb, since, until, include_test) if kb is not None else []:
            groups.append(
                {
                    **gap.to_dict(),
                    "suggestions": suggestions(kb, gap.examples, self.nlu_weight, names),
                }
            )
        recent = self.store.recent(RECENT)
        just_done = self.store.batch(done) if done else []
        return {
            "period": {"since": since.isoformat(), "until": until.isoformat()},
            "groups": groups,
            "targets": [{"target": t, "name": n} for t, n in names.items()],
            "recent": [_row(r, names) for r in recent],
            "done": [_row(r, names) for r in just_done],
            "learned_version": self.store.version(),
            "index_built": kb is not None,
        }


def target_names(kb: KnowledgeBase | None) -> dict[str, str]:
    """Every target a question can be confirmed for, with a name for people, in page order."""
    articles = kb.reader.articles() if kb is not None else []
    names = {f"article:{a['id']}": a["title"] for a in articles}
    names.update({f"flow:{f}": f"{FLOW_NAMES.get(f, f)} (flow)" for f in FLOWS})
    names[HANDOFF] = "A person (handoff)"
    names[OUT_OF_SCOPE] = "Not something we answer"
    names[NEW_ARTICLE] = "Needs a new article"
    return names


def suggestions(
    kb: KnowledgeBase, questions: list[str], nlu_weight: float, names: dict[str, str]
) -> list[dict[str, Any]]:
    """The router's best targets for a group: its probability of each, averaged over the
    group's questions, best first (small talk and the like left out)."""
    if not questions:
        return []
    vectors = kb.embedder.encode(questions)
    total: dict[str, float] = defaultdict(float)
    for text, vector in zip(questions, vectors, strict=True):
        routing = kb.route(text, None, nlu_weight, vector=vector[None, :])
        if routing is None:
            return []
        for route in routing.routes:
            target = target_of(route.label)
            if target is not None and target in names:
                total[target] += route.probability / len(questions)
    ranked = sorted(total.items(), key=lambda item: (-round(item[1], 6), item[0]))
    return [
        {"target": t, "name": names[t], "probability": round(p, 4)} for t, p in ranked[:SUGGESTIONS]
    ]


def _row(row: Learned, names: dict[str, str]) -> dict[str, Any]:
    return {**row.to_dict(), "name": names.get(row.target, row.target)}
