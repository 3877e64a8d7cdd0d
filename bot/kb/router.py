"""The router: which article, flow, handoff, small talk or "out of scope" a message is about.

It is trained at `kb build` time from what the owners wrote: each article's title, its
`questions:` and its headings, plus the Rasa NLU examples of the flows, handoff, small talk and
out of scope, and the product questions (the `product` route: the writers' phrasings and some
made from the catalogue's types and titles, bot.kb.product_phrasings). Three channels are fused:

- a logistic regression over the frozen sentence embeddings of those phrasings (meaning);
- the nearest phrasings themselves: a softmax over each label's best cosine, so a close
  paraphrase of one phrasing is not outvoted;
- a logistic regression over character n-grams of the phrasings (spelling: "delikveries").

In a large KB (above PER_ARTICLE_CLASSES_UP_TO articles) the two regressions learn the flows,
small talk, out of scope and "an article" as one class, and each head's "an article" is shared
among the articles by their nearest phrasings: the regressions' cost then no longer grows with
the number of articles, and a saved article is known as soon as its phrasings' vectors are.

Besides the fused probabilities, each route carries the cosine similarity of the message to
the nearest phrasing of its label: a message far from every phrasing is out of distribution
even when one label wins the softmax. The gate in `bot.dialogue.answers` decides from all of
them. The router is saved inside an index version, so it is staged, published and reloaded
with it.
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bot.kb.problems import Problem

if TYPE_CHECKING:
    import numpy as np

    from bot.kb.loader import Article

ROUTER_FILE = "router.pickle"
ROUTER_INFO = "router.json"
# a live save's router: the articles it changed since the router of router.pickle (a hard link
# to the last full one), applied on load (Router.changed_articles)
ROUTER_DELTA = "router-delta.pickle"
ROUTER_VERSION = 2  # 2: the heads' classes (ANY_ARTICLE above PER_ARTICLE_CLASSES_UP_TO)
ARTICLE = "article:"
INTENT = "intent:"
PRODUCT = "product"  # a question about the goods we sell: answered from the catalogue
# The Rasa intents the router learns from the NLU examples; the others are contextual
# (affirm, deny, inform, a clarify choice, feedback) and stay with the dialogue rules.
ROUTED_INTENTS = (
    "reset_password",
    "reset_email_missing",
    "track_order",
    "request_human",
    "complaint",
    "greet",
    "goodbye",
    "thanks",
    "bot_challenge",
    "chitchat",
    "out_of_scope",
)
# How the channels are mixed, and the kNN channel's softmax temperature: chosen on the dev data
# (benchmarks/README.md, "The router" and "Issue 25"), not tuned to the last point. The nearest
# phrasings weigh more since issue 25: they helped Bitext and Banking77 alike, and a phrasing
# added later (a confirmed question) counts through them at once.
WEIGHTS = {"embedding": 0.3, "neighbours": 0.4, "chars": 0.3}
TEMPERATURE = 0.05
C = 5.0  # inverse regularisation of both logistic regressions
REFIT_TOLERANCE = 1e-3  # Router.refitted's stopping tolerance (a training uses 1e-4)
# Up to this many articles the two logistic regressions learn each article as a class of its
# own. Above it they learn the flows, small talk, out of scope and "an article" (ANY_ARTICLE,
# one class), and the nearest phrasings share an article's probability among the articles: a
# regression's fit grows with classes x phrasings (54 CPU-s from scratch at 1,000 articles, 1.4
# with "an article"), while the neighbours are one matrix product and a save only adds or drops
# its phrasings' vectors (benchmarks/README.md, "The router at 10,000 articles"). The demo's
# 34-38 articles are far below it: there nothing changes.
PER_ARTICLE_CLASSES_UP_TO = 1000
ANY_ARTICLE = "article:*"
ENTITY = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\{[^}]*\}")
MIN_HEADING_WORDS = 3  # "Before you start" says nothing; "My payment was declined" does


@dataclass(frozen=True)
class Phrasing:
    """One way of asking for a label, and where it came from."""

    text: str
    label: str
    source: str  # title, question, heading or nlu:<file>


@dataclass(frozen=True)
class Route:
    """One candidate: a label, its fused probability and its nearest phrasing."""

    label: str
    probability: float
    nearest: float
    phrasing: str

    @property
    def article_id(self) -> str | None:
        """The article id for an article label, else None."""
        return self.label[len(ARTICLE) :] if self.label.startswith(ARTICLE) else None

    @property
    def intent(self) -> str | None:
        """The Rasa intent for an intent label, else None."""
        return self.label[len(INTENT) :] if self.label.startswith(INTENT) else None

    @property
    def is_product(self) -> bool:
        """Whether this is the catalogue's route."""
        return self.label == PRODUCT

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "probability": round(self.probability, 4),
            "nearest": round(self.nearest, 4),
            "phrasing": self.phrasing,
        }


