"""Product search: words (titles, brands, kinds, attributes; SKU/GTIN exact; typos forgiven) and
meaning (the knowledge base's embedding model) fused, with the question's attributes as filters.

Variants of one product are one result, carrying the variants that match what was asked. The
catalogue version is reloaded when a sync publishes a newer one; a search in flight keeps the
version it started with.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from bot.catalog.english import little_word_spellings, real_words, stop_typos
from bot.catalog.product import Item, Product
from bot.catalog.query import (
    Filters,
    Parsed,
    Vocabulary,
    colour_matches,
    parse,
    size_matches,
)
from bot.catalog.store import ANN_MIN_PRODUCTS, CatalogVersion, search_words
from bot.catalog.text import STOP, words
from bot.catalog.variants import VariantTable
from bot.kb.embedder import canonical_model_name

if TYPE_CHECKING:
    import numpy as np

    from bot.kb.search import QueryEncoder

logger = logging.getLogger(__name__)
FIELD_WEIGHTS = {"title": 3.0, "type": 2.0, "brand": 1.5, "attributes": 1.0}
SEMANTIC_WEIGHT = 1.0
LEXICAL_WEIGHT = 0.8
COMMON_IDF = math.log(3)  # in more than half of the products
CANDIDATES = 200  # at most this many products are opened to check their variants
# in a catalogue with an ANN index, the fused score is computed for the products that pass the
# filters when at most EXACT_POOL do; else for the SEMANTIC_POOL closest in meaning, the
# LEXICAL_POOL best by words and the SEMANTIC_POOL closest in meaning among those with a word
EXACT_POOL = 4000
SEMANTIC_POOL = 400
LEXICAL_POOL = 1000
IN_STOCK_BONUS = 0.03  # of two equal matches, the one a shopper can buy today comes first
TITLE_COVERAGE = 0.1  # share of the title's words the question names
# a question of at most this many words (besides SHOPPING_WORDS) is read with its typos corrected
MAX_CORRECTED_WORDS = 2
SHOPPING_WORDS = frozenset(
    ["sell", "sold", "buy", "got", "get", "need", "want", "looking", "find", "under", "over"]
    + ["much", "price", "cost"]  # "how much is the oak bord": a price asked, the rest the product
)
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{3,}")
LETTERS = re.compile(r"[A-Za-z]+")


class CatalogModelMismatch(RuntimeError):
    """The catalogue was embedded with another model than the one configured."""


@dataclass(frozen=True)
class ProductHit:
    """One product found, with the variants that match the question's filters."""

    product: Product
    score: float
    lexical: float
    semantic: float
    variants: tuple[Item, ...]
    exact: bool = False  # found by its SKU, GTIN or MPN

    def to_dict(self, now: dt.datetime | None = None) -> dict:
        """JSON form: the product's name, link, price range and the matching variants."""
        low, high = self.product.price_range(now)
        return {
            "id": self.product.id,
            "title": self.product.title,
            "link": self.product.link,
            "score": round(self.score, 4),
            "lexical": round(self.lexical, 4),
            "semantic": round(self.semantic, 4),
            "exact": self.exact,
            "price": str(low) if low == high else f"{low} – {high}",
            "variants": [
                {
                    "id": v.id,
                    "title": v.title,
                    "price": str(v.current_price(now)),
                    "regular_price": str(v.price),
                    "availability": v.availability,
                }
                for v in self.variants
            ],
        }


@dataclass(frozen=True)
class SearchResult:
    """The best products for a question, the filters read from it, and whether more matched."""

    question: str
    filters: Filters
    hits: list[ProductHit]
    more: int  # further products that matched, beyond the hits
    relaxed: bool = False  # no product had the asked attributes: these hits are without them

    def to_dict(self, now: dt.datetime | None = None) -> dict:
        """JSON form."""
        return {
            "question": self.question,
            "filters": self.filters.to_dict(),
            "hits": [h.to_dict(now) for h in self.hits],
            "more": self.more,
            "relaxed": self.relaxed,
        }


class _Scored(NamedTuple):
    """One question read against one catalogue version, whatever the filters."""

    question: str
    exact: int | None  # the product its SKU, GTIN or MPN names
    lexical: np.ndarray  # every product's score by the question's words
    query: np.ndarray  # the question's vector


