"""Content gaps: the questions the bot failed on, grouped by meaning and ranked, with drafts.

The insights report calls `find_gaps` with the recorded questions the bot could not answer,
answered with a clarify question, or answered and then got a thumbs-down. Each group says how
many customers asked, the article closest to it, whether adding phrasings to that article or
writing a new one is the fix, and whether the current index already answers it (after a writer
added an article and `bot kb build` ran). `draft` turns a group into a Markdown article that
the loader accepts, for a writer to finish. This module reads no database and serves no page.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from bot.dialogue.answers import Gate, choose
from bot.insights.questions import is_real_question
from bot.kb.loader import ID_PATTERN, MAX_QUESTION_CHARS

if TYPE_CHECKING:
    import numpy as np

    from bot.kb.search import KnowledgeBase
    from bot.kb.store import IndexReader

Kind = Literal["cant_answer", "clarify", "thumbs_down", "help_search", "not_sold"]
Action = Literal["write_article", "add_phrasings", "improve_article"]
# So close to the article that got the thumbs-down that the article is the place to fix (the
# answer is there but the bot quoted the wrong part, or it is there but unclear).
VERY_CLOSE_SCORE = 0.80

# Two groups merge while the mean cosine distance between their questions is below this
# (average linkage): their mean similarity is above 0.5. Chosen on 61 hand-written questions
# of 18 needs (pairwise precision / recall): 0.45 never mixed two needs but kept most
# paraphrases apart (1.00 / 0.39); 0.50 mixed one question into another need because they
# share only their wording, "Can I ... my order?" (0.91 / 0.51); 0.55 and up also merged gift
# wrapping with gift receipts (0.78 / 0.65), and 0.65 store pickup with a change of address.
DISTANCE_THRESHOLD = 0.50
MAX_EXAMPLES = 5
# Closeness to a group's centre counts to two decimals when choosing its title: two questions
# of a two-question group are equally close in theory, and float noise must not choose.
TYPICAL_DECIMALS = 2
# The questions of a group that are routed and compared with the articles (the most typical
# ones): enough for a majority, bounded for a group of thousands.
MAX_MEMBERS = 50
CANDIDATES = 5  # articles per question from which the closest article is chosen
# From this mean cosine the closest article probably answers the group, and the fix is to add
# the customers' phrasings to it. The gate's similarity threshold (0.50) is too lenient for
# that. On 33 hand-labelled groups against the demo articles (24 needs no article covers, 9
# that one does), 0.50 called 7 of the 24 close, 0.55 called 4 and 0.60 called 2 (store
# pickup, 0.61 to "How do I place an order?" for its "my order"; gift receipts, 0.64 to
# invoices), each missing 2 of the 9; 0.65 called none close but missed 6 of the 9.
CLOSE_SCORE = 0.60
# A question about what something costs (grouped only with other price questions).
PRICE = re.compile(
    r"\b(?:how much|price[sd]?|pricing|costs?|cheap(?:er|est)?|expensive|afford)\b|[$£€]\s?\d",
    re.IGNORECASE,
)
QUESTION_WORDS = frozenset(
    {"am", "are", "can", "could", "did", "do", "does", "has", "have", "how", "is", "may"}
    | {"should", "was", "were", "what", "when", "where", "which", "who", "why", "will", "would"}
)


@dataclass(frozen=True)
class Question:
    """One customer message the bot failed on."""

    conversation_id: str
    text: str  # already masked
    at: datetime
    kind: Kind
    article_id: str | None = None  # the article the bot served or offered first, if any


@dataclass(frozen=True)
class Gap:
    """A group of failed questions that mean the same thing, and what to do about it."""

    key: str  # stable while the group's most typical question stays the same; URL-safe
    title: str  # the most typical question (see _typical_order)
    customers: int  # distinct conversations that asked
    questions: int  # asked, each text counted once per conversation
    examples: list[str]  # up to MAX_EXAMPLES distinct texts, most typical first
    kinds: dict[str, int]
    last_asked: datetime
    closest_article: dict | None  # {"id", "title", "url", "category", "score"}
    action: Action
    covered_by: dict | None  # {"id", "title"} when the current index answers the group

    def to_dict(self) -> dict:
        """JSON form (the time as ISO 8601)."""
        data = asdict(self)
        data["last_asked"] = self.last_asked.isoformat()
        return data


def find_gaps(
    questions: list[Question],
    kb: KnowledgeBase,
    gate: Gate,
    nlu_weight: float = 0.0,
    *,
    min_customers: int = 1,
    limit: int = 20,
    close: float = CLOSE_SCORE,
) -> list[Gap]:
    """Group failed questions by meaning, most customers first (then questions, then the most
    recent), and describe the first `limit` groups asked by at least `min_customers`.

    `gate` and `nlu_weight` are the bot's, to tell whether the current index answers a group;
    `close` is the score from which the closest article is worth adding phrasings to."""

    texts = _distinct_texts(questions)
    if not texts or limit < 1:
        return []
    vectors = kb.embedder.encode([t.text for t in texts])
    asks_price = [bool(PRICE.search(t.text)) for t in texts]
    ranked = _ranked(texts, _cluster(vectors, asks_price), min_customers)

    kb.reload_if_stale(force=True)
    index = _Index(kb, kb.reader, gate, nlu_weight, close)
    gaps = []
    for *_, members in ranked[:limit]:
        typical = _typical_order([texts[i] for i in members], vectors[members])
        ordered = [members[i] for i in typical]
        gaps.append(index.describe([texts[i] for i in ordered], vectors[ordered]))
    return gaps


@dataclass(frozen=True)
class CatalogGap:
    """A group of requests for products we do not sell that mean the same thing."""

    key: str
    title: str  # the most typical request
    customers: int
    questions: int
    examples: list[str]
    last_asked: datetime

    def to_dict(self) -> dict:
        """JSON form (the time as ISO 8601)."""
        data = asdict(self)
        data["last_asked"] = self.last_asked.isoformat()
        return data


# The words around what a shopper asks for ("do you sell ...?", "I want to buy ..."): left out
# when requests are grouped, which is by the thing asked for, not by how the question is put
# ("do you sell laptops?" and "do you sell bicycles?" share most of their words).
SHOPPING_FRAME = re.compile(
    r"^\W*(?:(?:hi|hello|hey)\b\W*)?"
    r"(?:(?:do|does)\s+(?:you|u|y'?all|the\s+(?:store|shop)|your\s+(?:store|shop))\s+"
    r"(?:guys\s+)?(?:sell|stock|carry|have|offer)|have\s+you\s+got|where\s+can\s+i\s+(?:buy|get|find)"
    r"|i\s*(?:want|need|would\s+like|'?d\s+like)\s+(?:to\s+buy|to\s+get)?|i'?m\s+looking\s+for"
    r"|looking\s+for|can\s+i\s+(?:buy|get|order)|is\s+there|are\s+there|show\s+me)?"
    r"\s*(?:any|some|a|an)?\b\s*",
    re.IGNORECASE,
)


def wanted(text: str) -> str:
    """What a request for a product asks for, without the words around it ("do you sell
    laptops?" -> "laptops"); the whole text when nothing is left."""
    rest = SHOPPING_FRAME.sub("", text, count=1).strip(" ?!.")
    rest = re.sub(r"\b(?:please|pls|thanks|at all|here|in your (?:store|shop))\b", " ", rest)
    rest = " ".join(rest.split())
    return rest or text


def find_catalog_gaps(
    questions: list[Question], embedder, *, min_customers: int = 1, limit: int = 20
) -> list[CatalogGap]:
    """Catalogue gaps: what customers asked for that we do not sell ("we don't sell that"),
    grouped by meaning as the content gaps are, most customers first (then questions, then the
    most recent). `embedder` is the knowledge base's (encode(texts) -> unit vectors)."""
    texts = _distinct_texts(questions)
    if not texts or limit < 1:
        return []
    vectors = embedder.encode([wanted(t.text) for t in texts])
    ranked = _ranked(texts, _cluster(vectors), min_customers)
    gaps = []
    for *_, members in ranked[:limit]:
        typical = _typical_order([texts[i] for i in members], vectors[members])
        ordered = [texts[members[i]] for i in typical]
        asked = [q for t in ordered for q in t.asked]
        gaps.append(
            CatalogGap(
                key=hashlib.sha256(_normalised(ordered[0].text).encode()).hexdigest()[:12],
                title=ordered[0].text,
                customers=len({q.conversation_id for q in asked}),
                questions=len(asked),
                examples=[t.text for t in ordered[:MAX_EXAMPLES]],
                last_asked=max(q.at for q in asked),
            )
        )
    return gaps


def _ranked(
    texts: list[_Text], labels: np.ndarray, min_customers: int
) -> list[tuple[int, int, float, list[int]]]:
    """The clusters asked by at least `min_customers` customers, most customers first, then
    most asked, then most recent: (-customers, -times asked, -last asked, member indexes)."""
    clusters: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels.tolist()):
        clusters[label].append(i)
    ranked = []
    for members in clusters.values():
        asked = [q for i in members for q in texts[i].asked]
        customers = len({q.conversation_id for q in asked})
        if customers >= min_customers:
            last = max(q.at for q in asked)
            ranked.append((-customers, -len(asked), -last.timestamp(), members))
    ranked.sort(key=lambda item: item[:3])
    return ranked


