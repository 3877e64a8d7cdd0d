"""Ways to read customers better at k = 0, tried against the shipped router (issue 25, point 5).

Each variant changes one thing (the phrasings the router learns, the vectors, the message, or a
channel) and is measured exactly as `router_offline.py` measures the shipped router: every dev
message routed in process, the gate replayed at the shipped thresholds and at the thresholds
`bot eval calibrate` picks within 3 % out-of-scope false answers and 3 % wrong answers.
Vectors are cached in /tmp as in `router_offline.py`; token vectors (`late`) in /tmp too.

    .venv/bin/python benchmarks/router_variants.py                 # every variant
    .venv/bin/python benchmarks/router_variants.py shipped frames  # some of them

Results and what was kept: benchmarks/README.md, "k = 0 on 2026-12-07".
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import router_offline as ro  # noqa: E402

from bot.eval import EVAL_DATA  # noqa: E402
from bot.eval import calibrate as cal  # noqa: E402
from bot.eval.routing import BANKING_STORE, load_expected, route_outcome  # noqa: E402
from bot.kb import router as routing  # noqa: E402
from bot.kb.builder import options_from, router_phrasings  # noqa: E402
from bot.kb.loader import load_kb  # noqa: E402
from bot.kb.router import Phrasing, Router  # noqa: E402
from bot.settings import Settings  # noqa: E402

TOKENS = Path("/tmp/router-variants-tokens.pickle")
# Generic requests around a question ("can you help me?"), and neutral chat around it ("thx"):
# our own lists, one phrasing's variants picked by a hash of its text.
REQUEST_FRAMES = (
    ["hi, ", "hello, ", "hey, ", "quick question, ", "i need some help, ", "can you help me? "]
    + ["excuse me, ", "good morning, ", "please help: ", "i have a question: "]
    + ["i need assistance, ", "sorry to bother you, "],
    [" please", ", can you help me?", " thanks", ", any help appreciated", "??"]
    + [", i need assistance", " asap", ", can you assist?", " thank you", ", help please"],
)
NEUTRAL_FRAMES = (
    ["hi there, ", "hello team, ", "ok so ", "quick one: ", "hey support, ", "um, ", "question - "]
    + ["hiya, ", "so ", "yo, "],
    ["?", " thx", " pls", ", cheers", ", is that possible?", " :)", "...", ", anyone?", " !!"]
    + [" for me"],
)
LEADING_REQUEST = re.compile(
    r"^(?:(?:hi|hello|hey)\b[\s,!.]*)?(?:(?:can|could|would) you (?:please )?(?:help|assist)"
    r"(?: me)?(?: with| to)?|(?:please )?(?:help|assist)(?: me)?(?: with| to)?|i (?:need|want|"
    r"would like|'d like) (?:some )?(?:help|assistance)(?: with| to)?|i (?:need|want|would like|"
    r"'d like) to (?:know|see|check|find out)|(?:can|could) you (?:please )?(?:tell|show) me|"
    r"i (?:need|want|have) to|i'?m trying to|i am trying to)\b[\s,:]*",
    re.I,
)
TRAILING_REQUEST = re.compile(
    r"[\s,]*(?:(?:can|could) you (?:please )?(?:help|assist)(?: me)?|please|thanks|thank you|"
    r"asap)[\s?!.]*$",
    re.I,
)
ORDER_NUMBER = re.compile(r"(?<![\w.])#?\d[\d\-]{3,}\d\b")
AMOUNT = re.compile(
    r"[$£€]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:dollars|euros?|pounds|bucks)\b", re.I
)


class Bench:
    """The dev sets, the shipped phrasings and the cached vectors, loaded once."""

    def __init__(self) -> None:
        self.settings = Settings(_env_file=None)
        self.vectors = ro.Vectors(self.settings.embedding_model)
        articles = [a for a in load_kb(self.settings.kb_dir, "").articles if not a.draft]
        self.phrasings = router_phrasings(articles, options_from(self.settings))
        self.sets = ro.datasets()
        self.expected = {
            **load_expected(EVAL_DATA / "bitext-customer-support" / "expected_outcomes.json"),
            **BANKING_STORE,
        }
        s = self.settings
        self.gate = (s.answer_threshold, s.clarify_threshold, s.similarity_threshold)

    def measure(
        self,
        phrasings: list[Phrasing] | None = None,
        vectors: Callable[[list[str]], np.ndarray] | None = None,
        text: Callable[[str], str] = lambda t: t,
        router_class: type[Router] = Router,
    ) -> dict:
        """Train on the phrasings, route every dev message, score both gates."""
        phrasings = self.phrasings if phrasings is None else phrasings
        embed = vectors or self.vectors
        router = router_class.train(phrasings, embed([text(p.text) for p in phrasings]))
        routed = {}
        for name, items in self.sets.items():
            matrix = embed([text(u.text) for u in items])
            routed[name] = [
                {
                    "text": u.text,
                    "label": u.label,
                    "outcome": route_outcome(r.top.label),
                    "routing": r.to_dict(),
                }
                for u, v in zip(items, matrix, strict=True)
                for r in [router.route(text(u.text), v)]
            ]
        top1 = {
            name: float(np.mean([r["outcome"] in self.expected[r["label"]] for r in routed[name]]))
            for name in ("bitext", "banking77")
        }
        points = cal.sweep(routed["bitext"] + routed["banking77"], routed["oos"], self.expected)
        chosen = cal.choose(points, 0.03, 0.03)
        calibrated = (chosen.answer, chosen.clarify, chosen.similarity) if chosen else None
        return {
            "phrasings": len(phrasings),
            "top1": top1,
            "shipped": ro.report(routed, self.expected, self.gate),
            "calibrated": ro.report(routed, self.expected, calibrated) if calibrated else None,
            "calibrated_gate": calibrated,
        }


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def framed(phrasings: list[Phrasing], frames, n: int, in_scope_only: bool) -> list[Phrasing]:
    """Each phrasing and n variants with a frame before or after it (alternately)."""
    before, after = frames
    out = list(phrasings)
    for p in phrasings:
        if in_scope_only and p.label in (routing.INTENT + "out_of_scope", routing.PRODUCT):
            continue
        core = p.text.rstrip("?.! ")
        for i in range(n):
            k = _hash(p.text + str(i))
            text = (
                before[k % len(before)] + core[0].lower() + core[1:]
                if i % 2 == 0
                else core + after[k % len(after)]
            )
            out.append(Phrasing(text, p.label, p.source + ":framed"))
    return out


def with_typos(phrasings: list[Phrasing], n: int) -> list[Phrasing]:
    """Each phrasing and n copies with one typo (a swap, a dropped or a doubled letter)."""
    out = list(phrasings)
    for p in phrasings:
        rng = random.Random(_hash(p.text))
        for _ in range(n):
            letters = [i for i, c in enumerate(p.text) if c.isalpha()]
            if len(letters) < 4:
                continue
            i = rng.choice(letters[1:-1])
            t, op = p.text, rng.randrange(3)
            t = (t[:i] + t[i + 1] + t[i] + t[i + 2 :]) if op == 0 else t
            t = (t[:i] + t[i + 1 :]) if op == 1 else t
            t = (t[:i] + t[i] + t[i:]) if op == 2 else t
            out.append(Phrasing(t, p.label, p.source + ":typo"))
    return out


def without_request(text: str) -> str:
    """The message without a leading or trailing request ("can you help me", "please")."""
    core = TRAILING_REQUEST.sub("", LEADING_REQUEST.sub("", text.strip())).strip(" ,?!.")
    return core if len(core.split()) >= 2 else text


def without_numbers(text: str, amounts: bool) -> str:
    """The message without order numbers (and amounts as "money")."""
    out = ORDER_NUMBER.sub("", text)
    out = AMOUNT.sub("money", out) if amounts else out
    return " ".join(out.split()) or text


def centred(bench: Bench, components: int) -> Callable[[list[str]], np.ndarray]:
    """Vectors minus the phrasings' mean and their top principal components, renormalised."""
    p = bench.vectors([x.text for x in bench.phrasings])
    mean = p.mean(0)
    top = np.linalg.svd(p - mean, full_matrices=False)[2][:components]

    def embed(texts: list[str]) -> np.ndarray:
        x = bench.vectors(texts) - mean
        x = x - (x @ top.T) @ top
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return embed