class _Index:
    """What one catalogue version's search needs in memory: postings, codes, filter columns."""

    def __init__(
        self,
        version: CatalogVersion,
        real: frozenset[str] = frozenset(),
        stop_typos: frozenset[str] = frozenset(),
    ) -> None:
        import numpy as np

        self.version = version
        rows = version.rows()
        self.size = len(rows)
        self.titles = [r[2] for r in rows]
        # a title's length in words: of two titles with the asked words, the shorter fits better
        self.title_words = np.array([max(1, len(words(r[2]))) for r in rows], dtype=np.float32)
        self.title_postings: dict[str, np.ndarray] = {}
        self.min_price = np.array([r[9] for r in rows], dtype=np.float64)
        self.in_stock = np.array([bool(r[10]) for r in rows], dtype=bool)
        # the kinds a product is of: every part of its product_type ("Candles", "Taper Candles")
        self.kind_postings: dict[str, set[int]] = {}
        for row in rows:
            for kind in kinds_of(row[4]):
                self.kind_postings.setdefault(kind, set()).add(row[0])
        self.codes: dict[str, int] = {}
        postings: dict[str, dict[int, float]] = {}
        self.colour_postings: dict[str, set[int]] = {}
        self.material_postings: dict[str, set[int]] = {}
        for row in rows:
            ordinal = row[0]
            for code in json.loads(row[8]):
                self.codes.setdefault(code.lower(), ordinal)
            for name, field_words in search_words(row).items():
                weight = FIELD_WEIGHTS[name]
                for word in field_words:
                    if word in STOP:
                        continue
                    slot = postings.setdefault(word, {})
                    if slot.get(ordinal, 0.0) < weight:
                        slot[ordinal] = weight
            for colour in json.loads(row[5]):
                for word in words(colour):
                    self.colour_postings.setdefault(word, set()).add(ordinal)
            for material in json.loads(row[7]):
                for word in words(material):
                    self.material_postings.setdefault(word, set()).add(ordinal)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word, slot in postings.items():
            idf = math.log(1 + self.size / len(slot))
            ords = np.fromiter(slot.keys(), dtype=np.int64, count=len(slot))
            weights = np.fromiter(slot.values(), dtype=np.float32, count=len(slot))
            self.postings[word] = (ords, weights * idf)
            self.title_postings[word] = ords[weights == FIELD_WEIGHTS["title"]]
        self.idf = {w: math.log(1 + self.size / len(p[0])) for w, p in self.postings.items()}
        self.terms = sorted(self.postings)
        # real words are not typos of the catalogue's ("back" is not "black"); the little
        # words' typos ("teh") ask for nothing, unless the catalogue has the word
        self.real = real
        self.little = STOP | {t for t in stop_typos if t not in self.postings}
        # the terms by length: a word's typos are looked for only among words of a length
        # within the typos allowed (a collection's names make most terms one length)
        self._terms_by_length: dict[int, list[str]] = {}
        for term in self.terms:
            self._terms_by_length.setdefault(len(term), []).append(term)
        self._near_length: dict[tuple[int, int], list[str]] = {}
        # products none of whose variants has a colour: their titles say it ("Natural")
        self.colourless = np.array([not json.loads(r[5]) for r in rows], dtype=bool)
        attributes = version.variant_attributes()
        # None for a version synced before the column: the colours' postings narrow it then
        self.variants = None if attributes is None else VariantTable(attributes)
        self.ann = version.ann()  # None below ANN_MIN_PRODUCTS: every vector is scored
        self.vocabulary = Vocabulary(
            set(self.colour_postings),
            set(self.material_postings),
            set(self.postings),
            {tuple(words(c)) for row in rows for c in json.loads(row[5])},
        )

    def correct(self, term: str) -> str | None:
        """The catalogue's word closest to a word it does not know (one or two typos away);
        None for a real word it does not have, and for a typo of a little word ("teh")."""
        if term in self.postings:
            return term
        if len(term) < 4 or term.isdigit() or term in self.little:
            return None
        if term in self.real:
            # a real word is not a typo ("back" is not "black", "safe" not "sage"); the
            # catalogue's word with "d" or "ed" is that word ("striped": "stripe")
            if term.endswith("ed"):
                for stem in (term[:-1], term[:-2]):
                    if len(stem) >= 4 and stem in self.postings:
                        return stem
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        limit = 1 if len(term) < 8 else 2
        # OSA: two letters swapped ("candels") is one typo, as a shopper makes it
        found = process.extractOne(
            term, self._near(len(term), limit), scorer=OSA.distance, score_cutoff=limit
        )
        if found and len(term) < 6 and found[0][0] != term[0]:
            return None  # a short word with another first letter is another word (food, wood)
        return found[0] if found else None

    def _near(self, length: int, limit: int) -> list[str]:
        """The terms whose length is within `limit` of `length`, in the order of self.terms
        (a longer or shorter word is more than `limit` edits away: the same word is found, and
        of equally close ones the same comes first)."""
        near = self._near_length.get((length, limit))
        if near is None:
            near = sorted(
                term
                for size in range(length - limit, length + limit + 1)
                for term in self._terms_by_length.get(size, ())
            )
            self._near_length[(length, limit)] = near  # threads may make it twice: the same list
        return near