def _typical_order(texts: list[_Text], vectors: np.ndarray) -> list[int]:
    """The group's distinct texts, most typical first: the wording the most customers used;
    then the one closest to the group's centre, closeness rounded to TYPICAL_DECIMALS (a
    difference smaller than that is noise, not meaning); then the one asked first; then
    alphabetical order. Float noise between machines never decides the title."""
    import numpy as np

    weights = np.array([len(t.asked) for t in texts], dtype=np.float64)
    group = vectors.astype(np.float64)
    closeness = group @ (weights @ group) / weights.sum()
    return sorted(
        range(len(texts)),
        key=lambda i: (
            -len(texts[i].asked),
            -round(float(closeness[i]), TYPICAL_DECIMALS),
            min(q.at for q in texts[i].asked),
            texts[i].text,
        ),
    )


@dataclass
class _Text:
    """One distinct text (after normalising), with everyone who sent it."""

    text: str
    asked: list[Question]  # at most one per conversation


def _distinct_texts(questions: list[Question]) -> list[_Text]:
    """Questions by normalised text; a text asked twice in one conversation counts once."""
    found: dict[str, _Text] = {}
    seen: set[tuple[str, str]] = set()
    for q in sorted(questions, key=lambda q: q.at):
        norm = _normalised(q.text)
        if not norm or (q.conversation_id, norm) in seen or not is_real_question(q.text):
            continue  # keyboard mash and fuzz are nobody's missing article
        seen.add((q.conversation_id, norm))
        found.setdefault(norm, _Text(" ".join(q.text.split()), [])).asked.append(q)
    return list(found.values())


