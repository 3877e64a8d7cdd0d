"""Pick the answer and clarify thresholds from recorded first turns.

Outcomes the thresholds decide (article / clarify / fallback) are replayed from each record's
top search score and article: the same rule as `bot.dialogue.answers.decide`. Flows, handoffs and
small talk do not depend on the thresholds and keep their recorded outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.eval.routing import ANSWERED, KB_PATH, score_oos, score_routing

MAX_FALSE_ANSWER_RATE = 0.05
GRID = [round(0.20 + 0.01 * i, 2) for i in range(71)]  # 0.20 … 0.90


def replay(record: dict, answer: float, clarify: float) -> str:
    """The outcome this turn would have had with these thresholds."""
    outcome = record["outcome"]
    if not _replayable(record):
        return outcome
    score = record["score"]
    if score < clarify:
        return "fallback"
    if score >= answer:
        return f"article:{record['top_article']}"
    return "clarify"


@dataclass
class Point:
    answer: float
    clarify: float
    accuracy: float
    clarify_rate: float
    false_answer_rate: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def evaluate_point(
    routing: list[dict],
    oos: list[dict],
    expected: dict[str, list[str]],
    answer: float,
    clarify: float,
) -> Point:
    def at(records: list[dict]) -> list[dict]:
        return [{**r, "outcome": replay(r, answer, clarify)} for r in records]

    r = score_routing(at(routing), expected)
    o = score_oos(at(oos))
    return Point(answer, clarify, r["accuracy"], r["clarify_rate"], o["false_answer_rate"])


def sweep(routing: list[dict], oos: list[dict], expected: dict[str, list[str]]) -> list[Point]:
    """Every (answer, clarify) pair on the grid with clarify ≤ answer (vectorised replay)."""
    import numpy as np

    routing = [r for r in routing if r["label"] in expected]
    if not routing or not oos:
        raise ValueError("calibration needs routing and out-of-scope records")

    def split(records: list[dict]) -> tuple[list[dict], np.ndarray]:
        kb = [r for r in records if _replayable(r)]
        return kb, np.array([r["score"] for r in kb], dtype=np.float64)

    kb, scores = split(routing)
    static = [r for r in routing if not _replayable(r)]
    static_ok = sum(r["outcome"] in expected[r["label"]] for r in static)
    static_clarify = sum(r["outcome"] == "clarify" for r in static)
    article_ok = np.array([f"article:{r['top_article']}" in expected[r["label"]] for r in kb])
    clarify_ok = np.array(["clarify" in expected[r["label"]] for r in kb])
    fallback_ok = np.array(["fallback" in expected[r["label"]] for r in kb])
    oos_kb, oos_scores = split(oos)
    oos_static = sum(r["outcome"].split(":", 1)[0] in ANSWERED for r in oos if not _replayable(r))
    n, n_oos = len(routing), len(oos)
    points = []
    for a in GRID:
        answered = scores >= a
        oos_answered = int((oos_scores >= a).sum())
        for c in GRID:
            if c > a:
                continue
            fallen = scores < c
            middle = ~answered & ~fallen
            correct = (
                static_ok
                + (answered & article_ok).sum()
                + (middle & clarify_ok).sum()
                + (fallen & fallback_ok).sum()
            )
            points.append(
                Point(
                    a,
                    c,
                    float(correct) / n,
                    float(static_clarify + middle.sum()) / n,
                    (oos_static + oos_answered) / n_oos,
                )
            )
    return points


def _replayable(record: dict) -> bool:
    return record["outcome"].split(":", 1)[0] in KB_PATH and record.get("score") is not None


def choose(points: list[Point], max_far: float = MAX_FALSE_ANSWER_RATE) -> Point | None:
    """Best routing accuracy with a false-answer rate within the limit; ties: fewer false answers,
    then fewer clarifying questions."""
    allowed = [p for p in points if p.false_answer_rate <= max_far]
    if not allowed:
        return None
    return max(allowed, key=lambda p: (p.accuracy, -p.false_answer_rate, -p.clarify_rate))


def curve(points: list[Point]) -> list[Point]:
    """For each answer threshold, its best clarify threshold: the trade-off to print and plot."""
    best: dict[float, Point] = {}
    for p in points:
        if p.answer not in best or (p.accuracy, -p.clarify_rate) > (
            best[p.answer].accuracy,
            -best[p.answer].clarify_rate,
        ):
            best[p.answer] = p
    return [best[a] for a in sorted(best)]


def plot(points: list[Point], chosen: Point | None, path: Path, max_far: float) -> Path:
    """Routing accuracy and false-answer rate against the answer threshold, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    line = curve(points)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    xs = [p.answer for p in line]
    ax.plot(xs, [p.accuracy for p in line], label="routing accuracy (Bitext)")
    ax.plot(xs, [p.false_answer_rate for p in line], label="false-answer rate (out of scope)")
    ax.plot(xs, [p.clarify_rate for p in line], label="clarify rate (Bitext)", linestyle=":")
    ax.axhline(max_far, color="grey", linestyle="--", linewidth=0.8, label=f"{max_far:.0%} limit")
    if chosen:
        ax.axvline(chosen.answer, color="black", linewidth=0.8)
        ax.annotate(
            f"answer {chosen.answer:.2f} / clarify {chosen.clarify:.2f}",
            (chosen.answer, chosen.accuracy),
            textcoords="offset points",
            xytext=(6, -14),
            fontsize=8,
        )
    ax.set_xlabel("answer threshold (best clarify threshold for each)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_thresholds(settings_file: Path, point: Point) -> None:
    """Set answer_threshold and clarify_threshold in the TOML settings file, keeping the rest."""
    import tomlkit

    document = (
        tomlkit.parse(settings_file.read_text(encoding="utf-8"))
        if settings_file.exists()
        else tomlkit.document()
    )
    document["answer_threshold"] = point.answer
    document["clarify_threshold"] = point.clarify
    settings_file.write_text(tomlkit.dumps(document), encoding="utf-8")