class ProductSearch:
    """Searches the current catalogue version; safe to share between threads."""

    def __init__(
        self,
        catalog_dir: Path,
        model_name: str,
        encoder: Callable[[], QueryEncoder] | None = None,
        reload_check_seconds: float = 1.0,
    ) -> None:
        self.catalog_dir = catalog_dir
        self.model_name = canonical_model_name(model_name)
        self._encoder_factory = encoder
        self._encoder: QueryEncoder | None = None
        self._reload_check_seconds = reload_check_seconds
        self._lock = threading.Lock()
        self._checked = 0.0
        self._loading: threading.Thread | None = None
        self._index = self._open()

    def _open(self) -> _Index:
        version = CatalogVersion(self.catalog_dir)
        if version.manifest.get("model") != self.model_name:
            version.close()
            raise CatalogModelMismatch(
                f"the catalogue in {self.catalog_dir}/ was embedded with "
                f"{version.manifest.get('model')!r}, the settings say {self.model_name!r}: "
                "run `bot catalog sync`"
            )
        return _Index(version, real_words(self.model_name), stop_typos(self.model_name))

    @property
    def version(self) -> CatalogVersion:
        """The catalogue version searches read now."""
        return self._index.version

    def reload_if_stale(self) -> bool:
        """Open the newest version if a sync published one since; True when it did.

        A large catalogue (ANN_MIN_PRODUCTS and more) is opened in a background thread while
        searches go on with the version they have; the new one replaces it in one assignment
        when it is ready (then this returns True)."""
        now = time.monotonic()
        if now - self._checked < self._reload_check_seconds:
            return False
        self._checked = now
        if not self._index.version.is_stale():
            return False
        with self._lock:
            if not self._index.version.is_stale():
                return False
            if self._index.size < ANN_MIN_PRODUCTS:
                self._index = self._open()  # the old version's readers finish with the old object
                return True
            if self._loading is None:
                self._loading = threading.Thread(
                    target=self._load_in_background, name="catalog-reload", daemon=True
                )
                self._loading.start()
        return False

    def _load_in_background(self) -> None:
        try:
            index = self._open()
        except Exception:  # noqa: BLE001 - the version in use keeps answering; retried later
            logger.exception("catalogue reload failed; the version in use keeps answering")
            index = None
        with self._lock:
            if index is not None:
                self._index = index
            self._loading = None

    def _embed(self, text: str) -> np.ndarray:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    if self._encoder_factory is None:
                        from bot.kb.embedder import Embedder

                        self._encoder = Embedder(self.model_name)
                    else:
                        self._encoder = self._encoder_factory()
        return self._encoder.encode_query(text)[0]

    def knows(self, word: str) -> bool:
        """Whether the catalogue's titles, brands, types or attributes have the word (or, for
        a word that is not a real one, a word a typo or two from it)."""
        return self._index.correct(word) is not None

    def asks_nothing(self, word: str) -> bool:
        """Whether the word is one of the little words every question has ("the", "is"), or
        a typo of one ("teh")."""
        return word in self._index.little

    def respelled(self, text: str) -> str:
        """The text with the typos of little words spelled right ("hwo much is teh mug?" is
        "how much is the mug?"), so what is read by its words ("how much") is read; a word the
        catalogue has stays as it is."""
        spellings = little_word_spellings(self.model_name)
        postings = self._index.postings

        def spelled(match: re.Match) -> str:
            read = words(match.group(0))
            if len(read) != 1 or read[0] in postings:
                return match.group(0)
            return spellings.get(read[0], match.group(0))

        return LETTERS.sub(spelled, text) if spellings else text

    def product(self, product_id: str) -> Product | None:
        """One product by its id (item_group_id), SKU, GTIN or MPN."""
        index = self._index
        ordinal = index.codes.get(product_id.lower())
        if ordinal is None:
            return None
        return index.version.products([ordinal]).get(ordinal)

    def search(
        self,
        question: str,
        limit: int = 3,
        filters: Filters | None = None,
        now: dt.datetime | None = None,
        prefer_in_stock: bool = True,
        among: Sequence[str] | None = None,
    ) -> SearchResult:
        """The best products for a question, variants grouped, filters applied.

        When no product has the attributes asked for (a colour, size or material it does not come
        in), the result holds the best products without them and says so (`relaxed`). `among`:
        only these products (ids), as when "the second one" or "in blue instead" refers to the
        products just shown.
        """
        self.reload_if_stale()
        index = self._index
        parsed = parse(question, index.vocabulary)
        filters = filters or parsed.filters
        bonus = IN_STOCK_BONUS if prefer_in_stock else 0.0
        only = None if among is None else [index.codes.get(i.lower()) for i in among]
        only = None if only is None else [o for o in only if o is not None]
        # the words' scores and the question's vector do not depend on the filters: one
        # computation serves the strict pass and the relaxed ones
        scored = self._score(index, question, parsed)
        result = self._search(index, scored, filters, limit, now, bonus, only)
        if result.hits or filters.relaxed() == filters:
            return result
        if filters.sizes and (filters.colours or filters.materials):
            # a size nobody has it in ("small enamel milk pan blue"): the colour still counts
            unsized = replace(filters, sizes=())
            found = self._search(index, scored, unsized, limit, now, bonus, only)
            if found.hits:
                return SearchResult(question, filters, found.hits, found.more, relaxed=True)
        relaxed = filters.relaxed()
        fallback = self._search(index, scored, relaxed, limit, now, bonus, only)
        return SearchResult(question, filters, fallback.hits, fallback.more, relaxed=True)

    def count(self, filters: Filters, kind: str = "") -> int:
        """How many products of a kind ("" any) the filters let through, as the shop's page
        of that kind with those filters lists them (read from the products' columns: a product
        counts when one of its variants has each asked attribute)."""
        import numpy as np

        self.reload_if_stale()
        index = self._index
        mask = self._mask(index, filters) & self._attribute_mask(index, filters)
        if kind:
            keep = np.zeros(index.size, dtype=bool)
            keep[list(index.kind_postings.get(kind, ()))] = True
            mask &= keep
        return int(mask.sum())

    def _score(self, index: _Index, question: str, parsed: Parsed) -> _Scored:
        """What a question's passes share: its exact code, its words' scores, its vector."""
        import numpy as np

        text = parsed.text
        exact = self._exact(index, question)
        asked_words = [w for w in parsed.words if w not in index.little]
        corrected = {t: index.correct(t) for t in dict.fromkeys(asked_words)}
        query_terms = [c for c in (corrected[t] for t in asked_words) if c]
        # the words it corrected, for the meaning too ("candels" means nothing to the model),
        # when the question is little more than what it looks for: in a longer one a corrected
        # word is more likely another word ("shopping" is not "chopping")
        fixed = [c for t, c in corrected.items() if c and c != t and t not in index.postings]
        if len([w for w in corrected if w not in SHOPPING_WORDS]) > MAX_CORRECTED_WORDS:
            fixed = []
        lexical = np.zeros(index.size, dtype=np.float32)
        best = 0.0
        # a word most products have ("home", "garden" of every product_type) tells nothing
        query_terms = [t for t in query_terms if index.idf[t] > COMMON_IDF]
        for term in dict.fromkeys(query_terms):
            ords, weights = index.postings[term]
            lexical[ords] += weights
            best += FIELD_WEIGHTS["title"] * index.idf[term]
        if best:
            lexical /= best
            coverage = np.zeros(index.size, dtype=np.float32)
            for term in dict.fromkeys(query_terms):
                coverage[index.title_postings[term]] += 1.0
            lexical += TITLE_COVERAGE * coverage / index.title_words
        meant = " ".join([text or question, *fixed])
        return _Scored(question, exact, lexical, self._embed(meant))

    def _search(
        self,
        index: _Index,
        scored: _Scored,
        filters: Filters,
        limit: int,
        now: dt.datetime | None,
        bonus: float,
        only: list[int] | None = None,
    ) -> SearchResult:
        import numpy as np

        question, exact, lexical, query = scored
        mask = self._mask(index, filters) & self._attribute_mask(index, filters)
        if only is not None:
            among = np.zeros(index.size, dtype=bool)
            among[only] = True
            mask &= among
            exact = exact if exact is not None and among[exact] else None
        if exact is not None:
            mask[exact] = True
        matched = int(mask.sum())
        take = min(CANDIDATES, matched)
        if take == 0:
            return SearchResult(question, filters, [], 0)
        pool = candidates(index, query, lexical, mask, matched)
        if exact is not None and not (pool == exact).any():
            pool = np.append(pool, exact)
        vectors = index.version.vectors
        rows = vectors if len(pool) == index.size else vectors[pool]
        # einsum, not BLAS: a multi-threaded BLAS matrix-vector product waits for its threads
        # (on a busy 2-core machine 28 ms for 2,000 products against 0.05 ms on one thread)
        semantic = np.einsum("ij,j->i", rows, query)
        fused = SEMANTIC_WEIGHT * semantic + LEXICAL_WEIGHT * lexical[pool]
        fused += bonus * index.in_stock[pool]
        if exact is not None:
            fused[pool == exact] = 10.0
        take = min(take, len(pool))
        top = np.argpartition(-fused, take - 1)[:take]
        top = top[np.lexsort((pool[top], -fused[top]))]  # best first; ties by feed order
        hits: list[ProductHit] = []
        # open a few products first (most questions need no more), then larger batches
        start, batch = 0, limit * 2 + 2
        while start < len(top) and len(hits) <= limit:  # one more than shown: is there more?
            chunk = top[start : start + batch]
            start += batch
            batch = limit * 4 + 8
            products = index.version.products([int(pool[i]) for i in chunk])
            for position in chunk:
                ordinal = int(pool[position])
                variants = matching_variants(products[ordinal], filters, now)
                if variants:
                    hits.append(
                        ProductHit(
                            products[ordinal],
                            float(fused[position]),
                            float(lexical[ordinal]),
                            float(semantic[position]),
                            tuple(variants),
                            exact=ordinal == exact,
                        )
                    )
        shown = hits[:limit]
        # the others found, and those that passed the filters' first cut but were not opened
        more = len(hits) - len(shown) + (max(0, matched - start) if len(hits) > limit else 0)
        return SearchResult(question, filters, shown, more)

    def common_kind(self, products: Sequence[Product]) -> str:
        """The narrowest kind all these products are of ("Candles" for a taper and a jar
        candle), or "" when they share only the kind every product is of ("Home & Garden")."""
        if not products:
            return ""
        index = self._index
        shared = [k for k in kinds_of(products[0].product_type)]
        for product in products[1:]:
            theirs = set(kinds_of(product.product_type))
            shared = [k for k in shared if k in theirs]
        narrow = [k for k in shared if len(index.kind_postings.get(k, ())) < index.size]
        return narrow[-1] if narrow else ""

    @staticmethod
    def _exact(index: _Index, question: str) -> int | None:
        for token in CODE.findall(question):
            ordinal = index.codes.get(token.lower())
            if ordinal is not None and any(c.isdigit() for c in token):
                return ordinal
        return None

    @staticmethod
    def _attribute_mask(index: _Index, filters: Filters) -> np.ndarray | bool:
        """The products with a variant that has the asked colour, size and material (a product
        without colours: its variants' titles): the rest are not opened. From the variants'
        table; for a version synced without one, the products that may have a variant in each
        asked colour (a product without colours is checked when opened)."""
        if index.variants is not None:
            return index.variants.matching(filters)
        mask: np.ndarray | bool = True
        for colour in filters.colours:
            keep = index.colourless.copy()
            for word in colour.split():
                keep[list(index.colour_postings.get(word, ()))] = True
            mask = mask & keep
        return mask

    @staticmethod
    def _mask(index: _Index, filters: Filters) -> np.ndarray:
        import numpy as np

        mask = np.ones(index.size, dtype=bool)
        if filters.max_price is not None:
            mask &= index.min_price <= float(filters.max_price)
        if filters.in_stock:
            mask &= index.in_stock
        if filters.materials and index.variants is None:
            postings = index.material_postings
            allowed = set().union(*(postings.get(a, set()) for a in filters.materials))
            keep = np.zeros(index.size, dtype=bool)
            keep[list(allowed)] = True
            mask &= keep
        return mask