def _normalised(text: str) -> str:
    """The form in which two texts are the same question: case, spacing and end marks aside."""
    return " ".join(text.casefold().split()).strip(" ?!.")


def _cluster(vectors: np.ndarray, asks_price: list[bool] | None = None) -> np.ndarray:
    """A group label per (normalised) vector: average-linkage clusters by cosine distance.

    What something costs is a need of its own: a price question and another question about
    the same product ("how much is the oak table" / "spare legs for the oak table") share their
    product words, which the embedding weighs heavily, but not what the writer must answer; the
    two are kept apart (`asks_price`, one flag per vector).
    """
    import numpy as np

    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    if asks_price is not None:
        price = np.array(asks_price, dtype=bool)
        distances[price[:, None] != price[None, :]] = 2.0  # the farthest two vectors can be
    np.fill_diagonal(distances, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage="average",
        distance_threshold=DISTANCE_THRESHOLD,
    )
    return model.fit_predict(distances)


class _Index:
    """One index version, and the bot's gate, against which groups are described."""

    def __init__(
        self, kb: KnowledgeBase, reader: IndexReader, gate: Gate, nlu_weight: float, close: float
    ) -> None:
        self.kb, self.reader, self.gate = kb, reader, gate
        self.nlu_weight, self.close = nlu_weight, close
        self.articles = {a["id"]: a for a in reader.articles()}

    def describe(self, texts: list[_Text], vectors: np.ndarray) -> Gap:
        """One group's Gap, from its distinct texts (most typical first) and their vectors."""
        import numpy as np

        asked = [q for t in texts for q in t.asked]
        sample, vectors = texts[:MAX_MEMBERS], vectors[:MAX_MEMBERS]
        weights = np.array([len(t.asked) for t in sample], dtype=np.float32)
        closest = self.closest_article(vectors, weights)
        served = sum(
            closest is not None and q.kind == "thumbs_down" and q.article_id == closest["id"]
            for q in asked
        )
        # close to an article the bot did not give them: teach it their words. One the bot
        # gave half of them or more, and got a thumbs-down for, does not answer this however
        # close it is (an article offered in a clarify question was not given)
        near = closest is not None and closest["score"] >= self.close
        action: Action = "add_phrasings" if near and 2 * served < len(asked) else "write_article"
        if action == "write_article" and near and closest["score"] >= VERY_CLOSE_SCORE:
            action = "improve_article"
        return Gap(
            key=hashlib.sha256(_normalised(texts[0].text).encode()).hexdigest()[:12],
            title=texts[0].text,
            customers=len({q.conversation_id for q in asked}),
            questions=len(asked),
            examples=[t.text for t in texts[:MAX_EXAMPLES]],
            kinds=dict(Counter(q.kind for q in asked).most_common()),
            last_asked=max(q.at for q in asked),
            closest_article=closest,
            action=action,
            covered_by=self.covered_by(sample, vectors),
        )

    def closest_article(self, vectors: np.ndarray, weights: np.ndarray) -> dict | None:
        """The article with the best mean score over the group's questions, an article
        scoring for a question as search ranks it: the cosine of its best chunk."""
        import numpy as np

        reader = self.reader
        if reader.size == 0:
            return None
        _, ids = reader.search(vectors, CANDIDATES * 8)
        rows = reader.chunks([int(c) for c in np.unique(ids) if c >= 0])
        candidates: list[str] = []
        for line in ids.tolist():
            found = list(dict.fromkeys(rows[c].article_id for c in line if c in rows))
            candidates += [a for a in found[:CANDIDATES] if a not in candidates]
        best: tuple[float, str] | None = None
        for article_id in candidates:
            # a section's heading chooses a section, it does not rank its article (as in search)
            chunks = [c for c in reader.article_chunks(article_id) if c.kind != "heading"]
            if not chunks:
                continue
            stored = np.vstack([reader.vector(c.id) for c in chunks])
            score = float(weights @ (vectors @ stored.T).max(axis=1) / weights.sum())
            if best is None or score > best[0]:
                best = (score, article_id)
        if best is None:
            return None
        score, article_id = best
        meta = self.articles.get(article_id, {})
        return {
            "id": article_id,
            "title": meta.get("title", article_id),
            "url": meta.get("url"),
            "category": meta.get("category") or "",
            "score": round(score, 4),
        }

    def covered_by(self, texts: list[_Text], vectors: np.ndarray) -> dict | None:
        """The article the bot now answers most of the group's questions with, if any: each
        routed and gated as the bot does (without the NLU's ranking, which is not recorded).
        An answer with the very article a customer gave a thumbs-down does not count."""
        answers: Counter[str] = Counter()
        for text, vector in zip(texts, vectors, strict=True):
            routing = self.kb.route(text.text, None, self.nlu_weight, vector=vector[None, :])
            if routing is None:
                return None  # an index without a router: the bot does not answer from it
            choice = choose(routing, self.gate)
            article_id = choice.top.article_id if choice.top else None
            if choice.outcome == "article" and article_id:
                answers[article_id] += sum(
                    not (q.kind == "thumbs_down" and q.article_id == article_id) for q in text.asked
                )
        if not answers:
            return None
        article_id, count = answers.most_common(1)[0]
        if 2 * count <= sum(len(t.asked) for t in texts):
            return None
        title = self.articles.get(article_id, {}).get("title", article_id)
        return {"id": article_id, "title": title}


