"""The router's `product` route: what it learns from, besides the articles and the NLU examples.

Two sources: the writers' phrasings of product questions (setting `catalog_phrasings`, a YAML
list under `product:`), and phrasings made at `kb build` from the catalogue itself, a bounded
number whatever its size: a few questions about each of the commonest product types ("do you
sell tealights?") and one about each of an evenly spread sample of product titles ("how much is
the oak serving board?"). The catalogue is read from its synced version (two columns of its
product table), or, before the first sync, from a feed that is a local file.

And the articles learn the catalogue's words too: a product's name in a message is no sign of a
product question ("my mug arrived broken" is the damaged-item article's, not the catalogue's).
`service_phrasings` makes, from the articles' phrasings about an item ("the item came broken"),
the same with kinds of product the catalogue sells ("the mug came broken"), for their article.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from pathlib import Path

import yaml

from bot.catalog.text import singular
from bot.kb.problems import Problem
from bot.kb.router import ARTICLE, PRODUCT, NluFileError, Phrasing

MAX_TYPES = 40  # the commonest product types (their last part: "Taper Candles")
MAX_TITLES = 80  # titles, spread evenly over the catalogue's sorted titles
# Questions, not bare names: a type or title alone ("cups", "dinner plates") is the nearest
# phrasing of too many messages from outside the shop ("how many ounces in a cup"; measured
# with benchmarks/router_offline.py, benchmarks/README.md "The product route").
TYPE_TEMPLATES = ("do you sell {kind}", "what {kind} do you have")
TITLE_TEMPLATES = ("how much is the {title}", "is the {title} in stock")
# An article's phrasing about an item bought: "an item", "the product", "something" (the
# article is about what happens to an order's thing, whatever the thing is)
AN_ITEM = re.compile(r"\b(?:(an?|the|my|one) )?(item|product|something)\b", re.IGNORECASE)
# ... but not one about buying it: the product route's ("how do I buy something from you")
BUYING = re.compile(r"\b(?:buy|purchase|pre-?order|order (?:an?|something))\b", re.IGNORECASE)
SERVICE_KINDS = 2  # kinds of product put in each such phrasing


def writers_phrasings(path: Path | None) -> list[Phrasing]:
    """The writers' product phrasings; raises NluFileError (file and line) if malformed."""
    if path is None or not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise NluFileError(Problem(str(path), line, f"invalid YAML: {exc}")) from exc
    texts = data.get(PRODUCT) if isinstance(data, dict) else None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise NluFileError(Problem(str(path), 1, f"'{PRODUCT}' must be a list of phrasings"))
    return [Phrasing(t.strip(), PRODUCT, f"products:{path.name}") for t in texts if t.strip()]


def catalogue_terms(catalog_dir: Path | None, feed: str | None) -> list[tuple[str, str]]:
    """(title, product type) of every product: the synced catalogue's, else a local feed's."""
    if catalog_dir is not None:
        rows = _synced(catalog_dir)
        if rows is not None:
            return rows
    if feed and "://" not in feed and Path(feed).is_file():
        from bot.catalog.feed import FeedError, parse_feed
        from bot.catalog.product import group

        try:
            parsed = parse_feed(Path(feed).read_bytes())
        except FeedError:
            return []  # `bot catalog sync` says what is wrong with it
        return [(p.title, p.product_type) for p in group(parsed.items)]
    return []


def _synced(catalog_dir: Path) -> list[tuple[str, str]] | None:
    from bot.catalog.store import PRODUCTS_DB
    from bot.kb.store import current_version, version_dir

    version = current_version(catalog_dir)
    if version is None:
        return None
    path = version_dir(catalog_dir, version) / PRODUCTS_DB
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro&immutable=1", uri=True)
    try:
        return conn.execute("SELECT title, type FROM products ORDER BY ordinal").fetchall()
    finally:
        conn.close()


def catalogue_phrasings(terms: list[tuple[str, str]]) -> list[Phrasing]:
    """Questions made from the catalogue's types and titles, at most
    MAX_TYPES x len(TYPE_TEMPLATES) + MAX_TITLES of them, the same for the same catalogue."""
    kinds = Counter(_kind(kind) for _, kind in terms if _kind(kind))
    out = [
        Phrasing(template.format(kind=kind), PRODUCT, "catalogue:type")
        for kind, _ in sorted(kinds.items(), key=lambda k: (-k[1], k[0]))[:MAX_TYPES]
        for template in TYPE_TEMPLATES
    ]
    titles = sorted({" ".join(t.lower().split()) for t, _ in terms if t.strip()})
    if len(titles) > MAX_TITLES:
        step = len(titles) / MAX_TITLES
        titles = [titles[int(i * step)] for i in range(MAX_TITLES)]
    out += [
        Phrasing(TITLE_TEMPLATES[i % len(TITLE_TEMPLATES)].format(title=t), PRODUCT, "catalogue")
        for i, t in enumerate(titles)
    ]
    return out


def service_phrasings(
    articles: list[Phrasing], terms: list[tuple[str, str]], kinds: int = SERVICE_KINDS
) -> list[Phrasing]:
    """Each article phrasing about an item again with `kinds` of the catalogue's commonest
    product kinds in its place ("refund an item i bought here": "refund my taper candle i bought
    here"), the kinds taken in turn so every kind is used; the same for the same inputs."""
    names = _kinds(terms)
    if not names:
        return []
    out: list[Phrasing] = []
    turn = 0
    for phrasing in articles:
        if not phrasing.label.startswith(ARTICLE) or phrasing.source != "question":
            continue
        if not AN_ITEM.search(phrasing.text) or BUYING.search(phrasing.text):
            continue
        for _ in range(min(kinds, len(names))):
            name = names[turn % len(names)]
            turn += 1
            text = AN_ITEM.sub(lambda m, name=name: _named(m, name), phrasing.text, count=1)
            out.append(Phrasing(text, phrasing.label, "catalogue:service"))
    return out


def _named(item: re.Match, name: str) -> str:
    """ "an item" -> "a mug", "the product" -> "the mug", "engraved item" -> "engraved mug",
    "something" -> "a mug"."""
    article = (item.group(1) or "").lower()
    if article in {"a", "an"} or (not article and item.group(2).lower() == "something"):
        article = "an" if name[0] in "aeiou" else "a"
    return f"{article} {name}" if article else name


def _kinds(terms: list[tuple[str, str]]) -> list[str]:
    """The commonest product kinds (at most MAX_TYPES), each as one of it ("taper candle")."""
    kinds = Counter(_kind(kind) for _, kind in terms if _kind(kind))
    ranked = sorted(kinds.items(), key=lambda k: (-k[1], k[0]))[:MAX_TYPES]
    out = []
    for kind, _ in ranked:
        *first, last = kind.split()
        out.append(" ".join([*first, singular(last)]))
    return out


def _kind(product_type: str) -> str:
    """The last part of a product type, in lower case ("Home > Candles > Tealights": tealights)."""
    return " ".join(product_type.split(">")[-1].lower().split())


def product_phrasings(
    path: Path | None, catalog_dir: Path | None = None, feed: str | None = None
) -> list[Phrasing]:
    """Everything the `product` route learns from (the writers' first), without duplicates."""
    phrasings = writers_phrasings(path) + catalogue_phrasings(catalogue_terms(catalog_dir, feed))
    seen: set[str] = set()
    out = []
    for p in phrasings:
        key = p.text.casefold()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
