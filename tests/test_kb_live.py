"""kb_watch: a saved article is published without a restart, a broken save keeps the last good
version serving and says where it is broken, and drafts never reach the index."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.kb.builder import BuildOptions, build_index
from bot.kb.chunker import ChunkConfig
from bot.kb.embedder import Embedder
from bot.kb.live import LiveIndexer
from bot.kb.search import KnowledgeBase
from tests.conftest import BASE_URL, write

pytestmark = pytest.mark.model

GIFT = "---\ntitle: Gift cards\n---\nGift cards can be used for any order and never expire.\n"
CRYPTO = """---
title: Paying with bitcoin
questions:
  - "do you accept bitcoin"
  - "can i pay with crypto"
  - "which cryptocurrencies do you take"
---
We take bitcoin at checkout.
"""
RETURNS = "---\ntitle: Returns\n---\nYou can return an item within 30 days for a full refund.\n"


def _options(kb_dir: Path, tmp_path: Path) -> BuildOptions:
    """The build of a test's folder into its own index, with the shared model's name."""
    return BuildOptions(
        kb_dir=kb_dir,
        index_dir=tmp_path / "index",
        base_url=BASE_URL,
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
    )


@pytest.fixture
def live(kb_dir: Path, tmp_path: Path, embedder: Embedder) -> LiveIndexer:
    write(kb_dir, "payments/gift-cards.md", GIFT)
    write(kb_dir, "returns.md", RETURNS)
    options = _options(kb_dir, tmp_path)
    indexer = LiveIndexer(options, lambda: embedder)
    indexer.build()
    return indexer


def _kb(live: LiveIndexer, embedder: Embedder) -> KnowledgeBase:
    return KnowledgeBase(live.options.index_dir, "all-MiniLM-L6-v2", embedder=embedder)


def test_a_saved_article_is_answered_without_a_restart(
    live: LiveIndexer, kb_dir: Path, embedder: Embedder
) -> None:
    kb = _kb(live, embedder)
    assert kb.search("can I pay with bitcoin", 1)[0].id != "crypto"
    write(kb_dir, "payments/crypto.md", "---\ntitle: Paying with bitcoin\n---\nWe take bitcoin.\n")
    report = live.build()
    assert report.embedded_articles == ["crypto"]
    kb.reload_if_stale(force=True)
    assert kb.search("can I pay with bitcoin", 1)[0].id == "crypto"


def test_a_broken_save_keeps_the_last_good_version_and_names_file_and_line(
    live: LiveIndexer, kb_dir: Path, embedder: Embedder
) -> None:
    path = write(kb_dir, "returns.md", "---\ntitle: Returns\nupdated: someday\n---\nNew text.\n")
    report = live.build()
    assert [str(p) for p in live.problems()] == [
        f"{report.problems[0].path}:3: 'updated' must be a date like 2026-01-31, not 'someday'"
    ]
    assert str(path).endswith(report.problems[0].path)
    kb = _kb(live, embedder)
    hit = kb.search("how long do I have to return an item", 1)[0]
    assert hit.id == "returns" and "30 days" in hit.text  # the last good version
    write(kb_dir, "returns.md", RETURNS.replace("30 days", "60 days"))
    live.build()
    assert live.problems() == []
    kb.reload_if_stale(force=True)
    assert "60 days" in kb.search("how long do I have to return an item", 1)[0].text


def test_a_draft_is_listed_for_writers_but_never_indexed(
    live: LiveIndexer, kb_dir: Path, embedder: Embedder
) -> None:
    write(
        kb_dir,
        "pickup.md",
        "---\ntitle: Store pickup\ndraft: true\n---\nPick up your order in a store.\n",
    )
    live.build()
    kb = _kb(live, embedder)
    assert "pickup" not in {a["id"] for a in kb.reader.articles()}
    assert kb.reader.manifest["drafts"] == {
        "pickup": {"path": "pickup.md", "title": "Store pickup"}
    }
    write(kb_dir, "pickup.md", "---\ntitle: Store pickup\n---\nPick up your order in a store.\n")
    live.build()
    kb.reload_if_stale(force=True)
    assert "pickup" in {a["id"] for a in kb.reader.articles()}
    assert kb.reader.manifest["drafts"] == {}


def test_the_watch_publishes_a_save_by_itself(
    live: LiveIndexer, kb_dir: Path, embedder: Embedder
) -> None:
    kb = _kb(live, embedder)
    first = kb.reader.version
    live.start()
    try:
        write(kb_dir, "returns.md", RETURNS.replace("30 days", "45 days"))
        deadline = time.monotonic() + 60  # a bound for a stuck watch, not a speed check
        while kb.reader.version == first and time.monotonic() < deadline:
            kb.reload_if_stale(force=True)
            time.sleep(0.05)  # polling for the publish
    finally:
        live.stop()
    assert kb.reader.version != first
    assert "45 days" in kb.search("how long do I have to return an item", 1)[0].text


def test_a_save_is_refitted_then_trained_from_scratch_when_the_writer_pauses(
    kb_dir: Path, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.kb import live as live_module
    from bot.kb.store import read_manifest
    from tests.conftest import DEMO_NLU

    monkeypatch.setattr(live_module, "EXACT_AFTER_SECONDS", 0.2)
    write(kb_dir, "payments/gift-cards.md", GIFT)
    write(kb_dir, "returns.md", RETURNS)
    options = BuildOptions(
        kb_dir=kb_dir,
        index_dir=tmp_path / "index",
        base_url=BASE_URL,
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=DEMO_NLU,  # the router then has many labels, as in the demo
    )
    indexer = LiveIndexer(options, lambda: embedder)
    indexer.build(exact=True)
    kb = _kb(indexer, embedder)
    write(kb_dir, "payments/crypto.md", CRYPTO)
    indexer.build()
    assert read_manifest(options.index_dir)["router"]["exact"] is False
    assert indexer.state.router_exact is False
    kb.reload_if_stale(force=True)
    assert kb.route("can I pay in bitcoin").top.label == "article:crypto"
    refitted = kb.reader.version
    indexer.start()
    try:
        deadline = time.monotonic() + 120  # a bound for a stuck watch, not a speed check
        while indexer.state.router_exact is not True:
            assert time.monotonic() < deadline, "the router was never trained from scratch"
            time.sleep(0.05)  # polling for the training
    finally:
        indexer.stop()
    router = read_manifest(options.index_dir)["router"]
    assert (router["exact"], router["how"]) == (True, "trained ahead")
    kb.reload_if_stale(force=True)
    assert kb.reader.version != refitted
    assert kb.route("can I pay in bitcoin").top.label == "article:crypto"


def test_the_watch_makes_its_model_once_before_the_first_save(
    kb_dir: Path, tmp_path: Path, onnx_export: Path, embedder: Embedder
) -> None:
    """The model is loaded and run when the watch starts, not by the first save (seconds for
    torch), and kept: the live indexer of the web app embeds with the ONNX encoder."""
    from bot.kb.encoder import load_live_embedder

    write(kb_dir, "returns.md", RETURNS)
    options = _options(kb_dir, tmp_path)
    build_index(options, embedder_factory=lambda _name: embedder)  # as `bot kb build` left it
    made = []

    def factory() -> object:
        made.append(load_live_embedder("all-MiniLM-L6-v2", onnx_export.parent))
        return made[-1]

    indexer = LiveIndexer(options, factory)
    indexer.start()
    try:
        deadline = time.monotonic() + 60  # a bound for a stuck watch, not a speed check
        while indexer.state.builds == 0:
            assert time.monotonic() < deadline, "the watch never built"
            time.sleep(0.05)  # polling for the first build
        assert len(made) == 1  # made although the first build had nothing to embed
        kb = KnowledgeBase(options.index_dir, "all-MiniLM-L6-v2", query_encoder=lambda: made[0])
        first = kb.reader.version
        write(kb_dir, "payments/crypto.md", CRYPTO)
        while kb.reader.version == first:
            assert time.monotonic() < deadline + 60, "the save was never published"
            kb.reload_if_stale(force=True)
            time.sleep(0.05)  # polling for the publish
    finally:
        indexer.stop()
    assert len(made) == 1
    assert kb.search("can I pay with bitcoin", 1)[0].id == "crypto"
