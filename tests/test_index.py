"""Index builds with the real model: incremental, atomic, safe against bad input; search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.kb.builder import BuildFailed
from bot.kb.embedder import Embedder
from bot.kb.regression import load_expectations, run_expectations
from bot.kb.search import KnowledgeBase
from bot.kb.store import IndexModelMismatch, IndexNotFound, IndexReader, current_version
from tests.conftest import ROOT, CountingFactory, write

pytestmark = pytest.mark.model


def test_the_demo_kb_answers_every_regression_question(
    demo_index: Path, embedder: Embedder
) -> None:
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    expectations = load_expectations(ROOT / "tests" / "kb_questions.yml")
    assert len(expectations) >= 60
    failures = [o for o in run_expectations(kb, expectations) if not o.passed]
    assert failures == []


def test_search_returns_one_hit_per_article_with_a_section_link(
    demo_index: Path, embedder: Embedder
) -> None:
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    hits = kb.search("the password reset email never arrived", k=5)
    assert len(hits) == 5 and len({h.id for h in hits}) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0]
    assert top.id == "reset-password"
    assert top.anchor == "the-reset-email-never-arrived"
    assert top.link == "http://localhost:8080/help/reset-password#the-reset-email-never-arrived"
    assert "spam" in top.snippet and top.title == "How do I reset my password?"


def _articles(kb: Path) -> None:
    for name in ("alpha", "bravo", "charlie"):
        write(
            kb,
            f"{name}.md",
            f"---\ntitle: All about {name}\n---\n{name.title()} is a topic.\n\n"
            f"## Details\n\nMore about {name} and how customers use it every day.\n",
        )


def test_incremental_rebuild_embeds_only_what_changed(tmp_path: Path, builder, embedder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    first = builder(kb, index)
    assert first.embedded_articles == ["alpha", "bravo", "charlie"]
    reader = IndexReader(index)
    before = {
        i: reader.faiss.reconstruct(int(i))
        for i in np.load(index / "versions" / reader.version / "ids.npy")
    }

    write(kb, "bravo.md", "---\ntitle: All about bravo\n---\nBravo changed its rules.\n")
    second = builder(kb, index)
    assert second.embedded_articles == ["bravo"] and second.removed_articles == []
    reader = IndexReader(index)
    alpha_ids = [c.id for c in reader.article_chunks("alpha")]
    for chunk in alpha_ids:  # untouched articles keep their ids and their vectors
        assert np.allclose(reader.faiss.reconstruct(int(chunk)), before[chunk])
    assert "changed its rules" in reader.article_chunks("bravo")[0].text

    (kb / "charlie.md").unlink()
    third = builder(kb, index)
    assert third.removed_articles == ["charlie"] and third.embedded_articles == []
    reader = IndexReader(index)
    assert reader.article_chunks("charlie") == []
    assert sorted(a["id"] for a in reader.articles()) == ["alpha", "bravo"]
    assert reader.size == len(reader.article_chunks("alpha")) + len(reader.article_chunks("bravo"))


def test_a_no_change_rebuild_does_not_load_the_model(tmp_path: Path, builder, embedder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)
    version = current_version(index)
    factory = CountingFactory(embedder)
    report = builder(kb, index, factory=factory)
    assert factory.calls == 0
    assert (report.changed, report.embedded_articles, report.version) == (False, [], version)


def test_large_indexes_get_an_hnsw_graph_and_search_the_same(
    tmp_path: Path, builder, embedder
) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)  # 3 articles: far below the default threshold
    assert IndexReader(index).manifest["index_type"] == "flat"
    exact = KnowledgeBase(index, "all-MiniLM-L6-v2", embedder=embedder).search("bravo rules", 3)

    factory = CountingFactory(embedder)
    report = builder(kb, index, factory=factory, ann_threshold=1)
    assert report.changed and factory.calls == 0  # same vectors, new index type
    reader = IndexReader(index)
    assert reader.manifest["index_type"] == "hnsw" and reader.manifest["hnsw"]["ef_search"] > 0
    approximate = KnowledgeBase(index, "all-MiniLM-L6-v2", embedder=embedder)
    assert [h.id for h in approximate.search("bravo rules", 3)] == [h.id for h in exact]
    chunk = reader.article_chunks("alpha")[0].id
    assert reader.faiss.reconstruct(int(chunk)).shape == (embedder.dimension,)

    assert not builder(kb, index, factory=factory, ann_threshold=1).changed
    assert builder(kb, index, factory=factory, index_type="flat", ann_threshold=1).changed
    assert IndexReader(index).manifest["index_type"] == "flat"


def test_errors_fail_the_build_and_keep_the_previous_index(tmp_path: Path, builder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)
    version = current_version(index)
    write(kb, "broken.md", "---\ntitle: [oops\n---\nBody.\n")
    write(kb, "alpha.md", "---\ntitle: Alpha rewritten\n---\nNew text.\n")
    with pytest.raises(BuildFailed) as failure:
        builder(kb, index)
    assert [p.path.endswith("broken.md") for p in failure.value.problems] == [True]
    assert current_version(index) == version
    reader = IndexReader(index)
    assert "Alpha is a topic." in reader.article_chunks("alpha")[0].text


def test_skip_invalid_builds_the_valid_articles(tmp_path: Path, builder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    write(kb, "broken.md", "---\ntags: [x]\n---\nBody.\n")
    report = builder(kb, index, skip_invalid=True)
    assert report.articles == 3
    assert len(report.skipped) == 1 and report.skipped[0].endswith("broken.md")


def test_a_build_that_crashes_leaves_the_previous_index_serving(tmp_path: Path, builder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)
    version = current_version(index)

    class Exploding(Embedder):
        def __init__(self) -> None:  # no model needed: it fails before embedding anything
            self.dimension = 384

        def count_tokens(self, text: str) -> int:
            return len(text.split())

        def encode(self, *args, **kwargs):
            raise RuntimeError("disk full")

    write(kb, "delta.md", "---\ntitle: Delta\n---\nNew article.\n")
    with pytest.raises(RuntimeError, match="disk full"):
        builder(kb, index, factory=lambda name: Exploding())
    assert current_version(index) == version
    assert not list((index / "versions").glob(".*.tmp"))
    assert sorted(a["id"] for a in IndexReader(index).articles()) == ["alpha", "bravo", "charlie"]


def test_readers_notice_a_newer_version_and_reload(tmp_path: Path, builder, embedder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)
    search = KnowledgeBase(index, "all-MiniLM-L6-v2", embedder=embedder, reload_check_seconds=0)
    old_reader = search.reader
    assert not old_reader.is_stale()
    write(kb, "delta.md", "---\ntitle: Gift wrapping\n---\nWe wrap gifts in recycled paper.\n")
    builder(kb, index)
    assert old_reader.is_stale()
    assert search.search("can you gift wrap my present", k=1)[0].id == "delta"
    assert search.reader is not old_reader
    assert old_reader.chunks([c.id for c in old_reader.article_chunks("alpha")])  # still readable


def test_an_index_from_another_model_asks_for_a_rebuild(tmp_path: Path, builder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)
    with pytest.raises(IndexModelMismatch, match="rebuild it with `bot kb build`"):
        IndexReader(index, expected_model="some-other-model")
    with pytest.raises(IndexNotFound, match="build it with `bot kb build`"):
        IndexReader(tmp_path / "empty")


def test_the_manifest_records_how_the_index_was_built(tmp_path: Path, builder) -> None:
    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)
    manifest = json.loads(
        (index / "versions" / current_version(index) / "manifest.json").read_text()
    )
    assert manifest["model"] == "all-MiniLM-L6-v2" and manifest["dimension"] == 384
    assert set(manifest["articles"]) == {"alpha", "bravo", "charlie"}
    assert all(len(info["hash"]) == 64 for info in manifest["articles"].values())
    assert {"bot", "faiss-cpu", "sentence-transformers", "torch"} <= set(manifest["versions"])
    assert manifest["built_at"] and manifest["metric"] == "inner_product"


def test_best_section_looks_only_inside_the_named_article(
    demo_index: Path, embedder: Embedder
) -> None:
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    hit = kb.best_section("the password reset email never arrived", "reset-password")
    assert hit.id == "reset-password" and hit.anchor == "the-reset-email-never-arrived"
    other = kb.best_section("do you ship to canada", "reset-password")  # still that article
    assert other.id == "reset-password"
    assert kb.best_section("anything", "no-such-article") is None


def test_a_rebuild_parses_only_the_files_that_changed(
    tmp_path: Path, builder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.kb import loader

    kb, index = tmp_path / "kb", tmp_path / "index"
    _articles(kb)
    builder(kb, index)
    parsed: list[str] = []
    real = loader.parse_article

    def counting(path: Path, *args):
        parsed.append(path.name)
        return real(path, *args)

    monkeypatch.setattr(loader, "parse_article", counting)
    write(kb, "bravo.md", "---\ntitle: All about bravo\n---\nBravo changed again.\n")
    report = builder(kb, index)
    assert parsed == ["bravo.md"] and report.embedded_articles == ["bravo"]
    (index / "parse-cache.pickle").write_bytes(b"not a pickle")  # a damaged cache: parse all
    assert builder(kb, index).changed is False and len(parsed) == 4
