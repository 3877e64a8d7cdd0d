"""The ONNX question encoder: made once per model, checked, and answering as sentence-transformers.

The live bot embeds customers' questions with it (bot/kb/encoder.py), so it must give the same
vectors, and therefore the same articles in the same order, as the model it was exported from.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from bot.kb.embedder import Embedder, ModelNotAvailable
from bot.kb.encoder import (
    MANIFEST,
    MAX_DIFFERENCE,
    EncoderUnavailable,
    OnnxEncoder,
    ensure,
    folder_for,
    is_complete,
    load_live_embedder,
    load_query_encoder,
)
from bot.kb.search import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def exported(onnx_export: Path) -> Path:
    """A fresh export in an empty folder, as on a new machine."""
    return onnx_export


def questions() -> list[str]:
    """Customers' questions from the KB regression file, plus awkward ones."""
    asked = [case["question"] for case in yaml.safe_load((ROOT / "tests/kb_questions.yml").open())]
    return [*asked, "  padded with spaces  ", "ÉMOJI 🙂 and accents: où est ma commande", "?"]


def test_a_fresh_export_is_checked_and_found_again(exported: Path) -> None:
    manifest = json.loads((exported / MANIFEST).read_text())
    assert manifest["checked"] is True
    assert manifest["max_difference"] <= MAX_DIFFERENCE
    assert manifest["dimension"] == 384 and manifest["max_tokens"] == 256
    assert is_complete(exported)
    assert folder_for(MODEL, exported.parent) == exported
    modified = (exported / "model.onnx").stat().st_mtime
    assert ensure(MODEL, exported.parent) == exported  # found, not made again
    assert (exported / "model.onnx").stat().st_mtime == modified


def test_vectors_match_sentence_transformers(exported: Path, embedder: Embedder) -> None:
    texts = questions()
    encoder = OnnxEncoder(exported)
    expected = embedder.encode(texts)
    assert np.abs(encoder.encode(texts) - expected).max() < MAX_DIFFERENCE
    one = np.vstack([encoder.encode_query(text) for text in texts[:10]])
    assert np.abs(one - expected[:10]).max() < MAX_DIFFERENCE
    assert encoder.encode([]).shape == (0, 384)


def test_search_finds_the_same_articles_in_the_same_order(
    exported: Path, embedder: Embedder, demo_index: Path
) -> None:
    torch_kb = KnowledgeBase(demo_index, MODEL, embedder=embedder)
    onnx_kb = KnowledgeBase(
        demo_index, MODEL, embedder=embedder, query_encoder=lambda: OnnxEncoder(exported)
    )
    assert isinstance(onnx_kb.query_encoder, OnnxEncoder)
    for question in questions():
        ours = onnx_kb.search(question, k=5)
        theirs = torch_kb.search(question, k=5)
        assert [hit.id for hit in ours] == [hit.id for hit in theirs], question
        assert [hit.section for hit in ours] == [hit.section for hit in theirs], question
        for mine, other in zip(ours, theirs, strict=True):
            assert mine.score == pytest.approx(other.score, abs=1e-4)


def test_a_half_written_export_is_made_again(exported: Path, tmp_path: Path) -> None:
    folder = folder_for(MODEL, tmp_path)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"cut short")
    killed = tmp_path / ".export-abc123"  # an export killed half-way
    killed.mkdir()
    older = tmp_path / f"{MODEL}-{'0' * 16}"  # the model's export before an upgrade
    older.mkdir()
    other = tmp_path / "another-model-0123456789abcdef"
    other.mkdir()
    assert not is_complete(folder)
    made = ensure(MODEL, tmp_path)
    assert made == folder and is_complete(made)
    assert not killed.exists() and not older.exists() and other.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]


def test_without_an_export_the_bot_falls_back_to_torch_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(model_name: str, encoder_dir: Path) -> Path:
        raise EncoderUnavailable("exporting all-MiniLM-L6-v2 to ONNX failed: no space left")

    monkeypatch.setattr("bot.kb.encoder.ensure", refuse)
    with caplog.at_level(logging.WARNING, logger="bot.kb.encoder"):
        encoder = load_query_encoder(MODEL, tmp_path)
    assert isinstance(encoder, Embedder)
    assert "no space left" in caplog.text


def test_an_unknown_model_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match="not-a-model"):
        ensure(str(tmp_path / "not-a-model"), tmp_path / "encoders")


def test_it_embeds_a_saved_article_as_the_model_does(exported: Path, embedder: Embedder) -> None:
    """The live indexer embeds saved articles with it (load_live_embedder): the chunker's token
    counts must be the model's exactly, and the vectors the model's, in the texts' order."""
    encoder = load_live_embedder(MODEL, exported.parent)
    assert isinstance(encoder, OnnxEncoder)
    assert (encoder.name, encoder.dimension) == (embedder.name, embedder.dimension)
    articles = [p.read_text() for p in sorted((ROOT / "kb_articles").rglob("*.md"))]
    texts = [*articles, *questions(), "refund " * 400, ""]
    assert [encoder.count_tokens(t) for t in texts] == [embedder.count_tokens(t) for t in texts]
    done: list[int] = []
    vectors = encoder.encode(texts, 8, done.append)  # batched by length, returned in order
    assert sum(done) == len(texts) and max(done) == 8
    assert np.abs(vectors - embedder.encode(texts)).max() <= MAX_DIFFERENCE
    assert np.abs(encoder.encode(texts[:1]) - vectors[:1]).max() <= MAX_DIFFERENCE


def test_the_live_embedder_is_torch_on_one_thread_when_asked(exported: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    try:
        embedder = load_live_embedder(MODEL, exported.parent, onnx=False)
        assert isinstance(embedder, Embedder)
        assert torch.get_num_threads() == 1  # two on a busy machine wait for each other
    finally:
        torch.set_num_threads(threads)
