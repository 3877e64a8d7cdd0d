"""Fixtures for the product catalogue: the demo feed synced once per session, and its search."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.catalog.search import ProductSearch
from bot.catalog.sync import SyncOptions, sync
from bot.kb.embedder import Embedder

ROOT = Path(__file__).resolve().parent.parent
DEMO_FEED = ROOT / "catalog" / "demo-feed.xml"
# the demo feed's "today" (bot.catalog.demo.TODAY) at noon: its sale and restock dates count from it
DEMO_NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The demo feed synced into a temporary catalogue folder with the shared model."""
    folder = tmp_path_factory.mktemp("catalog")
    sync(SyncOptions(str(DEMO_FEED), folder, "all-MiniLM-L6-v2"), encoder=embedder)
    return folder


@pytest.fixture(scope="session")
def product_search(demo_catalog: Path, embedder: Embedder) -> ProductSearch:
    """Product search over the demo catalogue, with the shared model."""
    return ProductSearch(demo_catalog, "all-MiniLM-L6-v2", encoder=lambda: embedder)
