"""Catalogue syncs: incremental, atomic; a broken feed or a failed fetch keeps the last good one."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from bot.catalog.offer import offers
from bot.catalog.search import ProductSearch
from bot.catalog.store import CatalogVersion, read_status
from bot.catalog.sync import SyncFailed, SyncOptions, sync
from bot.kb.embedder import Embedder
from bot.store.demo import DemoStore

SAMPLES = Path(__file__).parent / "catalog"

pytestmark = pytest.mark.model


class Counting:
    """The shared model, counting the texts it embeds."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.name = embedder.name
        self.dimension = embedder.dimension
        self.texts: list[str] = []

    def encode(self, texts: list[str], batch_size: int = 32):
        self.texts.extend(texts)
        return self.embedder.encode(texts, batch_size)


def test_only_new_or_changed_products_are_embedded(tmp_path: Path, embedder: Embedder) -> None:
    feed = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "sample-feed.xml", feed)
    options = SyncOptions(str(feed), tmp_path / "catalog", "all-MiniLM-L6-v2")
    counting = Counting(embedder)
    first = sync(options, encoder=counting)
    assert first.published and sorted(first.added) == ["MUG-1", "RUN"]
    assert len(counting.texts) == 2
    assert [p.line for p in first.problems] == [51, 57, 62, 68]
    again = sync(options, encoder=counting)
    assert not again.published and again.version == first.version and again.unchanged == 2
    # a new price changes the product but not its words: nothing is embedded
    feed.write_text(
        feed.read_text().replace("<g:price>18 USD</g:price>", "<g:price>19 USD</g:price>")
    )
    priced = sync(options, encoder=counting)
    assert priced.changed == ["MUG-1"] and priced.embedded == 0 and len(counting.texts) == 2
    # a new title is embedded again; a product gone from the feed is removed
    text = feed.read_text().replace("<title>Stoneware Mug</title>", "<title>Stoneware Cup</title>")
    feed.write_text(text.replace("<g:id>RUN-CHAR-240</g:id>", "<g:id>RUN-CHAR-241</g:id>"))
    renamed = sync(options, encoder=counting)
    assert renamed.changed == ["MUG-1", "RUN"] or set(renamed.changed) == {"MUG-1", "RUN"}
    assert renamed.embedded == 1 and counting.texts[-1].startswith("Stoneware Cup")
    version = CatalogVersion(tmp_path / "catalog")
    [mug] = version.products([1]).values()
    assert mug.first.price.amount == Decimal("19")
    version.close()


def test_a_broken_feed_keeps_the_last_good_catalogue(tmp_path: Path, embedder: Embedder) -> None:
    feed = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "sample-feed.xml", feed)
    options = SyncOptions(str(feed), tmp_path / "catalog", "all-MiniLM-L6-v2")
    good = sync(options, encoder=embedder)
    search = ProductSearch(tmp_path / "catalog", "all-MiniLM-L6-v2", encoder=lambda: embedder)
    broken = [
        (b"<html>Maintenance</html>", "not a product feed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><rss/>', "refused"),
        (b"<rss><channel><item>", "not well-formed"),
    ]
    for data, reason in broken:
        feed.write_bytes(data)
        with pytest.raises(SyncFailed, match=reason):
            sync(options, encoder=embedder)
        status = read_status(tmp_path / "catalog")
        assert status["ok"] is False and reason in status["reason"]
        assert status["version"] == good.version  # still serving
        assert search.search("linen runner").hits[0].product.id == "RUN"
    missing = SyncOptions(str(tmp_path / "gone.xml"), tmp_path / "catalog", "all-MiniLM-L6-v2")
    with pytest.raises(SyncFailed, match="no such file"):
        sync(missing, encoder=embedder)
    unreachable = SyncOptions(
        "http://127.0.0.1:9/feed.xml", tmp_path / "catalog", "all-MiniLM-L6-v2"
    )
    with pytest.raises(SyncFailed, match="ConnectError"):
        sync(unreachable, encoder=embedder)
    assert read_status(tmp_path / "catalog")["version"] == good.version


def test_a_search_in_flight_keeps_its_version_and_the_next_sees_the_new_one(
    tmp_path: Path, embedder: Embedder
) -> None:
    feed = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "sample-feed.xml", feed)
    options = SyncOptions(str(feed), tmp_path / "catalog", "all-MiniLM-L6-v2")
    sync(options, encoder=embedder)
    search = ProductSearch(
        tmp_path / "catalog", "all-MiniLM-L6-v2", encoder=lambda: embedder, reload_check_seconds=0
    )
    old = search.version
    feed.write_text(
        feed.read_text().replace("<g:price>18 USD</g:price>", "<g:price>21 USD</g:price>")
    )
    sync(options, encoder=embedder)
    assert old.products([1])[1].first.price.amount == Decimal("18")  # the old version still reads
    hit = search.search("stoneware mug").hits[0]
    assert hit.product.first.price.amount == Decimal("21")


def test_live_stock_and_price_from_the_store_win_over_the_feed(
    product_search: ProductSearch, tmp_path: Path
) -> None:
    store = DemoStore(tmp_path / "store.db")
    now = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    hit = product_search.search("beeswax taper candles natural 20 cm", now=now).hits[0]
    assert hit.product.id == "P1701"
    [feed_offer] = offers(hit.variants, store, now)
    assert (feed_offer.availability, feed_offer.source) == ("out_of_stock", "feed")
    assert feed_offer.availability_date is not None
    store.set_stock(feed_offer.item_id, "in_stock", quantity=12, price="9.50")
    [live] = offers(hit.variants, store, now)
    assert (live.availability, str(live.price), live.source) == ("in_stock", "$9.50", "store")
    assert live.availability_date is None


