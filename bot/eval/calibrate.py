"""Pick the gate's thresholds from recorded first turns.

Each record keeps the router's candidates for its message (`routing`), so the gate in
`bot.dialogue.answers.choose` can be replayed at any thresholds without asking the bot again:
the answer threshold (act on the best route), the clarify threshold (offer the closest
articles) and the similarity threshold (too unlike every known phrasing). Records without
candidates (a first message the dialogue rules answer, such as "yes") keep their outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.eval.routing import ANSWERED, score_oos, score_routing

MAX_FALSE_ANSWER_RATE = 0.03
GRID = [round(0.10 + 0.02 * i, 2) for i in range(41)]  # 0.10 … 0.90
SIMILARITY_GRID = [0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]
# What acting on a route looks like in a turn's metadata, as the expected-outcomes files say it.
ROUTE_OUTCOMES = {
    "intent:reset_password": "flow:reset_password",
    "intent:track_order": "flow:track_order",
    # the troubleshooting answer ends with an offer of a person: the turn's last metadata
    "intent:reset_email_missing": "handoff_offer",
    "intent:request_human": "handoff",
    "intent:complaint": "handoff",
    "intent:out_of_scope": "fallback",
}


def route_outcome(label: str) -> str:
    """The outcome label of acting on a route."""
    if label.startswith("article:"):
        return label
    return ROUTE_OUTCOMES.get(label, "smalltalk")


def replay(record: dict, answer: float, clarify: float, similarity: float) -> str:
    """The outcome this turn would have had with these thresholds (the gate's own rule)."""
    routes = _routes(record)
    if not routes:
        return record["outcome"]
    top = routes[0]
    if top["nearest"] < similarity or top["probability"] < clarify:
        return "fallback"
    if top["probability"] >= answer:
        return route_outcome(top["label"])
    return "clarify" if top["label"].startswith("article:") else "fallback"


def _routes(record: dict) -> list[dict]:
    return (record.get("routing") or {}).get("routes") or []


@dataclass
class Point:
    answer: float
    clarify: float
    similarity: float
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
    similarity: float,
) -> Point:
    def at(records: list[dict]) -> list[dict]:
        return [{**r, "outcome": replay(r, answer, clarify, similarity)} for r in records]

    r = score_routing(at(routing), expected)
    o = score_oos(at(oos))
    return Point(
        answer, clarify, similarity, r["accuracy"], r["clarify_rate"], o["false_answer_rate"]
    )


def sweep(routing: list[dict], oos: list[dict], expected: dict[str, list[str]]) -> list[Point]:
    """Every threshold triple on the grid with clarify ≤ answer (vectorised replay)."""
    import numpy as np

    routing = [r for r in routing if r["label"] in expected]
    if not routing or not oos:
        raise ValueError("calibration needs routing and out-of-scope records")

    def split(records: list[dict]):
        live = [r for r in records if _routes(r)]
        top = [_routes(r)[0] for r in live]
        return (
            live,
            np.array([t["probability"] for t in top], dtype=np.float64),
            np.array([t["nearest"] for t in top], dtype=np.float64),
            np.array([t["label"].startswith("article:") for t in top]),
            [route_outcome(t["label"]) for t in top],
        )

    live, p, near, article, outcome = split(routing)
    static = [r for r in routing if not _routes(r)]
    static_ok = sum(r["outcome"] in expected[r["label"]] for r in static)
    static_clarify = sum(r["outcome"] == "clarify" for r in static)
    act_ok = np.array([o in expected[r["label"]] for o, r in zip(outcome, live, strict=True)])
    clarify_ok = np.array(["clarify" in expected[r["label"]] for r in live], dtype=bool)
    fallback_ok = np.array(["fallback" in expected[r["label"]] for r in live], dtype=bool)
    _, op, onear, _, ooutcome = split(oos)
    o_false = np.array([o.split(":", 1)[0] in ANSWERED for o in ooutcome], dtype=bool)
    oos_static = sum(r["outcome"].split(":", 1)[0] in ANSWERED for r in oos if not _routes(r))
    n, n_oos = len(routing), len(oos)
    points = []
    for sim in SIMILARITY_GRID:
        known, oknown = near >= sim, onear >= sim
        for a in GRID:
            acted = known & (p >= a)
            oos_false = oos_static + int((oknown & (op >= a) & o_false).sum())
            for c in GRID:
                if c > a:
                    continue
                refused = ~known | (p < c)
                middle = ~acted & ~refused
                clarified = middle & article
                fallen = refused | (middle & ~article)
                correct = (
                    static_ok
                    + (acted & act_ok).sum()
                    + (clarified & clarify_ok).sum()
                    + (fallen & fallback_ok).sum()
                )
                points.append(
                    Point(
                        a,
                        c,
                        sim,
                        float(correct) / n,
                        float(static_clarify + clarified.sum()) / n,
                        oos_false / n_oos,
                    )
                )
    return points


def choose(points: list[Point], max_far: float = MAX_FALSE_ANSWER_RATE) -> Point | None:
    """Best routing accuracy with a false-answer rate within the limit; ties: fewer false answers,
    then fewer clarifying questions."""
    allowed = [p for p in points if p.false_answer_rate <= max_far]
    if not allowed:
        return None
    return max(allowed, key=lambda p: (p.accuracy, -p.false_answer_rate, -p.clarify_rate))


def curve(points: list[Point]) -> list[Point]:
    """The trade-off: for each false-answer rate, the best routing accuracy any thresholds reach
    without more false answers (the points no other point beats on both), lowest rate first."""
    frontier: list[Point] = []
    for p in sorted(points, key=lambda p: (p.false_answer_rate, -p.accuracy, p.clarify_rate)):
        if not frontier or p.accuracy > frontier[-1].accuracy:
            frontier.append(p)
    return frontier


def plot(points: list[Point], chosen: Point | None, path: Path, max_far: float) -> Path:
    """Routing accuracy against the false-answer rate on the trade-off curve, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    line = curve(points)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    xs = [p.false_answer_rate for p in line]
    ax.plot(xs, [p.accuracy for p in line], marker=".", label="routing accuracy")
    ax.plot(xs, [p.clarify_rate for p in line], linestyle=":", label="clarify rate")
    ax.axvline(max_far, color="grey", linestyle="--", linewidth=0.8, label=f"{max_far:.0%} limit")
    if chosen:
        ax.plot([chosen.false_answer_rate], [chosen.accuracy], "ko")
        ax.annotate(
            f"answer {chosen.answer:.2f} / clarify {chosen.clarify:.2f} / "
            f"similarity {chosen.similarity:.2f}",
            (chosen.false_answer_rate, chosen.accuracy),
            textcoords="offset points",
            xytext=(6, -14),
            fontsize=8,
        )
    ax.set_xlabel("false-answer rate on out-of-scope messages")
    ax.set_ylabel("share of first messages")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_thresholds(settings_file: Path, point: Point) -> None:
    """Set the three thresholds in the TOML settings file, keeping the rest."""
    import tomlkit

    document = (
        tomlkit.parse(settings_file.read_text(encoding="utf-8"))
        if settings_file.exists()
        else tomlkit.document()
    )
    document["answer_threshold"] = point.answer
    document["clarify_threshold"] = point.clarify
    document["similarity_threshold"] = point.similarity
    settings_file.write_text(tomlkit.dumps(document), encoding="utf-8")
