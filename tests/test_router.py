"""The router: trained with the index from the writers' phrasings, reloaded with it, and gated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.dialogue.answers import Gate, choose, offerable
from bot.kb.builder import BuildFailed, BuildOptions, build_index
from bot.kb.chunker import ChunkConfig
from bot.kb.router import (
    ROUTER_FILE,
    Router,
    article_phrasings,
    nlu_phrasings,
)
from bot.kb.search import KnowledgeBase
from bot.kb.store import (
    IndexModelMismatch,
    IndexReader,
    current_version,
    read_manifest,
    version_dir,
)
from bot.settings import Settings
from tests.conftest import DEMO_NLU, write

DEFAULTS = Settings(settings_file=Path("/nonexistent/bot.toml"))
# the gate as shipped (the thresholds `bot eval calibrate` chose; see benchmarks/README.md)
GATE = Gate(DEFAULTS.answer_threshold, DEFAULTS.clarify_threshold, DEFAULTS.similarity_threshold)
PICKUP = """
    ---
    title: Can I collect my order from the pickup desk?
    questions:
      - "when is the pickup desk open"
      - "opening hours of the collection point"
      - "can i pick up my order in person"
    ---

    You can collect any order from the pickup desk at our warehouse, 12 Harbour Road.

    ## Opening hours

    The desk is open Monday to Friday 9 am to 6 pm, and Saturday 10 am to 2 pm.
    """


def test_phrasings_come_from_titles_questions_headings_and_the_nlu_examples(
    demo_copy: Path,
) -> None:
    from bot.kb.loader import load_kb

    articles = load_kb(demo_copy, "http://localhost:8080/help/").articles
    phrasings = article_phrasings(articles) + nlu_phrasings(DEMO_NLU)
    sources = {p.source.split(":")[0] for p in phrasings}
    assert sources == {"title", "question", "heading", "nlu"}
    labels = {p.label for p in phrasings}
    assert {"article:returns", "intent:track_order", "intent:out_of_scope"} <= labels
    # contextual intents stay with the dialogue rules; entity markup is removed
    assert not labels & {"intent:affirm", "intent:inform", "intent:ask_question"}
    assert not any("](" in p.text for p in phrasings)
    # "Before you start" says nothing on its own: short headings are left out
    assert all(len(p.text.split()) >= 3 for p in phrasings if p.source == "heading")


def test_the_router_is_built_into_the_index_version_and_records_its_inputs(
    demo_index: Path,
) -> None:
    folder = version_dir(demo_index, current_version(demo_index))
    assert (folder / ROUTER_FILE).exists()
    info = json.loads((folder / "router.json").read_text())
    assert info["trained_from"]["phrasings_by_source"]["nlu"] > 100
    router = read_manifest(demo_index)["router"]
    assert router["labels"] == info["labels"] and len(router["inputs"]) == 64


def test_known_phrasings_route_right_and_misspellings_too(demo_index: Path, embedder) -> None:
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    cases = {
        "I forgot my password": "intent:reset_password",
        "where is my parcel, order 123-4567": "intent:track_order",
        "i want to talk to a real person": "intent:request_human",
        "how much does it cost to cancel an order": "article:cancellation-fees",
        "do you delikver to japan": "article:international-shipping",
        "my card got swallowed by the cash machine": "intent:out_of_scope",
    }
    got = {text: kb.route(text).top.label for text in cases}
    assert got == cases


def test_the_nlu_is_one_input_not_a_veto(demo_index: Path, embedder) -> None:
    """A strong article match is answered even when the NLU is sure it is out of scope."""
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    text = "what does it cost to cancel my purchase"
    vetoed = [
        {"name": "out_of_scope", "confidence": 0.95},
        {"name": "chitchat", "confidence": 0.05},
    ]
    routing = kb.route(text, vetoed, nlu_weight=DEFAULTS.nlu_weight)
    assert routing.top.label == "article:cancellation-fees"
    assert routing.channels["article:cancellation-fees"]["nlu"] < 0.05
    assert choose(routing, GATE).outcome == "article"
    # ...and the NLU's confidence in a flow does count
    neutral = kb.route("can you help me with my order")
    pushed = kb.route(
        "can you help me with my order", [{"name": "track_order", "confidence": 1.0}], 0.5
    )
    p = {r.label: r.probability for r in pushed.routes}
    before = {r.label: r.probability for r in neutral.routes}
    assert p["intent:track_order"] > before.get("intent:track_order", 0.0)


def test_the_gate_acts_offers_or_refuses(demo_index: Path, embedder) -> None:
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    near_domain = choose(kb.route("I typed my card pin wrong three times, now it's blocked"), GATE)
    # refused by the gate, or known for what it is: out of scope (both say "can't help")
    assert near_domain.outcome == "fallback" or near_domain.top.label == "intent:out_of_scope"
    strict = Gate(answer=0.99, clarify=0.01, similarity=0.0)
    offered = choose(kb.route("how do returns work"), strict)
    assert offered.outcome == "clarify" and 1 <= len(offered.routes) <= 3
    assert all(offerable(r) for r in offered.routes)  # articles, flows or a person
    unknown = Gate(answer=0.2, clarify=0.1, similarity=0.99)
    assert choose(kb.route("tell me how sending things back works"), unknown).outcome == "fallback"


def test_a_new_article_is_routed_to_after_a_rebuild_without_retraining_rasa(
    demo_index: Path, demo_copy: Path, tmp_path: Path, embedder
) -> None:
    index = tmp_path / "index"
    shutil.copytree(demo_index, index)  # the demo index, as built from these same articles
    options = BuildOptions(
        kb_dir=demo_copy,
        index_dir=index,
        base_url="http://localhost:8080/help/",  # as the demo index was built
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=DEMO_NLU,
    )
    kb = KnowledgeBase(index, "all-MiniLM-L6-v2", embedder=embedder, reload_check_seconds=0)
    question = "what time is the pickup desk open on saturday"
    assert kb.route(question).top.label != "article:store-pickup"
    write(demo_copy, "orders/store-pickup.md", PICKUP)
    report = build_index(options, embedder_factory=lambda name: embedder)
    assert report.embedded_articles == ["store-pickup"]
    manifest = read_manifest(index)
    # only the new article's phrasings were embedded: the rest came from the previous router
    assert 0 < manifest["router"]["embedded"] <= 6
    routing = kb.route(question)  # the running reader notices the new version and reloads
    assert routing.top.label == "article:store-pickup"
    assert choose(routing, GATE).outcome == "article"


def test_a_quick_build_refits_the_router_and_the_next_full_build_trains_it_from_scratch(
    demo_index: Path, demo_copy: Path, tmp_path: Path, embedder
) -> None:
    index = tmp_path / "index"
    shutil.copytree(demo_index, index)
    options = BuildOptions(
        kb_dir=demo_copy,
        index_dir=index,
        base_url="http://localhost:8080/help/",
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=DEMO_NLU,
    )
    kb = KnowledgeBase(index, "all-MiniLM-L6-v2", embedder=embedder, reload_check_seconds=0)
    question = "what time is the pickup desk open on saturday"
    write(demo_copy, "orders/store-pickup.md", PICKUP)
    (demo_copy / "orders" / "leave-review.md").unlink()  # a label goes as one comes
    build_index(options, embedder_factory=lambda name: embedder, quick_router=True)
    quick = read_manifest(index)["router"]
    assert (quick["exact"], quick["how"]) == (False, "refitted")
    routing = kb.route(question)
    assert routing.top.label == "article:store-pickup"
    assert choose(routing, GATE).outcome == "article"
    assert "article:leave-review" not in kb.router().labels
    # nothing changed in the articles, but the router was only refitted: trained now
    report = build_index(options, embedder_factory=lambda name: embedder)
    assert report.changed and report.embedded_articles == []
    exact = read_manifest(index)["router"]
    assert (exact["exact"], exact["how"], exact["inputs"]) == (True, "trained", quick["inputs"])
    assert kb.route(question).top.label == "article:store-pickup"
    assert build_index(options, embedder_factory=lambda name: embedder).changed is False


def test_a_refitted_router_knows_a_new_label_and_forgets_a_removed_one(demo_index: Path) -> None:
    router = Router.load(version_dir(demo_index, current_version(demo_index)))
    refitted, phrasings, keep, vector = _a_save(router)
    assert GONE not in refitted.labels and "article:moon" in refitted.labels
    assert refitted.phrasings == phrasings
    assert refitted.route(phrasings[-1].text, vector).top.label == "article:moon"
    first = router.phrasings[keep[0]]
    assert refitted.route(first.text, router.vectors[keep[0]]).top.label == first.label


GONE = "article:leave-review"  # the article _a_save removes


def _a_save(router: Router):
    """A save refitted into the router: one article removed (GONE), one added ("ship my
    parcel to the moon", with a vector of its own direction, far from every other). The
    refitted router, its phrasings, the indices of the old ones kept, the new vector."""
    import numpy as np

    from bot.kb.router import Phrasing

    keep = [i for i, p in enumerate(router.phrasings) if p.label != GONE]
    new = Phrasing(text="ship my parcel to the moon", label="article:moon", source="question")
    vector = np.zeros((1, router.vectors.shape[1]), dtype=np.float32)
    vector[0, 0] = 1.0
    phrasings = [router.phrasings[i] for i in keep] + [new]
    refitted = router.refitted(phrasings, np.vstack([router.vectors[keep], vector]))
    return refitted, phrasings, keep, vector


def test_above_the_article_count_the_heads_learn_any_article_and_the_neighbours_pick_it(
    demo_index: Path, embedder
) -> None:
    """What a KB of thousands of articles gets (PER_ARTICLE_CLASSES_UP_TO), tried on the demo."""

    from bot.kb.router import ANY_ARTICLE

    exact = Router.load(version_dir(demo_index, current_version(demo_index)))
    router = Router.train(exact.phrasings, exact.vectors, per_article_up_to=10)
    assert ANY_ARTICLE in router.classes and router.labels == exact.labels
    others = sum(1 for x in router.labels if not x.startswith("article:"))  # intents, product
    assert len(router.classes) == 1 + others
    assert router.article_classes.startswith("one class for all")
    assert exact.article_classes == "one class per article"
    cases = {
        "I forgot my password": "intent:reset_password",
        "i want to talk to a real person": "intent:request_human",
        "how much does it cost to cancel an order": "article:cancellation-fees",
        "do you delikver to japan": "article:international-shipping",
        "my card got swallowed by the cash machine": "intent:out_of_scope",
    }
    vectors = embedder.encode(list(cases), 8)
    got = {text: router.route(text, v).top.label for text, v in zip(cases, vectors, strict=True)}
    assert got == cases
    # the heads' "an article" goes to the articles the nearest phrasings point at
    channels = router.route(list(cases)[2], vectors[2]).channels["article:cancellation-fees"]
    assert channels["embedding"] > 0.5 and channels["chars"] > 0.5
    # a save: one article removed, one added; the heads keep their classes
    refitted, phrasings, _, vector = _a_save(router)
    assert refitted.classes == router.classes and refitted.per_article_up_to == 10
    assert GONE not in refitted.labels and "article:moon" in refitted.labels
    assert refitted.route(phrasings[-1].text, vector).top.label == "article:moon"


def test_nlu_changes_retrain_the_router_and_no_change_builds_nothing(
    tmp_path: Path, builder
) -> None:
    kb_dir = tmp_path / "kb"
    write(kb_dir, "a.md", "---\ntitle: How do returns work?\n---\n\nSend it back in 30 days.\n")
    write(kb_dir, "b.md", "---\ntitle: When will my refund arrive?\n---\n\nIn 5 days.\n")
    nlu = tmp_path / "nlu"
    nlu.mkdir()
    (nlu / "smalltalk.yml").write_text((DEMO_NLU / "smalltalk.yml").read_text())
    index = tmp_path / "index"
    first = builder(kb_dir, index, nlu_dir=nlu)
    assert builder(kb_dir, index, nlu_dir=nlu).changed is False
    (nlu / "out_of_scope.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: out_of_scope\n    examples: |\n'
        "      - what's the weather like\n      - book me a flight\n"
    )
    second = builder(kb_dir, index, nlu_dir=nlu)
    assert second.changed and second.version != first.version
    assert second.embedded_articles == []  # the articles were kept, only the router retrained
    router = Router.load(version_dir(index, second.version))
    assert "intent:out_of_scope" in router.labels


def test_an_index_without_a_router_still_answers_by_search(tmp_path: Path, builder) -> None:
    kb_dir = tmp_path / "kb"
    write(kb_dir, "one.md", "---\ntitle: Only article\n---\n\nThe only article there is.\n")
    builder(kb_dir, tmp_path / "index")
    assert Router.load(version_dir(tmp_path / "index", current_version(tmp_path / "index"))) is None
    assert read_manifest(tmp_path / "index")["router"]["trained"] is False
    assert builder(kb_dir, tmp_path / "index").changed is False  # its inputs are recorded too


def test_a_missing_nlu_folder_fails_the_build_and_names_it(tmp_path: Path, builder) -> None:
    kb_dir = tmp_path / "kb"
    write(kb_dir, "one.md", "---\ntitle: Only article\n---\n\nThe only article there is.\n")
    with pytest.raises(BuildFailed) as failed:
        builder(kb_dir, tmp_path / "index", nlu_dir=tmp_path / "no-such-folder")
    assert "no-such-folder" in str(failed.value.problems[0])
    assert current_version(tmp_path / "index") is None


def test_an_unreadable_router_asks_for_a_rebuild(demo_index: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(demo_index, index)
    (version_dir(index, current_version(index)) / ROUTER_FILE).write_bytes(b"not a pickle")
    with pytest.raises(IndexModelMismatch, match="rebuild the index with `bot kb build`"):
        IndexReader(index)


@pytest.mark.parametrize("broken", ["not: [valid", "nlu: 5"])
def test_broken_nlu_files_name_the_file(tmp_path: Path, broken: str) -> None:
    (tmp_path / "bad.yml").write_text(broken)
    with pytest.raises(ValueError, match=r"bad\.yml:1"):
        nlu_phrasings(tmp_path)