@dataclass
class Routing:
    """The router's view of one message: candidates best first, with each channel's scores."""

    routes: list[Route]
    channels: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def top(self) -> Route:
        return self.routes[0]

    @property
    def margin(self) -> float:
        """How far the best label is ahead of the second."""
        second = self.routes[1].probability if len(self.routes) > 1 else 0.0
        return self.top.probability - second

    def to_dict(self) -> dict:
        return {
            "routes": [r.to_dict() for r in self.routes],
            "margin": round(self.margin, 4),
            "channels": self.channels,
        }


def article_phrasings(articles: Iterable[Article]) -> list[Phrasing]:
    """Each article's title, questions and telling headings."""
    out: list[Phrasing] = []
    for article in articles:
        out += _phrasings_of(article)
    return out


# an article's phrasings by (id, content hash): a build of 10,000 articles asks for them all
_ARTICLE_PHRASINGS: dict[tuple[str, str], list[Phrasing]] = {}
_NLU_PHRASINGS: dict[tuple, list[Phrasing]] = {}


def _phrasings_of(article: Article) -> list[Phrasing]:
    key = (article.id, article.content_hash)
    found = _ARTICLE_PHRASINGS.get(key)
    if found is None:
        label = ARTICLE + article.id
        found = [Phrasing(article.title, label, "title")]
        found += [Phrasing(q, label, "question") for q in article.questions]
        for section in article.sections:
            if section.level >= 2 and len(section.title.split()) >= MIN_HEADING_WORDS:
                found.append(Phrasing(section.title, label, "heading"))
        found = _unique(found)
        if len(_ARTICLE_PHRASINGS) > 200_000:
            _ARTICLE_PHRASINGS.clear()
        _ARTICLE_PHRASINGS[key] = found
    return found


class RouterUnreadable(RuntimeError):
    """The router file of an index version cannot be loaded by this code."""


class NluFileError(ValueError):
    """A Rasa NLU file the router cannot read; names the file and line."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def nlu_phrasings(nlu_dir: Path | None) -> list[Phrasing]:
    """The Rasa NLU examples of the routed intents (entity markup removed); read again only
    when a file changed (size, modification time)."""
    if nlu_dir is None or not nlu_dir.is_dir():
        return []
    paths = sorted(nlu_dir.glob("*.yml"))
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    found = _NLU_PHRASINGS.get(key)
    if found is None:
        out: list[Phrasing] = []
        for path in paths:
            for intent, text in _examples(path):
                if intent in ROUTED_INTENTS:
                    out.append(Phrasing(text, INTENT + intent, f"nlu:{path.name}"))
        found = _unique(out)
        _NLU_PHRASINGS.clear()
        _NLU_PHRASINGS[key] = found
    return list(found)


def _examples(path: Path) -> list[tuple[str, str]]:
    """(intent, example) pairs of one NLU file; raises NluFileError if it is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise NluFileError(Problem(str(path), line, f"invalid YAML: {exc}")) from exc
    blocks = data.get("nlu") if isinstance(data, dict) else None
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        raise NluFileError(Problem(str(path), 1, "'nlu' must be a list of intents and examples"))
    pairs = []
    for block in blocks:
        if not isinstance(block, dict) or "intent" not in block:
            continue  # synonyms, regexes and lookup tables
        examples = block.get("examples") or ""
        if not isinstance(examples, str):
            raise NluFileError(
                Problem(str(path), 1, f"intent {block['intent']!r}: examples must be a '|' block")
            )
        for line in examples.splitlines():
            text = line.strip()
            if text.startswith("- "):
                text = ENTITY.sub(lambda m: m.group(1) or m.group(2), text[2:]).strip()
                if text:
                    pairs.append((str(block["intent"]), text))
    return pairs


