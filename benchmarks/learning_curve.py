"""The learning curve: how the first reply improves as people confirm k questions per label.

For k = 0, 1, 3, 5, 10, a writer's review is played on the dev sets nobody here wrote (Bitext
customer support; Banking77's intents with a store counterpart): k questions of each label are
confirmed through the review queue's own path (bot.kb.learned.LearnedStore.confirm into a
temporary database, then the router's incremental update, bot.kb.learning), never into
kb_articles/ or data/. The questions are measured on the other half of each set:

- the split: a question is taught only if the first 8 hex digits of the SHA-256 of its
  normalised text (case and spacing aside) are even; the rest are measured. The k taught per
  label are the first k of that label's teachable questions, in order of that hash, so each k's
  questions include the smaller k's;
- accuracy (the first reply is an expected outcome), reached_in_two (that, or an expected article
  among the choices offered), wrong answers (an article or flow that is not an expected one),
  clarify and refusal rates; and the out-of-scope false answers (an article or flow given to a
  CLINC150 out-of-scope or foreign-domain message, or to a Banking77 near-domain message);
- the router update after one confirmation (embed it, refit): confirmed, refreshed and undone
  three times at each k, the median in seconds.

Each message is decided in process as the first message of a conversation (the router, the gate
and the turn's decision, bot.dialogue.decision), without Rasa: the live bot also mixes in the
NLU's intent ranking (nlu_weight), so its figures differ a little.

    .venv/bin/python benchmarks/learning_curve.py                # builds the demo index first
    .venv/bin/python benchmarks/learning_curve.py --index DIR    # an index of the demo KB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from bot.dialogue.answers import Gate  # noqa: E402
from bot.dialogue.decision import decide  # noqa: E402
from bot.dialogue.knowledge import IndexKnowledge  # noqa: E402
from bot.dialogue.turn import Turn  # noqa: E402
from bot.eval.routing import (  # noqa: E402
    BANKING_STORE,
    Utterance,
    load_banking,
    load_bitext,
    load_expected,
    load_oos,
    oos_source,
)
from bot.handoff.db import create_db_engine, migrate  # noqa: E402
from bot.kb.learned import LearnedStore  # noqa: E402
from bot.kb.learning import LearnedRouting  # noqa: E402
from bot.kb.router import normalised  # noqa: E402
from bot.kb.search import KnowledgeBase  # noqa: E402
from bot.settings import Settings  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval-data"
KS = (0, 1, 3, 5, 10)
MODEL = "all-MiniLM-L6-v2"
UPDATES = 3  # confirmations timed at each k


class Cached(IndexKnowledge):
    """The turn's knowledge with every message's embedding computed once, in batches."""

    def __init__(self, kb: KnowledgeBase, vectors: dict) -> None:
        super().__init__(kb, None, 0.0)
        self._vectors = vectors


def digest(text: str) -> int:
    """The split's hash: the first 8 hex digits of the SHA-256 of the normalised text."""
    return int(hashlib.sha256(normalised(text).encode()).hexdigest()[:8], 16)


def taught(text: str) -> bool:
    """The teaching half: an even hash."""
    return digest(text) % 2 == 0


def outcome(plan) -> tuple[str, list[str]]:
    """A plan as the evaluation spells an outcome, and the articles offered in a choice."""
    slots = plan.slots
    if plan.outcome == "article":
        return f"article:{slots.get('last_article')}", []
    if plan.outcome == "flow":
        return f"flow:{slots.get('route')}", []
    if plan.outcome == "clarify":
        return "clarify", [f"article:{a}" for a in slots.get("clarify_options") or []]
    if plan.outcome in ("cant_answer", "not_understood"):
        return "fallback", []
    return plan.outcome, []


def measure(
    kb: KnowledgeBase, gate: Gate, vectors: dict, items: list[Utterance], expected: dict
) -> dict:
    """The customer-facing rates of first messages, overall and per label."""
    knowledge = Cached(kb, vectors)
    counts: dict[str, int] = defaultdict(int)
    per_label: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item in items:
        said, offered = outcome(decide(Turn(text=item.text), knowledge, gate))
        wanted = expected[item.label]
        right = said in wanted
        reached = right or any(o in wanted for o in offered)
        counts["n"] += 1
        counts["right"] += right
        counts["reached"] += reached
        counts["wrong"] += said.split(":", 1)[0] in ("article", "flow") and not right
        counts["clarify"] += said == "clarify"
        counts["fallback"] += said == "fallback"
        row = per_label[item.label]
        row[0] += right
        row[1] += reached
        row[2] += 1
    n = counts["n"]
    return {
        "utterances": n,
        "accuracy": round(counts["right"] / n, 4),
        "reached_in_two": round(counts["reached"] / n, 4),
        "wrong_answer_rate": round(counts["wrong"] / n, 4),
        "clarify_rate": round(counts["clarify"] / n, 4),
        "refusal_rate": round(counts["fallback"] / n, 4),
        "per_label": {
            label: {"accuracy": round(r[0] / r[2], 3), "reached_in_two": round(r[1] / r[2], 3)}
            for label, r in sorted(per_label.items())
        },
    }


def false_answers(kb: KnowledgeBase, gate: Gate, vectors: dict, items: list[Utterance]) -> dict:
    """Out-of-scope messages answered with an article or a flow, by set."""
    knowledge = Cached(kb, vectors)
    by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        said, _ = outcome(decide(Turn(text=item.text), knowledge, gate))
        row = by_source[oos_source(item.label)]
        row[0] += said.split(":", 1)[0] in ("article", "flow")
        row[1] += 1
    return {
        source: {"false_answer_rate": round(r[0] / r[1], 4), "n": r[1]}
        for source, r in sorted(by_source.items())
    }


