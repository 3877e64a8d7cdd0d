"""A live save's version (a delta on the last full build, bot.kb.segments) searches and routes
as a full `bot kb build` of the same files does: articles added, changed, removed, renamed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.kb.builder import BuildOptions, build_index
from bot.kb.chunker import ChunkConfig
from bot.kb.embedder import Embedder
from bot.kb.encoder import load_live_embedder
from bot.kb.live import LiveIndexer, _train_from_scratch, snapshot
from bot.kb.search import KnowledgeBase
from bot.kb.store import read_manifest, version_dir
from tests.conftest import BASE_URL, write

pytestmark = pytest.mark.model

NLU = """
nlu:
- intent: greet
  examples: |
    - hello there
    - good morning
- intent: track_order
  examples: |
    - where is my parcel
    - track my order please
"""
ARTICLES = {
    "gift-cards.md": "---\ntitle: Gift cards\n---\nGift cards never expire.\n",
    "returns.md": "---\ntitle: Returns\nquestions:\n  - can I send it back\n---\n"
    "You can return an item within 30 days.\n\n## Damaged returns\n\nSend us a photo first.\n",
    "shipping/express.md": "---\ntitle: Express delivery\n---\nExpress arrives next day.\n",
    "payments.md": "---\ntitle: Paying by card\n---\nWe take Visa and Mastercard.\n",
}
QUESTIONS = [
    "do gift cards expire",
    "how do I return a broken item",
    "can I pay with bitcoin",
    "when does express delivery arrive",
    "which cards do you take",
    "where is my parcel",
]


def _options(kb_dir: Path, index_dir: Path, nlu_dir: Path, up_to: int | None) -> BuildOptions:
    return BuildOptions(
        kb_dir=kb_dir,
        index_dir=index_dir,
        base_url=BASE_URL,
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=nlu_dir,
        per_article_up_to=up_to,
    )


def _everything(kb: KnowledgeBase) -> dict:
    """Every article row, chunk row and chunk vector the version serves."""
    reader = kb.reader
    articles = reader.articles()
    chunks = {c.id: c for a in articles for c in reader.article_chunks(a["id"])}
    assert sorted(reader.chunks(list(chunks)).values(), key=lambda c: c.id) == sorted(
        chunks.values(), key=lambda c: c.id
    )
    return {
        "articles": articles,
        "chunks": chunks,
        "size": reader.size,
        "texts": sorted(reader.texts()),
        "tokens": sorted(reader.token_counts()),
    }


def _same_vectors(a: KnowledgeBase, b: KnowledgeBase) -> bool:
    """The same vector for every chunk (up to the model's batching: a text embedded alone or
    in another batch differs in the last digits)."""
    ids = sorted(c.id for x in a.reader.articles() for c in a.reader.article_chunks(x["id"]))
    return all(np.allclose(a.reader.vector(i), b.reader.vector(i), atol=1e-5) for i in ids)


def _searched(kb: KnowledgeBase) -> list:
    return [[(h.id, h.anchor, round(h.score, 3)) for h in kb.search(q, 3)] for q in QUESTIONS]


def _phrasings(kb: KnowledgeBase) -> list:
    router = kb.router()
    return sorted((p.label, p.text, p.source) for p in router.phrasings)


def _routed(kb: KnowledgeBase) -> list:
    out = []
    for q in QUESTIONS:
        routing = kb.route(q)
        out.append([(r.label, round(r.probability, 2), r.phrasing) for r in routing.routes])
    return out


@pytest.mark.parametrize(
    ("up_to", "onnx"),
    [(None, False), (1, False), (1, True)],
    ids=["class per article", "one article class", "saves embedded by the ONNX encoder"],
)
def test_live_saves_serve_what_a_full_build_does(
    kb_dir: Path,
    tmp_path: Path,
    embedder: Embedder,
    up_to: int | None,
    onnx: bool,
    request: pytest.FixtureRequest,
) -> None:
    nlu_dir = tmp_path / "nlu"
    write(nlu_dir, "nlu.yml", NLU)
    for rel, text in ARTICLES.items():
        write(kb_dir, rel, text)
    # the web app's live indexer embeds with the ONNX encoder; `bot kb build` with torch
    saving = (
        load_live_embedder("all-MiniLM-L6-v2", request.getfixturevalue("onnx_export").parent)
        if onnx
        else embedder
    )
    live = LiveIndexer(_options(kb_dir, tmp_path / "live", nlu_dir, up_to), lambda: saving)
    live.build(exact=True)
    served = KnowledgeBase(tmp_path / "live", "all-MiniLM-L6-v2", embedder=embedder)

    crypto = "---\ntitle: Paying with bitcoin\n---\nWe take bitcoin.\n"
    saves = [
        lambda: write(kb_dir, "payments/crypto.md", crypto),  # added
        lambda: (kb_dir / "gift-cards.md").unlink(),  # removed
        lambda: write(kb_dir, "returns.md", ARTICLES["returns.md"].replace("30", "60")),  # changed
        lambda: (kb_dir / "shipping/express.md").rename(kb_dir / "express.md"),  # renamed
        lambda: write(kb_dir, "payments/crypto.md", crypto + "\n## Which coins\n\nOnly bitcoin.\n"),
    ]
    for save in saves:  # one save at a time, as a writer makes them: each a delta on the last
        save()
        live.build(seen=snapshot(str(kb_dir)))
    manifest = read_manifest(tmp_path / "live")
    assert manifest["segments"]["delta"] == ["crypto", "express", "returns"]
    assert manifest["segments"]["masked"] == ["express", "gift-cards", "returns"]
    assert manifest["router"]["exact"] is False

    full_options = _options(kb_dir, tmp_path / "full", nlu_dir, up_to)
    build_index(full_options, embedder_factory=lambda _name: embedder)
    full = KnowledgeBase(tmp_path / "full", "all-MiniLM-L6-v2", embedder=embedder)
    served.reload_if_stale(force=True)
    assert read_manifest(tmp_path / "full")["segments"]["delta"] == []
    assert _everything(served) == _everything(full)
    assert _same_vectors(served, full)
    assert _searched(served) == _searched(full)
    assert _phrasings(served) == _phrasings(full)
    for question in ("can I pay with bitcoin", "can I send it back"):
        assert served.route(question).top.label == full.route(question).top.label

    # the writer paused: the router is trained from scratch beside the watch, then published
    inputs = read_manifest(tmp_path / "live")["router"]["inputs"]
    trained = _train_from_scratch(version_dir(tmp_path / "live", manifest["version"]))
    live.build(exact=True, trained={inputs: trained}, seen=snapshot(str(kb_dir)))
    served.reload_if_stale(force=True)
    assert served.reader.manifest["router"]["how"] == "trained ahead"
    assert _routed(served) == _routed(full)
    assert _everything(served) == _everything(full)


def test_a_full_build_after_live_saves_carries_the_delta_over(
    kb_dir: Path, tmp_path: Path, embedder: Embedder
) -> None:
    nlu_dir = tmp_path / "nlu"
    write(nlu_dir, "nlu.yml", NLU)
    for rel, text in ARTICLES.items():
        write(kb_dir, rel, text)
    options = _options(kb_dir, tmp_path / "live", nlu_dir, None)
    live = LiveIndexer(options, lambda: embedder)
    live.build(exact=True)
    write(kb_dir, "returns.md", ARTICLES["returns.md"].replace("30", "45"))
    (kb_dir / "gift-cards.md").unlink()
    live.build(seen=snapshot(str(kb_dir)))
    assert read_manifest(tmp_path / "live")["segments"]["delta"] == ["returns"]

    write(kb_dir, "payments.md", ARTICLES["payments.md"].replace("Visa", "Amex"))
    build_index(options, embedder_factory=lambda _name: embedder)  # `bot kb build`: in full
    served = KnowledgeBase(tmp_path / "live", "all-MiniLM-L6-v2", embedder=embedder)
    assert read_manifest(tmp_path / "live")["segments"]["delta"] == []
    build_index(
        _options(kb_dir, tmp_path / "full", nlu_dir, None), embedder_factory=lambda _n: embedder
    )
    full = KnowledgeBase(tmp_path / "full", "all-MiniLM-L6-v2", embedder=embedder)
    assert _everything(served) == _everything(full)
    assert _same_vectors(served, full)
    assert _searched(served) == _searched(full)