def draft(gap: Gap, today: date) -> str:
    """A Markdown article for a writer to finish: the front matter the loader needs (title,
    id, updated, the customers' questions) and TODO lines to replace, with notes in comments."""
    title = as_title(gap.title)
    article_id = slug(title) or f"gap-{gap.key}"
    category = (gap.closest_article or {}).get("category") or ""
    questions = [
        q
        for q in dict.fromkeys(" ".join(q.split()) for q in gap.examples)
        if q.casefold().strip(" ?!.") != title.casefold().strip(" ?!.")
        and len(q) <= MAX_QUESTION_CHARS
    ]
    where = "/".join(["kb_articles", *([category] if category else []), f"{article_id}.md"])
    asked = f"{gap.customers} customer{'s' if gap.customers != 1 else ''} asked this"
    lines = [
        "---",
        f"# Draft from the content-gap report ({gap.key}): {asked}.",
        f"# Save it as {where}, replace every TODO, then run `bot kb build`.",
        f"title: {_yaml_string(title)}",
        f"id: {article_id}",
        f"tags: [{category}]" if category else "tags: []",
        f"updated: {today.isoformat()}",
    ]
    if questions:
        lines.append("questions:")
        lines += [f"  - {_yaml_string(q)}" for q in questions]
    lines.append("---")
    notes = [f"What customers asked ({asked}; {_kinds_text(gap.kinds)}):"]
    notes += [f"- {q.replace('--', '- -')}" for q in gap.examples]
    if gap.closest_article:
        notes.append(
            f"Closest article today: {gap.closest_article['title']} "
            f"({gap.closest_article['id']}, similarity {gap.closest_article['score']:.2f})."
        )
    body = [
        "",
        "<!--",
        *notes,
        "Each section below is shown to customers as an answer: replace its TODO lines.",
        "-->",
        "",
        "TODO: answer the question in one or two sentences.",
        "",
        "## TODO: a heading for the first step or sub-question",
        "",
        "TODO: short paragraphs, numbered steps or a table.",
        "",
        "## TODO: a heading for what to do when it does not work",
        "",
        "TODO: what to check, and how to contact us.",
        "",
    ]
    return "\n".join(lines + body)