def late_interaction(bench: Bench, weight: float, temperature: float) -> type[Router]:
    """A fourth channel: MiniLM's token vectors of the message against each phrasing's
    (the best match of every token, both ways, averaged: ColBERT's MaxSim), a softmax over
    each label's best phrasing."""
    tokens = _token_vectors(bench)
    stacked = np.vstack([tokens[p.text] for p in bench.phrasings])
    lengths = np.array([len(tokens[p.text]) for p in bench.phrasings])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])

    class LateRouter(Router):
        def route(self, text, vector, **kw):
            full = super().route(text, vector, k=len(self.labels))
            s = tokens[text] @ stacked.T
            both = (np.maximum.reduceat(s, starts, axis=1).mean(0)) / 2
            both += np.add.reduceat(s.max(0), starts) / lengths / 2
            best = np.full(len(self.labels), -1.0)
            np.maximum.at(best, self._phrasing_label, both)
            p = np.exp((best - best.max()) / temperature)
            p /= p.sum()
            routes = sorted(
                (
                    routing.Route(
                        r.label,
                        (1 - weight) * r.probability + weight * p[self._index[r.label]],
                        r.nearest,
                        r.phrasing,
                    )
                    for r in full.routes
                ),
                key=lambda r: -r.probability,
            )[:5]
            return routing.Routing(
                routes, {r.label: full.channels.get(r.label, {}) for r in routes}
            )

    return LateRouter


