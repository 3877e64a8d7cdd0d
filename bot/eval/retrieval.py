"""Retrieval quality: Recall@1, Recall@5 and MRR of the article ranking, and the misses."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

DEPTH = 10  # MRR counts the first correct article within this many


@dataclass
class Query:
    query: str
    article_id: str


@dataclass
class RetrievalReport:
    queries: int
    recall_at_1: float
    recall_at_5: float
    mrr: float
    misses: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "queries": self.queries,
            "recall_at_1": round(self.recall_at_1, 4),
            "recall_at_5": round(self.recall_at_5, 4),
            "mrr": round(self.mrr, 4),
            "misses": self.misses,
        }


class QueryFileError(ValueError):
    """A query file line that is not {"query": str, "article_id": str}."""


def load_queries(path: Path, id_of: Callable[[dict], str] | None = None) -> list[Query]:
    """JSONL queries; id_of maps a line to its article id (default: its "article_id")."""
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            article_id = id_of(item) if id_of else item["article_id"]
            text = item["query"]
        except (ValueError, KeyError, TypeError) as exc:
            raise QueryFileError(
                f"{path}:{number}: expected a JSON object with 'query' and 'article_id' ({exc})"
            ) from exc
        if not isinstance(text, str) or not text.strip():
            raise QueryFileError(f"{path}:{number}: 'query' must be a non-empty string")
        queries.append(Query(text, str(article_id)))
    if not queries:
        raise QueryFileError(f"{path}: no queries")
    return queries


def score_rankings(rankings: Iterable[tuple[Query, list[str]]]) -> RetrievalReport:
    """Metrics over (query, ranked article ids) pairs."""
    n = hits1 = hits5 = 0
    reciprocal = 0.0
    misses = []
    for query, ranked in rankings:
        n += 1
        rank = ranked.index(query.article_id) + 1 if query.article_id in ranked[:DEPTH] else None
        hits1 += rank == 1
        hits5 += rank is not None and rank <= 5
        reciprocal += 1 / rank if rank else 0.0
        if rank != 1:
            misses.append(
                {
                    "query": query.query,
                    "expected": query.article_id,
                    "rank": rank,
                    "got": ranked[:3],
                }
            )
    if n == 0:
        raise ValueError("no queries to score")
    return RetrievalReport(n, hits1 / n, hits5 / n, reciprocal / n, misses)


def evaluate(search: Callable[[str, int], list[str]], queries: list[Query]) -> RetrievalReport:
    """Rank articles for each query with search(query, k) and score the rankings."""
    return score_rankings((q, search(q.query, DEPTH)) for q in queries)


def _yaml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # JSON strings are valid YAML scalars


def _plain(text: str) -> str:
    """Forum answer text as Markdown paragraphs (it arrives with runs of spaces for breaks)."""
    return re.sub(r" {2,}", "\n\n", text.strip())


def write_stackfaq_kb(threads_file: Path, out_dir: Path) -> int:
    """One Markdown article per StackFAQ thread: the question as title, each answer a section."""
    threads = json.loads(threads_file.read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for thread in threads:
        answers = [a for a in thread.get("answers") or [] if a and a.strip()]
        body = "\n\n".join(
            f"## Answer {number}\n\n{_plain(answer)}"
            for number, answer in enumerate(answers, start=1)
        )
        (out_dir / f"thread-{thread['id']}.md").write_text(
            f"---\ntitle: {_yaml_string(thread['question'].strip())}\nid: thread-{thread['id']}\n"
            f"---\n\n{body or 'No answer yet.'}\n",
            encoding="utf-8",
        )
    return len(threads)