def as_title(question: str) -> str:
    """A customer's question as an article title: one line, capitalised, a question mark
    when it is a question ("can i pick up my order in store" -> "Can I pick up my order in
    store?")."""
    text = " ".join(question.split()).strip()
    text = re.sub(r"\bi\b", "I", text)  # "i", "i'm", "i've"
    if not text:
        return text
    text = text[0].upper() + text[1:]
    first = text.split(" ", 1)[0].casefold()
    if first in QUESTION_WORDS or text.endswith("?"):
        text = text.rstrip(" ?!.") + "?"
    return text


def slug(title: str) -> str:
    """An article id from a title: lowercase ASCII words joined by hyphens, at most 60 chars."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.casefold().replace("'", ""))
    out = ""
    for word in words:
        if out and len(out) + 1 + len(word) > 60:
            break
        out = f"{out}-{word}" if out else word[:60]
    return out if ID_PATTERN.match(out) else ""


def _yaml_string(text: str) -> str:
    """A YAML double-quoted scalar (a JSON string is one)."""
    return json.dumps(text, ensure_ascii=False)


def _kinds_text(kinds: dict[str, int]) -> str:
    names = {"cant_answer": "could not answer", "clarify": "asked which article"}
    names["thumbs_down"] = "answered, then a thumbs-down"
    names["help_search"] = "searched the help centre, nothing found"
    return ", ".join(f"{names.get(k, k)}: {n}" for k, n in kinds.items())
