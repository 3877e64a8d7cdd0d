"""Article-level search over the index, with hot reload when a newer version is published."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.kb.chunker import ends_in_promise, plain_text
from bot.kb.embedder import Embedder, canonical_model_name
from bot.kb.loader import rewrite_links
from bot.kb.media import rewrite_media
from bot.kb.router import Router, Routing
from bot.kb.store import ChunkRow, IndexReader

if TYPE_CHECKING:
    import numpy as np

SNIPPET_CHARS = 240


class Learning(Protocol):
    """The index's router with what people confirmed (bot.kb.learning.LearnedRouting)."""

    def router(self, base: Router) -> Router: ...

    def refresh(self, base: Router) -> Router: ...


class QueryEncoder(Protocol):
    """Embeds one question as a (1, d) unit vector (Embedder, bot.kb.encoder.OnnxEncoder)."""

    def encode_query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    """The best-matching section of one article."""

    id: str
    title: str
    section: str
    anchor: str
    url: str
    score: float
    snippet: str
    text: str
    chunk_id: int

    @property
    def link(self) -> str:
        """The article address with the section's fragment, for citations."""
        return f"{self.url}#{self.anchor}" if self.anchor else self.url

    def to_dict(self, with_text: bool = False) -> dict:
        """JSON form; the full section text only when asked for."""
        data = asdict(self)
        data["score"] = round(self.score, 4)
        data["link"] = self.link
        if not with_text:
            data.pop("text")
        return data


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """A one-line preview of a chunk, cut at a word boundary."""
    flat = re.sub(r"\s+", " ", plain_text(text)).strip()
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"


def _named_sections(scored: list[tuple[float, ChunkRow]]) -> dict[str, float]:
    """Each section's score by its name: the title's for the first section, a heading's where it
    matches the question better than the title does. Every heading is read after the title, so
    a question close to the title is close to all of them; only what a heading adds counts."""
    headings = [(s, c) for s, c in scored if c.kind == "heading"]
    titles = [(s, c) for s, c in headings if not c.heading_path]
    if not titles:
        return {}
    title, first = titles[0]
    named = {c.anchor: s for s, c in headings if c.heading_path and s > title}
    named[first.anchor] = max(named.get(first.anchor, title), title)
    return named