def head_classes(labels: list[str], per_article_up_to: int) -> list[str]:
    """What the two regressions learn for these labels (sorted): the labels themselves, or,
    above per_article_up_to articles, the labels that are not articles and ANY_ARTICLE."""
    others = [label for label in labels if not label.startswith(ARTICLE)]
    if len(labels) - len(others) <= per_article_up_to:
        return list(labels)
    return sorted([*others, ANY_ARTICLE])


def _targets(phrasings: list[Phrasing], classes: list[str]) -> np.ndarray:
    """Each phrasing's class: its label's, or ANY_ARTICLE when the articles share one."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    shared = index.get(ANY_ARTICLE)
    return np.array([index.get(p.label, shared) for p in phrasings], dtype=np.int64)


def _softmax(nearest: np.ndarray) -> np.ndarray:
    """The neighbours channel: a softmax over each label's best cosine (-inf: left out)."""
    import numpy as np

    scaled = np.exp((nearest - nearest.max()) / TEMPERATURE)
    return scaled / scaled.sum()


def normalised(text: str) -> str:
    """The form in which two phrasings are the same: case and spacing aside."""
    return " ".join(text.casefold().split())


def _unique(phrasings: list[Phrasing]) -> list[Phrasing]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in phrasings:
        key = (p.text.lower(), p.label)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


