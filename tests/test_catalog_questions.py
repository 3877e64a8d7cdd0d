"""The product-question file (tests/catalog_questions.yml) against the demo catalogue."""

from __future__ import annotations

import pytest
import yaml

from tests.catalog_fixtures import DEMO_NOW, ROOT

QUESTIONS = yaml.safe_load((ROOT / "tests" / "catalog_questions.yml").read_text())
FIRST_RIGHT = 0.90

pytestmark = pytest.mark.model


def test_the_question_file_is_big_enough() -> None:
    assert len(QUESTIONS) >= 60
    assert len({case["question"] for case in QUESTIONS}) == len(QUESTIONS)


def test_the_right_product_comes_first(product_search) -> None:
    missed = []
    for case in QUESTIONS:
        result = product_search.search(case["question"], limit=3, now=DEMO_NOW)
        first = result.hits[0].product.id if result.hits else None
        if first != case["expect"]:
            missed.append(f"{case['question']!r}: {first} instead of {case['expect']}")
    rate = 1 - len(missed) / len(QUESTIONS)
    assert rate >= FIRST_RIGHT, f"{rate:.2%} first right; missed:\n" + "\n".join(missed)


@pytest.mark.parametrize(
    "case",
    [c for c in QUESTIONS if "price" in c or "availability" in c],
    ids=lambda c: c["question"],
)
def test_availability_and_price_are_right(product_search, case: dict) -> None:
    result = product_search.search(case["question"], limit=3, now=DEMO_NOW)
    hit = next(h for h in result.hits if h.product.id == case["expect"])
    if "availability" in case:
        assert {v.availability for v in hit.variants} == {case["availability"]}
    if "price" in case:
        prices = [v.current_price(DEMO_NOW) for v in hit.variants]
        assert str(min(prices, key=lambda m: m.amount)) == case["price"]


def test_the_index_path_ranks_as_the_full_scan(
    demo_catalog, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large catalogue scores only candidates (its IVF index's nearest, the best by words and
    the nearest among those with a word): on the demo catalogue with pools far smaller than a
    large one's, it puts the same product first as scoring every product does."""
    from bot.catalog import search as search_module
    from bot.catalog import store

    full = search_module.ProductSearch(demo_catalog, "all-MiniLM-L6-v2", encoder=lambda: embedder)
    assert full._index.ann is None
    monkeypatch.setattr(store, "ANN_MIN_PRODUCTS", 1)
    monkeypatch.setattr(search_module, "EXACT_POOL", 10)
    monkeypatch.setattr(search_module, "SEMANTIC_POOL", 15)
    monkeypatch.setattr(search_module, "LEXICAL_POOL", 15)
    pooled = search_module.ProductSearch(demo_catalog, "all-MiniLM-L6-v2", encoder=lambda: embedder)
    assert pooled._index.ann is not None
    same = 0
    for case in QUESTIONS:
        a = full.search(case["question"], limit=3, now=DEMO_NOW).hits
        b = pooled.search(case["question"], limit=3, now=DEMO_NOW).hits
        same += [h.product.id for h in a[:1]] == [h.product.id for h in b[:1]]
    assert same / len(QUESTIONS) >= 0.95