def candidates(
    index: _Index, query: np.ndarray, lexical: np.ndarray, mask: np.ndarray, matched: int
) -> np.ndarray:
    """The products (ordinals, all within `mask`) whose fused score is worth computing.

    Below ANN_MIN_PRODUCTS, or when few products pass the filters, that is all of them: the
    ranking is exact. Otherwise: the closest in meaning (the IVF index, within the filters),
    the best by words, and the closest in meaning among those with any of the words, so a
    word every candle has ("candle") does not leave the ranking among candles to chance."""
    import numpy as np

    if index.ann is None or matched <= EXACT_POOL:
        return np.flatnonzero(mask)
    parts = [_nearest(index, query, None if matched == index.size else mask)]
    worded = mask & (lexical > 0)
    words_matched = int(worded.sum())
    if words_matched <= max(EXACT_POOL, LEXICAL_POOL):
        parts.append(np.flatnonzero(worded))
    else:
        ordinals = np.flatnonzero(worded)
        best = np.argpartition(-lexical[ordinals], LEXICAL_POOL - 1)[:LEXICAL_POOL]
        parts.append(ordinals[best])
        parts.append(_nearest(index, query, worded))
    return np.unique(np.concatenate(parts))


def _nearest(index: _Index, query: np.ndarray, within: np.ndarray | None) -> np.ndarray:
    """The SEMANTIC_POOL products closest in meaning (IVF search), within a mask if given."""
    import faiss
    import numpy as np

    params = None
    if within is not None:
        bits = np.packbits(within, bitorder="little")
        params = faiss.SearchParametersIVF(
            sel=faiss.IDSelectorBitmap(len(within), faiss.swig_ptr(bits)),
            nprobe=index.ann.nprobe,
        )
    _, found = index.ann.search(query.reshape(1, -1), SEMANTIC_POOL, params=params)
    found = found[0]
    return found[found >= 0].astype(np.int64)


def kinds_of(product_type: str) -> list[str]:
    """The kinds a product_type names, broadest first ("Home & Garden > Candles" -> both)."""
    return [part.strip() for part in product_type.split(">") if part.strip()]


def matching_variants(
    product: Product, filters: Filters, now: dt.datetime | None = None
) -> list[Item]:
    """The variants of a product that have what the filters ask for."""
    has_colours = any(v.color for v in product.variants)
    asked_materials = set(filters.materials)
    out = []
    for variant in product.variants:
        if filters.colours:
            own = set(words(variant.color)) if has_colours else set(words(variant.title))
            if not any(colour_matches(c, own) for c in filters.colours):
                continue
        if filters.sizes and not any(size_matches(s, variant.size) for s in filters.sizes):
            continue
        if asked_materials and not set(words(product.material_of(variant))) & asked_materials:
            continue
        price = variant.current_price(now).amount
        if filters.max_price is not None and price > filters.max_price:
            continue
        if filters.min_price is not None and price < filters.min_price:
            continue
        if filters.in_stock and variant.availability != "in_stock":
            continue
        if filters.on_sale and not variant.on_sale(now):
            continue
        out.append(variant)
    return out