def test_the_demo_store_shows_the_synced_catalogue(demo_catalog: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bot.settings import Settings
    from bot.web.app import create_app

    settings = Settings(
        settings_file=tmp_path / "none.toml", data_dir=tmp_path / "var", catalog_dir=demo_catalog
    )
    client = TestClient(create_app(settings))
    shop = client.get("/")
    assert shop.status_code == 200
    assert "159 products, page 1 of 4" in shop.text and "Oak Serving Board" in shop.text
    boards = client.get("/", params={"kind": "Boards"})
    assert "Oak Serving Board" in boards.text and "Stoneware Mug" not in boards.text
    # the product page is where the feed's link points
    page = client.get("/products/beeswax-taper-candles-pair", params={"variant": "P1701-02"})
    assert page.status_code == 200
    assert (
        "Beeswax Taper Candles (Pair)" in page.text
        and 'id="P1701-02" class="selected"' in page.text
    )
    assert "Out of stock (expected" in page.text
    assert (
        client.get("/images/beeswax-taper-candles-pair.svg")
        .headers["content-type"]
        .startswith("image/svg+xml")
    )
    missing = client.get("/products/no-such-thing")
    assert missing.status_code == 404 and "no-such-thing" in missing.text
    empty = TestClient(
        create_app(
            Settings(
                settings_file=tmp_path / "none.toml",
                data_dir=tmp_path / "var2",
                catalog_dir=tmp_path / "nothing",
            )
        )
    )
    assert "bot catalog sync" in empty.get("/").text


def test_the_shop_page_keeps_a_questions_filters(demo_catalog: Path, tmp_path: Path) -> None:
    """ "See N more" from the chat opens the shop's page of that kind with the question's
    filters: only candles, only those with a variant at $20 or less, and the pages keep them."""
    import re

    from fastapi.testclient import TestClient

    from bot.settings import Settings
    from bot.web.app import create_app

    settings = Settings(
        settings_file=tmp_path / "none.toml", data_dir=tmp_path / "var", catalog_dir=demo_catalog
    )
    client = TestClient(create_app(settings))
    page = client.get("/", params={"kind": "Candles", "under": "20"})
    assert page.status_code == 200 and "$20 or less" in page.text
    titles = re.findall(r"<h2>([^<]+)</h2>", page.text)
    prices = re.findall(r'<p class="price">\$([\d.]+)', page.text)
    assert titles and all("Candle" in t or "Tealight" in t for t in titles)
    assert all(float(p) <= 20 for p in prices)
    everything = client.get("/", params={"kind": "Candles"})
    assert len(re.findall(r"<h2>", everything.text)) > len(titles)
    in_stock = client.get("/", params={"kind": "Mugs", "in_stock": "1", "colour": "blue"})
    assert "blue · in stock" in in_stock.text and "Out of stock</p>" not in in_stock.text
    for bad in ({"under": "-1"}, {"under": "cheap"}, {"colour": "x" * 101}):
        refused = client.get("/", params=bad)
        assert refused.status_code == 422, refused.text


def test_a_large_catalogue_gets_an_index_whose_cells_the_next_sync_reuses(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from bot.catalog import store

    monkeypatch.setattr(store, "ANN_MIN_PRODUCTS", 1)  # the sample feed counts as large
    feed = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "sample-feed.xml", feed)
    options = SyncOptions(str(feed), tmp_path / "catalog", "all-MiniLM-L6-v2")
    sync(options, encoder=embedder)
    first = CatalogVersion(tmp_path / "catalog")
    assert (first.folder / store.ANN_INDEX).is_file() and first.manifest["ann"]["type"] == "ivf"
    feed.write_text(
        feed.read_text().replace("<title>Stoneware Mug</title>", "<title>Stoneware Cup</title>")
    )
    sync(options, encoder=embedder)
    second = CatalogVersion(tmp_path / "catalog")
    assert second.version != first.version
    assert np.array_equal(first.centroids(), second.centroids())
    assert second.ann().ntotal == first.manifest["products"]
    search = ProductSearch(tmp_path / "catalog", "all-MiniLM-L6-v2", encoder=lambda: embedder)
    assert search.search("stoneware cup").hits[0].product.title.startswith("Stoneware Cup")
    first.close()
    second.close()


def test_a_large_catalogue_is_reloaded_in_the_background_and_swapped_when_ready(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.catalog import search as search_module

    monkeypatch.setattr(search_module, "ANN_MIN_PRODUCTS", 1)  # the sample feed counts as large
    feed = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "sample-feed.xml", feed)
    options = SyncOptions(str(feed), tmp_path / "catalog", "all-MiniLM-L6-v2")
    sync(options, encoder=embedder)
    search = ProductSearch(
        tmp_path / "catalog", "all-MiniLM-L6-v2", encoder=lambda: embedder, reload_check_seconds=0
    )
    old = search.version
    feed.write_text(
        feed.read_text().replace("<g:price>18 USD</g:price>", "<g:price>21 USD</g:price>")
    )
    sync(options, encoder=embedder)
    assert search.reload_if_stale() is False  # started, not waited for
    loading = search._loading  # None when the thread has already swapped it in
    if loading is not None:
        loading.join(timeout=60)
    assert search.version.version != old.version
    hit = search.search("stoneware mug").hits[0]
    assert hit.product.first.price.amount == Decimal("21")