def _token_vectors(bench: Bench) -> dict[str, np.ndarray]:
    """Each text's normalised token vectors (special tokens left out), cached in /tmp."""
    known: dict[str, np.ndarray] = {}
    if TOKENS.exists():
        with TOKENS.open("rb") as handle:
            known = pickle.load(handle)  # noqa: S301 - our own cache
    texts = [p.text for p in bench.phrasings] + [u.text for s in bench.sets.values() for u in s]
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        from sentence_transformers import SentenceTransformer

        from bot.kb.embedder import resolve_model_path

        location = resolve_model_path(bench.settings.embedding_model)
        model = SentenceTransformer(location, device="cpu")
        found = model.encode(missing, output_value="token_embeddings", batch_size=64)
        for text, t in zip(missing, found, strict=True):
            t = t[1:-1].numpy() if len(t) > 2 else np.zeros((1, t.shape[1]), np.float32)
            known[text] = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
        with TOKENS.open("wb") as handle:
            pickle.dump(known, handle)
    return known


def variants(bench: Bench) -> dict[str, Callable[[], dict]]:
    """Every variant, by name."""
    b, ph = bench, bench.phrasings
    return {
        "shipped": lambda: b.measure(),
        "centred": lambda: b.measure(vectors=centred(b, 0)),
        "abtt1": lambda: b.measure(vectors=centred(b, 1)),
        "abtt3": lambda: b.measure(vectors=centred(b, 3)),
        "frames": lambda: b.measure(framed(ph, REQUEST_FRAMES, 2, False)),
        "frames_in_scope": lambda: b.measure(framed(ph, REQUEST_FRAMES, 2, True)),
        "frames3": lambda: b.measure(framed(ph, REQUEST_FRAMES, 3, False)),
        "neutral_frames": lambda: b.measure(framed(ph, NEUTRAL_FRAMES, 2, False)),
        "typos": lambda: b.measure(with_typos(ph, 2)),
        "strip_request": lambda: b.measure(text=without_request),
        "no_order_numbers": lambda: b.measure(text=lambda t: without_numbers(t, False)),
        "no_numbers_or_amounts": lambda: b.measure(text=lambda t: without_numbers(t, True)),
        "late_0.2": lambda: b.measure(router_class=late_interaction(b, 0.2, 0.03)),
        "late_0.3": lambda: b.measure(router_class=late_interaction(b, 0.3, 0.05)),
    }


def line(name: str, r: dict) -> str:
    """One variant's figures: router top-1, then right / in two / wrong per set at a gate."""

    def at(report: dict) -> str:
        sets = "; ".join(
            f"{report[s]['accuracy']:.3f} {report[s]['reached_in_two']:.3f} "
            f"{100 * report[s]['wrong_answer_rate']:.1f}%"
            for s in ("bitext", "banking77")
        )
        far = "/".join(
            f"{100 * v['false_answer_rate']:.1f}%" for v in report["oos"]["by_source"].values()
        )
        return f"{sets}  oos {far}"

    top1 = f"{r['top1']['bitext']:.3f}/{r['top1']['banking77']:.3f}"
    out = f"{name:22} {r['phrasings']:5}  top-1 {top1}"
    out += f"\n    shipped gate     {at(r['shipped'])}"
    if r["calibrated"]:
        out += f"\n    calibrated {r['calibrated_gate']}  {at(r['calibrated'])}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="variants to run (default: all)")
    args = parser.parse_args()
    bench = Bench()
    known = variants(bench)
    for name in args.names or list(known):
        if name not in known:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(known)}")
        print(line(name, known[name]()), flush=True)


if __name__ == "__main__":
    main()