class KnowledgeBase:
    """Embeds questions and finds the best articles; safe to share between threads."""

    def __init__(
        self,
        index_dir: Path,
        model_name: str,
        embedder: Embedder | None = None,
        reload_check_seconds: float = 0.1,  # a read of the CURRENT pointer at most this often
        query_encoder: Callable[[], QueryEncoder] | None = None,
        learning: Callable[[KnowledgeBase], Learning] | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.model_name = canonical_model_name(model_name)
        self._reader = IndexReader(index_dir, expected_model=self.model_name)
        self._embedder = embedder
        # questions are embedded by this (the ONNX encoder in the live bot), loaded on first use;
        # without it, by the sentence-transformers model
        self._query_encoder_factory = query_encoder
        self._query_encoder: QueryEncoder | None = None
        self._lock = threading.Lock()
        self._reload_check_seconds = reload_check_seconds
        self._last_check = time.monotonic()
        self._addresses: tuple[IndexReader, dict[str, str], dict[str, str]] | None = None
        # the phrasings people confirmed (bot.kb.learned), when a database is given
        self.learning: Learning | None = learning(self) if learning is not None else None

    @property
    def reader(self) -> IndexReader:
        """The index version currently answering searches."""
        return self._reader

    @property
    def embedder(self) -> Embedder:
        """The embedding model, loaded on first use."""
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = Embedder(self.model_name)
        return self._embedder

    @property
    def query_encoder(self) -> QueryEncoder:
        """What embeds questions: the given encoder, else the sentence-transformers model."""
        if self._query_encoder is None:
            if self._query_encoder_factory is None:
                return self.embedder
            with self._lock:
                if self._query_encoder is None:
                    self._query_encoder = self._query_encoder_factory()
        return self._query_encoder

    def reload_if_stale(self, force: bool = False) -> bool:
        """Switch to a newer published version; searches in flight keep the old one."""
        now = time.monotonic()
        if not force and now - self._last_check < self._reload_check_seconds:
            return False
        self._last_check = now
        if not self._reader.is_stale():
            return False
        with self._lock:
            if not self._reader.is_stale():
                return False
            # a version on the same base reads only its delta (bot.kb.segments)
            self._reader = IndexReader(
                self.index_dir, expected_model=self.model_name, previous=self._reader
            )
            # the old reader is left to the garbage collector: a search may still hold it
        return True

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The k best articles for a question, each with its best-matching section."""
        self.reload_if_stale()
        reader = self._reader
        if reader.size == 0 or not query.strip() or k < 1:
            return []
        vector = self.query_encoder.encode_query(query)
        candidates = k * 8
        while True:
            scores, ids = reader.search(vector, candidates)
            pairs = [
                (score, chunk)
                for score, chunk in zip(scores[0].tolist(), ids[0].tolist(), strict=True)
                if chunk >= 0
            ]
            rows = reader.chunks([chunk for _, chunk in pairs])
            per_article: dict[str, tuple[float, int]] = {}
            sections: dict[str, int] = {}
            for score, chunk in pairs:  # FAISS returns them best first
                row = rows.get(chunk)
                if row is None or row.kind == "heading":
                    continue  # a heading chooses a section, it does not rank its article
                if row.article_id not in per_article:
                    per_article[row.article_id] = (score, chunk)
                if (
                    row.kind == "section"
                    and row.article_id not in sections
                    and not ends_in_promise(row.text)
                ):
                    sections[row.article_id] = chunk
            if len(per_article) >= k or candidates >= reader.size:
                break
            candidates = min(candidates * 4, reader.size)
        best = sorted(per_article.items(), key=lambda item: -item[1][0])[:k]
        # an article ranks by its best chunk (a question the writer listed counts), and shows
        # the best-matching section: the title's chunk points to the lead, which may not answer
        return [
            self._hit(reader, rows[sections.get(article, chunk)], score)
            for article, (score, chunk) in best
        ]

    def encode(self, text: str) -> np.ndarray:
        """A message's (1, d) embedding, to reuse across route and best_section."""
        return self.query_encoder.encode_query(text)

    def route(
        self,
        question: str,
        intent_ranking: list[dict] | None = None,
        nlu_weight: float = 0.0,
        vector: np.ndarray | None = None,
    ) -> Routing | None:
        """The router's candidates for a message (None when this index has no router)."""
        self.reload_if_stale()
        router = self.router()
        if router is None or not question.strip():
            return None
        vector = self.encode(question) if vector is None else vector
        return router.route(question, vector, 5, intent_ranking, nlu_weight)

    def router(self, fresh: bool = False) -> Router | None:
        """The router turns use: the index's, with the confirmed phrasings when learning is
        on (checked in the background; `fresh` checks now and waits for the refit)."""
        base = self._reader.router
        if base is None or self.learning is None:
            return base
        return self.learning.refresh(base) if fresh else self.learning.router(base)

    def best_section(
        self,
        question: str,
        article_id: str,
        vector: np.ndarray | None = None,
        avoid: str | None = None,
    ) -> Hit | None:
        """The section of one article that best answers a question (None if no such article).

        A section scores by its best chunk or by its heading read in the article, whichever is
        closer to the question. `avoid` names a section anchor just quoted (a follow-up asks
        something else): another answering section is preferred when there is one.
        """
        self.reload_if_stale()
        reader = self._reader
        chunks = reader.article_chunks(article_id)
        if not chunks:
            return None
        if vector is None or not question:
            vector = self.encode(question or chunks[0].title)
        query = vector.reshape(-1)
        scored = [(float(reader.vector(c.id) @ query), c) for c in chunks]
        score = max(s for s, c in scored if c.kind != "heading")
        named = _named_sections(scored)
        # the section that answers: a title or question chunk only says which article, and an
        # introduction that only announces the sections after it ("these steps solve most
        # problems") is not an answer when one of those sections is there to give
        in_sections = [
            (max(s, named.get(c.anchor, s)), c) for s, c in scored if c.kind == "section"
        ]
        in_sections = in_sections or scored
        answering = [item for item in in_sections if not ends_in_promise(item[1].text)]
        candidates = answering or in_sections
        fresh = [item for item in candidates if avoid is None or item[1].anchor != avoid]
        _, row = max(fresh or candidates, key=lambda item: item[0])
        return self._hit(reader, row, score)

    def article_sections(self, article_id: str) -> list[Hit]:
        """Every section chunk of one article as an answer would show it, in reading order."""
        self.reload_if_stale()
        reader = self._reader
        return [
            self._hit(reader, row, 0.0)
            for row in reader.article_chunks(article_id)
            if row.kind == "section"
        ]

    def _hit(self, reader: IndexReader, row: ChunkRow, score: float) -> Hit:
        """A search hit for a chunk, its writers' links pointing at help-centre addresses."""
        paths, urls = self._link_addresses(reader)
        text = row.text
        if "](" in text and row.article_id in paths:
            text = rewrite_links(text, paths[row.article_id], urls.get)
            # pictures and videos beside the article: a link the customer can open
            text = rewrite_media(text, paths[row.article_id], as_link=True)
        return Hit(
            id=row.article_id,
            title=row.title,
            section=row.section,
            anchor=row.anchor,
            url=row.url,
            score=float(score),
            snippet=snippet(text),
            text=text,
            chunk_id=row.id,
        )

    def _link_addresses(self, reader: IndexReader) -> tuple[dict[str, str], dict[str, str]]:
        """For one index version: each article's file path, and each file path's address.

        Links are resolved when shown, not when embedded, so a moved or renamed article is
        linked right as soon as the index is rebuilt, without re-embedding its neighbours.
        """
        cached = self._addresses
        if cached is not None and cached[0] is reader:
            return cached[1], cached[2]
        articles = reader.articles()
        paths = {a["id"]: a["path"] for a in articles}
        urls = {a["path"]: a["url"] for a in articles}
        self._addresses = (reader, paths, urls)
        return paths, urls
