"""Variants' attributes as filters: the sync's compact table, a material a variant inherits, and
a size said before the noun ("large candles")."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from bot.catalog.query import Filters, Vocabulary, parse, size_matches
from bot.catalog.search import ProductSearch, matching_variants
from bot.catalog.store import CatalogVersion
from bot.catalog.sync import SyncOptions, sync
from bot.kb.embedder import Embedder
from tests.catalog_fixtures import DEMO_NOW

SAMPLES = Path(__file__).parent / "catalog"


@pytest.mark.parametrize(
    ("question", "sizes"),
    [
        ("do you have large candles", ("large",)),
        ("small mugs please", ("small",)),
        ("candles in large", ("large",)),
        ("is the medium linen apron in stock?", ("medium",)),
        ("a large number of candles", ()),  # a quantity, not a size
        ("any candles", ()),
    ],
)
def test_a_size_before_the_noun_is_a_filter(question: str, sizes: tuple[str, ...]) -> None:
    assert parse(question, Vocabulary()).filters.sizes == sizes


@pytest.mark.model
def test_a_variant_without_a_material_has_its_products(tmp_path: Path, embedder: Embedder) -> None:
    """The sample's linen runner states "Linen" on its sage variant only: the charcoal one is
    linen too, for the search, the shop's count and the shop page alike."""
    sync(
        SyncOptions(str(SAMPLES / "sample-feed.xml"), tmp_path / "c", "all-MiniLM-L6-v2"),
        encoder=embedder,
    )
    search = ProductSearch(tmp_path / "c", "all-MiniLM-L6-v2", encoder=lambda: embedder)
    found = search.search("linen runner in charcoal", now=DEMO_NOW)
    assert not found.relaxed and found.filters.materials == ("linen",)
    assert [v.id for v in found.hits[0].variants] == ["RUN-CHAR-240"]
    runner = search.product("RUN")
    linen = Filters(materials=("linen",))
    assert [v.id for v in matching_variants(runner, linen)] == ["RUN-SAGE-180", "RUN-CHAR-240"]
    assert search.count(linen) == 1
    assert search.count(Filters(materials=("oak",))) == 0


@pytest.mark.model
def test_the_variants_table_lets_through_exactly_what_opening_the_products_does(
    demo_catalog: Path,
) -> None:
    """A plain reference: every product opened and its variants checked one by one."""
    version = CatalogVersion(demo_catalog)
    products = version.all_products()
    search_index = ProductSearch(demo_catalog, "all-MiniLM-L6-v2")._index
    table = search_index.variants
    assert table is not None
    colours = [(), ("green",), ("forest green",), ("blue", "white"), ("mustard yellow",)]
    sizes = [(), ("large",), ("240cm",), ("m",), ("350ml",)]
    materials = [(), ("linen",), ("oak",), ("stoneware", "linen")]
    for colour, size, material in itertools.product(colours, sizes, materials):
        filters = Filters(colours=colour, sizes=size, materials=material)
        expected = np.array([bool(matching_variants(p, filters, DEMO_NOW)) for p in products])
        got = table.matching(filters)
        got = np.ones(len(products), dtype=bool) if got is True else got
        assert np.array_equal(got, expected), filters
    version.close()


@pytest.mark.model
def test_a_colour_no_product_has_opens_no_product_before_searching_without_it(
    product_search: ProductSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []
    version = product_search.version
    original = version.products

    def counting(ordinals: list[int]):
        opened.extend(ordinals)
        return original(ordinals)

    monkeypatch.setattr(version, "products", counting)
    result = product_search.search("enamel saucepan in purple", limit=3, now=DEMO_NOW)
    assert result.relaxed and result.hits
    assert len(opened) <= 8  # only the search without the colour opens its first few


def test_a_size_before_the_noun_beside_a_colour_only_orders() -> None:
    """ "small enamel milk pan blue": a small blue vase fits both attributes; the pan is meant."""
    vocabulary = Vocabulary(colours={"blue"})
    assert parse("small enamel milk pan blue", vocabulary).filters.sizes == ()


@pytest.mark.parametrize(
    ("asked", "size", "matches"),
    [
        ("m", "S/M", True),
        ("medium", "S/M", True),
        ("large", "L/XL", True),
        ("medium", "L/XL", False),
        ("medium", "Medium", True),
        ("small", "Tall", False),
        ("26cm", "26 cm", True),
        ("6cm", "26 cm", False),
    ],
)
def test_a_size_asked_matches_the_sizes_that_have_it(asked: str, size: str, matches: bool) -> None:
    assert size_matches(asked, size) is matches
