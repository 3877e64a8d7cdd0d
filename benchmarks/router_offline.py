"""The router and the gate on the public dev sets, in process: no Rasa, no stack.

Trains the router exactly as `bot kb build` does (the articles' titles, `questions:` and
headings, the NLU examples of data/nlu/ and the product route's phrasings: catalog/phrasings.yml
and those made from the synced catalogue, or the demo feed before a sync), routes every dev
message (Bitext, Banking77's store intents, and the out-of-scope sets: CLINC150 and Banking77's
near-domain intents), then replays the gate (`bot.eval.calibrate`) at the shipped thresholds
and at the thresholds calibration picks within the limits. The NLU's opinion is not in it (no
Rasa): live figures (`bot eval routing`) mix it in with the weight `nlu_weight`.

Vectors are cached in /tmp (by model and text), so a second run takes seconds:

    .venv/bin/python benchmarks/router_offline.py [--json] [--save DIR]

`--save DIR` writes records in `bot eval`'s format (routing.jsonl, routing-banking77.jsonl,
oos.jsonl) so `bot eval calibrate --routing ... --oos ...` can read them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.eval import EVAL_DATA  # noqa: E402
from bot.eval import calibrate as cal  # noqa: E402
from bot.eval.routing import (  # noqa: E402
    BANKING_STORE,
    load_banking,
    load_bitext,
    load_expected,
    load_oos,
    route_outcome,
    save_records,
    score_oos,
    score_routing,
)
from bot.kb.builder import options_from, router_phrasings  # noqa: E402
from bot.kb.loader import load_kb  # noqa: E402
from bot.kb.router import Router  # noqa: E402
from bot.settings import Settings  # noqa: E402

CACHE = Path("/tmp/router-offline-cache")
LIMITS = {"false_answer_rate": 0.03, "wrong_answer_rate": 0.03}


class Vectors:
    """The embedding model, with every text's vector cached on disk."""

    def __init__(self, model: str) -> None:
        self.model_name = model
        self._embedder = None
        CACHE.mkdir(parents=True, exist_ok=True)
        self.path = CACHE / (hashlib.sha1(model.encode()).hexdigest()[:12] + ".npz")
        self.known: dict[str, np.ndarray] = {}
        if self.path.exists():
            data = np.load(self.path, allow_pickle=False)
            self.known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.known))
        if missing:
            if self._embedder is None:
                from bot.kb.embedder import Embedder

                self._embedder = Embedder(self.model_name)
            for text, vector in zip(missing, self._embedder.encode(missing, 64), strict=True):
                self.known[text] = vector
            texts_all = list(self.known)
            np.savez(
                self.path,
                texts=np.array(texts_all),
                vectors=np.stack([self.known[t] for t in texts_all]),
            )
        return np.stack([self.known[t] for t in texts]).astype(np.float32)


def datasets() -> dict[str, list]:
    """The dev sets: in-scope (with expected outcomes) and out of scope."""
    bitext = load_bitext(EVAL_DATA / "bitext-customer-support" / "bitext_customer_support_dev.csv")
    banking = load_banking(EVAL_DATA / "banking77" / "train.csv", store=True)
    oos = load_oos(EVAL_DATA / "clinc150")
    oos += load_banking(EVAL_DATA / "banking77" / "train.csv", store=False)
    return {"bitext": bitext, "banking77": banking, "oos": oos}


def train(settings: Settings, vectors: Vectors) -> Router:
    """The router `bot kb build` would train from these articles and NLU examples."""
    result = load_kb(settings.kb_dir, settings.help_base_url)
    articles = [a for a in result.articles if not a.draft]
    phrasings = router_phrasings(articles, options_from(settings))
    return Router.train(phrasings, vectors([p.text for p in phrasings]))


def records(router: Router, items: list, vectors: Vectors) -> list[dict]:
    """One record per message, as `bot eval` keeps them (the outcome of acting on the top
    route is filled in by the replay)."""
    matrix = vectors([u.text for u in items])
    out = []
    for utterance, vector in zip(items, matrix, strict=True):
        routing = router.route(utterance.text, vector)
        top = routing.top
        out.append(
            {
                "text": utterance.text,
                "label": utterance.label,
                "outcome": route_outcome(top.label),
                "routing": routing.to_dict(),
            }
        )
    return out


def report(routed: dict[str, list[dict]], expected: dict, gate: tuple[float, float, float]):
    """Scores of every set at one threshold triple."""
    at = {k: [cal.replay_turn(r, *gate) for r in v] for k, v in routed.items()}
    out = {}
    for name in ("bitext", "banking77"):
        s = score_routing(at[name], expected)
        out[name] = {
            k: s[k]
            for k in (
                "accuracy",
                "reached_in_two",
                "wrong_answer_rate",
                "clarify_rate",
                "refusal_rate",
            )
        }
    o = score_oos(at["oos"])
    out["oos"] = {
        "false_answer_rate": o["false_answer_rate"],
        "choice_rate": o["choice_rate"],
        "by_source": o["by_source"],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    vectors = Vectors(settings.embedding_model)
    router = train(settings, vectors)
    sets = datasets()
    routed = {name: records(router, items, vectors) for name, items in sets.items()}
    expected = {
        **load_expected(EVAL_DATA / "bitext-customer-support" / "expected_outcomes.json"),
        **BANKING_STORE,
    }
    if args.save:
        save_records(args.save / "routing.jsonl", routed["bitext"])
        save_records(args.save / "routing-banking77.jsonl", routed["banking77"])
        save_records(args.save / "oos.jsonl", routed["oos"])
    shipped = (settings.answer_threshold, settings.clarify_threshold, settings.similarity_threshold)
    points = cal.sweep(routed["bitext"] + routed["banking77"], routed["oos"], expected)
    chosen = cal.choose(points, LIMITS["false_answer_rate"], LIMITS["wrong_answer_rate"])
    result = {
        "phrasings": len(router.phrasings),
        "labels": len(router.labels),
        "shipped": {"gate": shipped, **report(routed, expected, shipped)},
        "calibrated": (
            {
                "gate": (chosen.answer, chosen.clarify, chosen.similarity),
                "limits": LIMITS,
                **report(routed, expected, (chosen.answer, chosen.clarify, chosen.similarity)),
            }
            if chosen
            else None
        ),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("shipped", "calibrated"):
        row = result[name]
        if row is None:
            print(f"{name}: no thresholds within the limits")
            continue
        print(f"{name}: answer / clarify / similarity = {row['gate']}")
        for ds in ("bitext", "banking77"):
            r = row[ds]
            print(
                f"  {ds:10} right {r['accuracy']:.3f}  in two {r['reached_in_two']:.3f}  "
                f"wrong {r['wrong_answer_rate']:.3f}  choice {r['clarify_rate']:.3f}  "
                f"refused {r['refusal_rate']:.3f}"
            )
        for source, r in row["oos"]["by_source"].items():
            print(
                f"  oos {source:6} false answers {r['false_answer_rate']:.3f}  "
                f"offered a choice {r['choice_rate']:.3f}"
            )


if __name__ == "__main__":
    main()