def build_demo_index(folder: Path) -> Path:
    """The demo KB and NLU examples, built as `bot kb build` does."""
    from bot.kb.builder import BuildOptions, build_index
    from bot.kb.chunker import ChunkConfig

    index = folder / "index"
    build_index(
        BuildOptions(
            kb_dir=ROOT / "kb_articles",
            index_dir=index,
            base_url="http://localhost:8080/help/",
            model=MODEL,
            chunking=ChunkConfig(),
            nlu_dir=ROOT / "data" / "nlu",
        )
    )
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="an index of the demo KB (default: build one)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "learning_curve.json"
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-learning-"))
    index = args.index or build_demo_index(folder)
    settings = Settings(settings_file=folder / "none.toml", data_dir=folder / "var")
    gate = Gate(
        settings.answer_threshold, settings.clarify_threshold, settings.similarity_threshold
    )
    engine = create_db_engine(f"sqlite:///{folder / 'learned.db'}")
    migrate(engine)
    store = LearnedStore(engine)
    kb = KnowledgeBase(
        index, MODEL, learning=lambda kb: LearnedRouting(store, kb.encode, poll_seconds=3600)
    )

    bitext_expected = load_expected(EVAL / "bitext-customer-support" / "expected_outcomes.json")
    sets = {
        "bitext": (
            load_bitext(EVAL / "bitext-customer-support" / "bitext_customer_support_dev.csv"),
            bitext_expected,
        ),
        "banking77": (load_banking(EVAL / "banking77" / "train.csv", store=True), BANKING_STORE),
    }
    oos = load_oos(EVAL / "clinc150") + load_banking(EVAL / "banking77" / "train.csv", store=False)
    texts = list(
        dict.fromkeys([u.text for items, _ in sets.values() for u in items] + [u.text for u in oos])
    )
    started = time.perf_counter()
    encoded = kb.embedder.encode(texts, 64)
    vectors = {t: v[None, :] for t, v in zip(texts, encoded, strict=True)}
    encode_seconds = time.perf_counter() - started

    teach: dict[str, list[tuple[str, str]]] = {}  # label -> (text, target), hash order
    tests: dict[str, list[Utterance]] = {}
    for name, (items, expected) in sets.items():
        tests[name] = [u for u in items if not taught(u.text)]
        for u in sorted((u for u in items if taught(u.text)), key=lambda u: digest(u.text)):
            target = expected[u.label][0]  # the first expected outcome: where a writer puts it
            teach.setdefault(f"{name}:{u.label}", []).append((u.text, target))

    curve = []
    confirmed_so_far = 0
    for k in KS:
        for questions in teach.values():
            batch = questions[confirmed_so_far:k]
            by_target: dict[str, list[str]] = defaultdict(list)
            for text, target in batch:
                by_target[target].append(text)
            for target, said in by_target.items():
                store.confirm(said, target, "benchmark")
        confirmed_so_far = k
        started = time.perf_counter()
        kb.router(fresh=True)
        batch_seconds = time.perf_counter() - started
        updates = []
        for n in range(UPDATES):  # one more confirmation, as the review queue makes it
            rows = store.confirm([f"where is my parcel number {n} now"], "flow:track_order", "b")
            started = time.perf_counter()
            kb.router(fresh=True)
            updates.append(time.perf_counter() - started)
            store.remove(batch=rows[0].batch, by="b")
        kb.router(fresh=True)
        point = {
            "k": k,
            "confirmed": len(store.active()),
            "router_update_seconds": round(statistics.median(updates), 3),
            "router_update_after_batch_seconds": round(batch_seconds, 3),
        }
        for name, (_, expected) in sets.items():
            point[name] = measure(kb, gate, vectors, tests[name], expected)
        point["out_of_scope"] = false_answers(kb, gate, vectors, oos)
        curve.append(point)
        summary = {f"{n} accuracy": point[n]["accuracy"] for n in sets} | {
            f"{n} oos false answers": point["out_of_scope"][n]["false_answer_rate"]
            for n in point["out_of_scope"]
        }
        print(f"k={k}: {summary}, update {point['router_update_seconds']} s", flush=True)
        _save(curve, tests, oos, gate, encode_seconds, args.out, final=k == KS[-1])


def _save(curve, tests, oos, gate, encode_seconds, out, final) -> None:
    """The result so far (after each k, so a long run that is stopped keeps what it measured)."""
    result = {
        "split": "taught if the first 8 hex digits of sha256(normalised text) are even; "
        "measured on the others",
        "decided": "in process (router, gate, turn decision; no Rasa NLU ranking)",
        "gate": {"answer": gate.answer, "clarify": gate.clarify, "similarity": gate.similarity},
        "measured_utterances": {n: len(t) for n, t in tests.items()},
        "out_of_scope_utterances": len(oos),
        "encode_seconds": round(encode_seconds, 1),
        "curve": curve,
        "complete": final,
    }
    command = "python benchmarks/learning_curve.py " + " ".join(sys.argv[1:])
    if final:
        save(result, command, out)
    else:
        out.write_text(json.dumps({**result, "command": command}, indent=2) + "\n")


if __name__ == "__main__":
    main()
