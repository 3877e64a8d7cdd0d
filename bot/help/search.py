"""Help-centre search: the bot's article search, with typing mistakes corrected and snippets
that show where the words matched.

The web app's /help/search page, its JSON twin and the search box's suggestions all call
`HelpSearch.search`. Retrieval is `KnowledgeBase.search` (the embeddings the bot answers from);
a word no article contains is first corrected to the closest word the articles do contain
(one typing mistake: a letter missing, extra, wrong or two swapped), because the embedding
model reads "refnud" as unrelated pieces. Snippets are plain text with the spans to highlight
given apart, so a page escapes the text and marks the spans, and no article text is ever
trusted as markup.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from bot.kb.chunker import plain_text
from bot.kb.guide import as_prose
from bot.kb.search import Hit, KnowledgeBase
from bot.kb.store import IndexReader

SNIPPET_CHARS = 220
LEAD_CHARS = 40  # shown before the first highlighted word
MIN_CORRECTED = 4  # shorter words are too ambiguous to correct
# Results shown beside a good one: at least this share of its score (the rest is noise that
# buries the answer); with no good result, only the few closest, offered as such.
RELATIVE_FLOOR = 0.6
CLOSEST_WHEN_NONE_GOOD = 3
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# words that match everything: never highlighted, never worth a correction
STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)


@dataclass(frozen=True)
class Result:
    """One article found for a search: its best section and a snippet with highlights."""

    id: str
    title: str
    section: str
    anchor: str
    link: str  # the article's public address with the section's fragment
    score: float
    snippet: str
    marks: tuple[tuple[int, int], ...] = ()  # [start, end) spans of the snippet to highlight

    @property
    def path(self) -> str:
        """The help-centre page with the section's fragment."""
        return f"/help/{self.id}" + (f"#{self.anchor}" if self.anchor else "")

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, highlighted) pieces, for a template to escape and mark."""
        out: list[tuple[str, bool]] = []
        at = 0
        for start, end in self.marks:
            if start > at:
                out.append((self.snippet[at:start], False))
            out.append((self.snippet[start:end], True))
            at = end
        if at < len(self.snippet):
            out.append((self.snippet[at:], False))
        return out

    def to_dict(self) -> dict:
        """JSON form (what /help/search.json returns for each article)."""
        return {
            "id": self.id,
            "title": self.title,
            "section": self.section,
            "url": self.link,
            "path": self.path,
            "snippet": self.snippet,
            "highlights": [list(m) for m in self.marks],
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Found:
    """What a search found: the results best first, and whether any of them is good."""

    query: str
    searched: str  # the query as searched, typing mistakes corrected
    results: list[Result] = field(default_factory=list)
    good: bool = False

    @property
    def corrected(self) -> bool:
        """True when a word of the query was corrected."""
        return self.searched != self.query

    def to_dict(self) -> dict:
        """JSON form of the whole answer."""
        return {
            "query": self.query,
            "searched": self.searched,
            "good": self.good,
            "results": [r.to_dict() for r in self.results],
        }


class Speller:
    """Corrects words the articles do not contain to ones they do (one edit away).

    A symmetric-delete index: every word and every way of deleting one letter from it; a
    query word and its one-letter deletions are looked up in it, which finds the words one
    insertion, deletion, substitution or swap of neighbours away without comparing against
    the whole vocabulary."""

    def __init__(self, texts: list[str]) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w.casefold() for w in WORD.findall(text))
        self.counts = counts
        self._deletes: dict[str, list[str]] = {}
        for word in counts:
            if len(word) < MIN_CORRECTED - 1:
                continue
            for variant in _deletions(word) | {word}:
                self._deletes.setdefault(variant, []).append(word)

    def correct_word(self, word: str) -> str:
        """The known word closest to `word` (itself when known, short or without a match)."""
        low = word.casefold()
        if len(low) < MIN_CORRECTED or low in self.counts or low in STOPWORDS:
            return word
        candidates = {c for v in _deletions(low) | {low} for c in self._deletes.get(v, ())}
        scored = [(_distance(low, c), -self.counts[c], c) for c in candidates]
        scored = [item for item in scored if item[0] == 1]
        return min(scored)[2] if scored else word

    def correct(self, query: str) -> str:
        """The query with each unknown word corrected; everything else kept as typed."""
        return WORD.sub(lambda m: self.correct_word(m.group(0)), query)


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _distance(a: str, b: str) -> int:
    """Edit distance with swaps of neighbours counted as one edit (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def highlight(text: str, terms: set[str], limit: int = SNIPPET_CHARS) -> tuple[str, list]:
    """A one-line snippet of `text` around the first of `terms` it contains, and the spans of
    every word that matches a term (the same word, or the same stem: "refunds", "refunded")."""
    flat = re.sub(r"\s+", " ", plain_text(as_prose(text))).strip()
    stems = {_stem(t) for t in terms if t not in STOPWORDS and len(t) > 1}
    spans = [
        (m.start(), m.end()) for m in WORD.finditer(flat) if _stem(m.group(0).casefold()) in stems
    ]
    start = 0
    if spans and len(flat) > limit and spans[0][0] > LEAD_CHARS:
        start = flat.rfind(" ", 0, spans[0][0] - LEAD_CHARS) + 1
    end = len(flat)
    if end - start > limit:
        end = flat.rfind(" ", start, start + limit)
        end = end if end > start else start + limit
    shown = ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
    shift = 1 - start if start else 0
    marks = [(a + shift, b + shift) for a, b in spans if a >= start and b <= end]
    return shown, marks


def _stem(word: str) -> str:
    """A crude English stem, enough to match a word's plural and past forms."""
    for ending in ("ing", "ed", "es", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


class HelpSearch:
    """Searches one knowledge base for the help centre; safe to share between threads."""

    def __init__(self, kb: KnowledgeBase, good_score: float) -> None:
        self.kb = kb
        self.good_score = good_score
        self._lock = threading.Lock()
        self._speller: tuple[IndexReader, Speller] | None = None
        self._building: IndexReader | None = None

    def speller(self) -> Speller:
        """The speller of the index version being served (built once per version). After a
        new version is published, the last one's speller answers while the new one is built
        in the background: a writer's save changes a few words, and no search waits for it."""
        reader = self.kb.reader
        cached = self._speller
        if cached is not None and cached[0] is reader:
            return cached[1]
        with self._lock:
            cached = self._speller
            if cached is None:
                cached = (reader, Speller(vocabulary(reader)))
                self._speller = cached
            elif cached[0] is not reader and self._building is not reader:
                self._building = reader
                threading.Thread(
                    target=self._build, args=(reader,), name="help-speller", daemon=True
                ).start()
        return cached[1]

    def _build(self, reader: IndexReader) -> None:
        try:
            speller = Speller(vocabulary(reader))
            with self._lock:
                self._speller = (reader, speller)
        finally:
            self._building = None  # a failed build is tried again by the next search

    def search(self, query: str, k: int = 10, *, exclude: frozenset[str] = frozenset()) -> Found:
        """The best articles for a query, best first; `good` when the best one is close enough
        to count as an answer. Articles in `exclude` (drafts) are left out."""
        query = " ".join(query.split())
        if not query:
            return Found(query, query)
        self.kb.reload_if_stale()
        searched = self.speller().correct(query)
        hits = [h for h in self.kb.search(searched, k + len(exclude)) if h.id not in exclude][:k]
        terms = {w.casefold() for w in WORD.findall(searched)}
        terms |= {w.casefold() for w in WORD.findall(query)}
        good = bool(hits) and hits[0].score >= self.good_score
        if good:
            floor = max(self.good_score, hits[0].score * RELATIVE_FLOOR)
            hits = [h for h in hits if h.score >= floor]
        else:
            hits = hits[:CLOSEST_WHEN_NONE_GOOD]
        results = [self._result(hit, terms) for hit in hits]
        return Found(query, searched, results, good)

    @staticmethod
    def _result(hit: Hit, terms: set[str]) -> Result:
        text, marks = highlight(hit.text, terms)
        return Result(
            id=hit.id,
            title=hit.title,
            section=hit.section if hit.section != hit.title else "",
            anchor=hit.anchor,
            link=hit.link,
            score=hit.score,
            snippet=text,
            marks=tuple(marks),
        )


def vocabulary(reader: IndexReader) -> list[str]:
    """Every text the search can match: titles, headings and the chunks' words."""
    return reader.texts()