class Router:
    """A trained router: two calibrated channels and the phrasings' vectors.

    `classes`: what the two heads learn, the labels themselves or (above `per_article_up_to`
    articles) the other labels and ANY_ARTICLE; the labels stay every article and intent."""

    def __init__(
        self,
        labels,
        embedding_head,
        char_head,
        chars,
        vectors,
        phrasings,
        classes=None,
        per_article_up_to: int = PER_ARTICLE_CLASSES_UP_TO,
    ) -> None:
        self.version = ROUTER_VERSION
        self.labels: list[str] = list(labels)
        self.classes: list[str] = list(self.labels if classes is None else classes)
        self.per_article_up_to = per_article_up_to
        self.embedding_head = embedding_head
        self.char_head = char_head
        self.chars = chars
        self.vectors = vectors  # (phrasings, dimension), L2-normalised
        self.phrasings: list[Phrasing] = phrasings
        import numpy as np

        self._index = {label: i for i, label in enumerate(self.labels)}
        self._phrasing_label = np.array([self._index[p.label] for p in phrasings], dtype=np.int64)
        self._class_index = {c: i for i, c in enumerate(self.classes)}
        shared = self._class_index.get(ANY_ARTICLE, -1)
        self._class_of = np.array([self._class_index.get(x, shared) for x in self.labels])
        self._shared = np.array([x not in self._class_index for x in self.labels], dtype=bool)

    @property
    def article_classes(self) -> str:
        """How the heads see the articles, for the manifest."""
        if ANY_ARTICLE in self._class_index:
            return (
                f"one class for all (above {self.per_article_up_to} articles): "
                "the nearest phrasings pick the article"
            )
        return "one class per article"

    @classmethod
    def train(
        cls,
        phrasings: list[Phrasing],
        vectors: np.ndarray,
        per_article_up_to: int = PER_ARTICLE_CLASSES_UP_TO,
    ) -> Router:
        """Fit both channels on the phrasings (vectors: their embeddings, in order)."""
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len({p.label for p in phrasings}) < 2:
            raise ValueError("the router needs phrasings of at least two labels")
        from threadpoolctl import threadpool_limits

        labels = sorted({p.label for p in phrasings})
        classes = head_classes(labels, per_article_up_to)
        y = _targets(phrasings, classes)
        # one BLAS thread: the fit is small matrices, where threads waiting for each other cost
        # more than they bring (1.7 s against 3.9 s on the demo, idle 2 cores; far worse busy)
        with threadpool_limits(1):
            # Unweighted classes on purpose: out of scope has the most examples, and should.
            embedding_head = LogisticRegression(C=C, max_iter=3000)
            embedding_head.fit(vectors, y)
            chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
            char_matrix = chars.fit_transform([p.text for p in phrasings])
            char_head = LogisticRegression(C=C, max_iter=3000)
            char_head.fit(char_matrix, y)
        vectors = vectors.astype(np.float32)
        return cls(
            labels, embedding_head, char_head, chars, vectors, phrasings, classes, per_article_up_to
        )

    def refitted(self, phrasings: list[Phrasing], vectors: np.ndarray) -> Router:
        """A router on exactly these phrasings, its heads refitted from this router's weights.

        What a writer's save needs within a second (bot.kb.live): an added article is a new
        label, starting from zero weights; a removed one's label is dropped; the other labels
        start from where they were, so the fit takes a few iterations. The character n-grams
        stay this router's (an n-gram only the new phrasings have is not a feature until the
        next full training, which `Router.train` is and the live indexer runs when the writer
        pauses). Falls back to a full training when fewer than two labels remain known. Above
        PER_ARTICLE_CLASSES_UP_TO articles no class is added or dropped: the heads start from
        their own weights, and a new article is known through its phrasings' vectors.
        """
        labels = sorted({p.label for p in phrasings})
        classes = head_classes(labels, self.per_article_up_to)
        if min(len(classes), len(self.classes)) < 3 or not set(labels) & set(self.labels):
            # (two classes are one row of weights in scikit-learn: nothing to map)
            return type(self).train(phrasings, vectors, self.per_article_up_to)
        # a looser tolerance than a training's: 8 + 6 iterations instead of 15 + 25 for a new
        # label on the demo, with the same top label as a full training for every one of its
        # 1,139 phrasings (benchmarks/README.md, the help centre)
        return self._warm_fit(labels, phrasings, vectors, REFIT_TOLERANCE)

    def with_phrasings(
        self, phrasings: list[Phrasing], vectors: np.ndarray, start: Router | None = None
    ) -> Router:
        """A new router that also knows these phrasings (vectors: their embeddings, in order).

        Nothing is embedded again: the router's own phrasings keep their cached vectors, and the
        channels are refitted on them and the new ones. A phrasing whose text (case and spacing
        aside) the router already has for the same label is not added twice; the same text for
        another label replaces the old one (what a person confirmed wins). Phrasings of a label
        this router does not know (an article removed since) are left out. `start`: a router
        of the same labels (the last update) whose weights the refit starts from.
        """
        import numpy as np

        given: dict[str, tuple[Phrasing, np.ndarray]] = {}
        for phrasing, vector in zip(phrasings, np.asarray(vectors), strict=True):
            if phrasing.label in self._index:
                given.setdefault(normalised(phrasing.text), (phrasing, vector))
        if not given:
            return self
        kept: list[int] = []
        for i, phrasing in enumerate(self.phrasings):
            same = given.get(normalised(phrasing.text))
            if same is None:
                kept.append(i)
            elif same[0].label == phrasing.label:
                kept.append(i)  # the writers' own copy stays; the learned one is not added
                del given[normalised(phrasing.text)]
        if not given and len(kept) == len(self.phrasings):
            return self
        added = list(given.values())
        all_phrasings = [self.phrasings[i] for i in kept] + [p for p, _ in added]
        all_vectors = np.vstack([self.vectors[kept], *[v.reshape(1, -1) for _, v in added]])
        warm = start if start is not None and start.labels == self.labels else self
        return warm._refit(all_phrasings, all_vectors.astype(np.float32))

    def _refit(self, phrasings: list[Phrasing], vectors: np.ndarray) -> Router:
        """A router on these phrasings with the same labels and character n-grams, its two
        heads refitted from this router's weights (a warm start: a few phrasings more take
        a few iterations, not a training from scratch)."""
        import numpy as np

        if len({p.label for p in phrasings}) != len(self.labels):
            # a label lost its last one
            return type(self).train(phrasings, np.asarray(vectors), self.per_article_up_to)
        return self._warm_fit(self.labels, phrasings, vectors)

    def _warm_fit(
        self,
        labels: list[str],
        phrasings: list[Phrasing],
        vectors: np.ndarray,
        tol: float | None = None,
    ) -> Router:
        """Both heads fitted on these phrasings for these labels (sorted), each starting from
        this router's weights for the classes it knows and from zero for the others; the
        character n-grams stay this router's. tol: the fit's stopping tolerance, when not the
        heads' own."""
        import copy

        import numpy as np
        from threadpoolctl import threadpool_limits

        classes = head_classes(labels, self.per_article_up_to)
        y = _targets(phrasings, classes)
        heads = []
        # one BLAS thread: on a busy machine, threads waiting for each other made a refit of
        # under a second take twenty (benchmarks/README.md, "Learning curve")
        with threadpool_limits(1):
            for head, matrix in (
                (self.embedding_head, vectors),
                (self.char_head, self.chars.transform([p.text for p in phrasings])),
            ):
                head = copy.deepcopy(head)
                coef = np.zeros((len(classes), head.coef_.shape[1]), dtype=head.coef_.dtype)
                intercept = np.zeros(len(classes), dtype=head.intercept_.dtype)
                for row, name in enumerate(classes):
                    old = self._class_index.get(name)
                    if old is not None:
                        coef[row], intercept[row] = head.coef_[old], head.intercept_[old]
                head.coef_, head.intercept_ = coef, intercept
                head.set_params(warm_start=True, **({} if tol is None else {"tol": tol}))
                head.fit(matrix, y)
                heads.append(head)
        vectors = np.asarray(vectors, np.float32)
        return type(self)(
            labels, *heads, self.chars, vectors, phrasings, classes, self.per_article_up_to
        )

    def route(
        self,
        text: str,
        vector: np.ndarray,
        k: int = 5,
        intent_ranking: list[dict] | None = None,
        nlu_weight: float = 0.0,
    ) -> Routing:
        """The k most likely labels for a message (vector: its (1, d) or (d,) embedding).

        With Rasa's intent ranking and a weight, the NLU's opinion is mixed in: its confidence
        in a routed intent goes to that label, and its confidence in `ask_question` is shared
        among the articles as the router shares them. The weight shrinks as the router's own
        best probability grows, so the NLU decides between close candidates but cannot veto a
        strong match.
        """
        import numpy as np

        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        similarities = self.vectors @ vector[0]
        nearest = np.full(len(self.labels), -1.0)
        np.maximum.at(nearest, self._phrasing_label, similarities)
        p_neighbours = _softmax(nearest)
        p_embedding = self._per_label(self.embedding_head.predict_proba(vector)[0], nearest)
        p_chars = self._per_label(
            self.char_head.predict_proba(self.chars.transform([text]))[0], nearest
        )
        fused = (
            WEIGHTS["embedding"] * p_embedding
            + WEIGHTS["neighbours"] * p_neighbours
            + WEIGHTS["chars"] * p_chars
        )
        p_nlu = self._nlu_distribution(intent_ranking or [], fused)
        if p_nlu is not None and nlu_weight > 0:
            # the NLU counts as much as the router is unsure: a confident router is not vetoed
            weight = nlu_weight * (1.0 - float(fused.max()))
            fused = (1 - weight) * fused + weight * p_nlu
        routes = []
        for i in np.argsort(-fused)[:k]:
            mine = np.flatnonzero(self._phrasing_label == i)
            best = mine[int(np.argmax(similarities[mine]))]
            routes.append(
                Route(
                    self.labels[i],
                    float(fused[i]),
                    float(similarities[best]),
                    self.phrasings[best].text,
                )
            )
        channels = {}
        for r in routes:
            i = self._index[r.label]
            channels[r.label] = {
                "embedding": round(float(p_embedding[i]), 4),
                "neighbours": round(float(p_neighbours[i]), 4),
                "chars": round(float(p_chars[i]), 4),
                **({"nlu": round(float(p_nlu[i]), 4)} if p_nlu is not None else {}),
                "similarity": round(r.nearest, 4),
            }
        return Routing(routes, channels)

    def _per_label(self, p_classes: np.ndarray, nearest: np.ndarray) -> np.ndarray:
        """A head's probabilities of its classes as the router's labels': a class that is a
        label is that label; ANY_ARTICLE is shared among the articles as the neighbours
        channel would share it among them alone (nearest: each label's best cosine)."""
        import numpy as np

        p = p_classes[self._class_of]
        if not self._shared.any():
            return p
        return np.where(self._shared, p * _softmax(np.where(self._shared, nearest, -np.inf)), p)

    def _nlu_distribution(self, ranking: list[dict], router: np.ndarray) -> np.ndarray | None:
        """Rasa's intent ranking as a distribution over the router's labels (None if empty)."""
        import numpy as np

        out = np.zeros(len(self.labels), dtype=np.float64)
        articles = np.array([label.startswith(ARTICLE) for label in self.labels])
        for item in ranking:
            name, confidence = item.get("name"), float(item.get("confidence") or 0.0)
            if name == "ask_question" and articles.any():
                share = router * articles
                total = share.sum()
                out += confidence * (share / total if total > 0 else articles / articles.sum())
            elif name and INTENT + name in self._index:
                out[self._index[INTENT + name]] += confidence
        total = out.sum()
        return out / total if total > 0 else None

    def save(self, folder: Path, trained_from: dict) -> None:
        """Write the router into an index version's folder (staged with it)."""
        with (folder / ROUTER_FILE).open("wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.save_info(folder, trained_from)

    def save_info(self, folder: Path, trained_from: dict) -> None:
        """Write the router's description (router.json) into an index version's folder."""
        info = {
            "version": ROUTER_VERSION,
            "labels": len(self.labels),
            "classes": len(self.classes),
            "article_classes": self.article_classes,
            "phrasings": len(self.phrasings),
            "weights": WEIGHTS,
            "temperature": TEMPERATURE,
            "trained_from": trained_from,
        }
        (folder / ROUTER_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def changed_articles(
        self, removed: set[str], phrasings: list[Phrasing], vectors: np.ndarray
    ) -> Router:
        """This router with some articles' phrasings replaced, its heads and character n-grams
        as they are: what a live save does above PER_ARTICLE_CLASSES_UP_TO articles, where the
        heads learn "an article" as one class and the nearest phrasings pick which. The
        removed labels, and every label of the given phrasings, are dropped first.

        A save then costs its own phrasings, not a refit over every article's (the router is
        recorded as not exact and trained from scratch when the writer pauses)."""
        import numpy as np

        changed = set(removed) | {p.label for p in phrasings}
        keep = [i for i, p in enumerate(self.phrasings) if p.label not in changed]
        kept = [self.phrasings[i] for i in keep]
        all_phrasings = kept + list(phrasings)
        added = np.asarray(vectors, np.float32).reshape(-1, self.vectors.shape[1])
        all_vectors = np.vstack([self.vectors[keep], added])
        labels = sorted({p.label for p in all_phrasings})
        return type(self)(
            labels,
            self.embedding_head,
            self.char_head,
            self.chars,
            all_vectors.astype(np.float32, copy=False),
            all_phrasings,
            self.classes,
            self.per_article_up_to,
        )

    def keeps_heads_for(self, labels: list[str]) -> bool:
        """True when a router of these labels has this router's head classes (above the
        per-article count, only articles changed): changed_articles can serve it."""
        return ANY_ARTICLE in self._class_index and (
            head_classes(labels, self.per_article_up_to) == self.classes
        )

    def save_changes(
        self, folder: Path, base: Path, removed: set[str], added: list[Phrasing], vectors
    ) -> None:
        """Write this router into a version's folder as its base's router file (hard-linked,
        not copied) and the article labels changed since it: a save writes its own part."""
        import os

        os.link(base / ROUTER_FILE, folder / ROUTER_FILE)
        with (folder / ROUTER_DELTA).open("wb") as handle:
            pickle.dump((sorted(removed), added, vectors), handle, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def load(folder: Path, bases: dict | None = None) -> Router | None:
        """The router of an index version, or None if it was built without one.

        bases: routers already loaded, by their file's identity (device, inode): a version
        whose router file is a hard link to a loaded one reads only its changes."""
        path = folder / ROUTER_FILE
        if not path.exists():
            return None
        info = path.stat()
        key = (info.st_dev, info.st_ino)
        router = bases.get(key) if bases is not None else None
        if router is None:
            router = Router._read(path)
            if bases is not None:
                bases.clear()  # only the newest is worth keeping
                bases[key] = router
        delta = folder / ROUTER_DELTA
        if delta.exists():
            with delta.open("rb") as handle:
                removed, added, vectors = pickle.load(handle)  # noqa: S301 - as _read's
            router = router.changed_articles(set(removed), added, vectors)
        return router

    @staticmethod
    def _read(path: Path) -> Router:
        # Only `bot kb build` writes here: the index folder is as trusted as the code.
        try:
            with path.open("rb") as handle:
                router = pickle.load(handle)  # noqa: S301
        except Exception as exc:  # e.g. written by another scikit-learn or an older router
            raise RouterUnreadable(
                f"{path}: cannot read the router ({exc.__class__.__name__}: {exc}); "
                "rebuild the index with `bot kb build`"
            ) from exc
        if not isinstance(router, Router):
            raise RouterUnreadable(f"{path}: not a router; rebuild the index with `bot kb build`")
        if getattr(router, "version", None) != ROUTER_VERSION:
            raise RouterUnreadable(
                f"{path}: a router of another version; rebuild the index with `bot kb build`"
            )
        return router
