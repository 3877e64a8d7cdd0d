"""Pick the gate's thresholds from recorded first turns.

Each record keeps the router's candidates for its message (`routing`), so the gate in
`bot.dialogue.answers.choose` can be replayed at any thresholds without asking the bot again:
the answer threshold (act on the best route), the clarify threshold (offer the plausible ones
among the top three as choices) and the similarity threshold (too unlike every known phrasing).
Records without candidates (a first message the dialogue rules answer, such as "yes") keep their
outcome. Two limits are stated: out-of-scope messages answered (an article or a flow), and
in-scope messages answered wrongly; within them the thresholds with the most first replies
right plus reached in two (right first, or among the choices) win.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.dialogue.answers import Gate, offerable
from bot.dialogue.answers import choose as gate_choice
from bot.eval.routing import ANSWERED, reached, route_outcome, score_oos, score_routing
from bot.kb.router import Route, Routing

MAX_FALSE_ANSWER_RATE = 0.03
MAX_WRONG_ANSWER_RATE = 0.03
GRID = [round(0.10 + 0.02 * i, 2) for i in range(41)]  # 0.10 … 0.90
CLARIFY_GRID = [round(0.02 + 0.02 * i, 2) for i in range(20)]  # 0.02 … 0.40
SIMILARITY_GRID = [0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]
OPTIONS = 3  # the routes the gate may offer: the top three


def replay_turn(record: dict, answer: float, clarify: float, similarity: float) -> dict:
    """The turn as it would have gone with these thresholds: outcome, and choices offered."""
    routes = _routes(record)
    if not routes:
        return {**record}
    routing = Routing(
        [Route(r["label"], r["probability"], r["nearest"], r.get("phrasing", "")) for r in routes]
    )
    choice = gate_choice(routing, Gate(answer, clarify, similarity))
    if choice.outcome in ("article", "intent", "product"):
        return {**record, "outcome": route_outcome(choice.top.label), "options": []}
    if choice.outcome == "clarify":
        options = [route_outcome(r.label) for r in choice.routes]
        return {**record, "outcome": "clarify", "options": options}
    return {**record, "outcome": "fallback", "options": []}


def replay(record: dict, answer: float, clarify: float, similarity: float) -> str:
    """The outcome this turn would have had with these thresholds (the gate's own rule)."""
    return replay_turn(record, answer, clarify, similarity)["outcome"]


def _routes(record: dict) -> list[dict]:
    return (record.get("routing") or {}).get("routes") or []


@dataclass
class Point:
    answer: float
    clarify: float
    similarity: float
    accuracy: float
    reached_in_two: float
    wrong_answer_rate: float
    clarify_rate: float
    false_answer_rate: float
    oos_choice_rate: float

    def to_dict(self) -> dict:
        return {k: round(v, 4) for k, v in self.__dict__.items()}

    @property
    def score(self) -> float:
        """What the choice optimises: first replies right plus reached in two."""
        return self.accuracy + self.reached_in_two


def evaluate_point(
    routing: list[dict],
    oos: list[dict],
    expected: dict[str, list[str]],
    answer: float,
    clarify: float,
    similarity: float,
) -> Point:
    """Replay every record at one threshold triple and score it."""

    def at(records: list[dict]) -> list[dict]:
        return [replay_turn(r, answer, clarify, similarity) for r in records]

    r = score_routing(at(routing), expected)
    o = score_oos(at(oos))
    return Point(
        answer,
        clarify,
        similarity,
        r["accuracy"],
        r["reached_in_two"],
        r["wrong_answer_rate"],
        r["clarify_rate"],
        o["false_answer_rate"],
        o["choice_rate"],
    )


def _arrays(records: list[dict], expected: dict[str, list[str]] | None):
    """The top routes of the records that have them, as arrays (padded to OPTIONS)."""
    import numpy as np

    live = [r for r in records if _routes(r)]
    n = len(live)
    p = np.zeros((n, OPTIONS))
    can_offer = np.zeros((n, OPTIONS), dtype=bool)
    option_ok = np.zeros((n, OPTIONS), dtype=bool)
    near = np.zeros(n)
    act_ok = np.zeros(n, dtype=bool)
    act_answers = np.zeros(n, dtype=bool)
    act_refuses = np.zeros(n, dtype=bool)
    clarify_ok = np.zeros(n, dtype=bool)
    fallback_ok = np.zeros(n, dtype=bool)
    for i, record in enumerate(live):
        routes = _routes(record)
        wanted = expected.get(record["label"], []) if expected else []
        near[i] = routes[0]["nearest"]
        top = route_outcome(routes[0]["label"])
        act_ok[i] = top in wanted
        act_answers[i] = top.split(":", 1)[0] in ANSWERED
        act_refuses[i] = top == "fallback"
        clarify_ok[i] = "clarify" in wanted
        fallback_ok[i] = "fallback" in wanted
        for k, route in enumerate(routes[:OPTIONS]):
            p[i, k] = route["probability"]
            can_offer[i, k] = offerable(Route(route["label"], 0.0, 0.0, ""))
            option_ok[i, k] = route_outcome(route["label"]) in wanted
    return {
        "p": p,
        "offer": can_offer,
        "option_ok": option_ok,
        "near": near,
        "act_ok": act_ok,
        "act_answers": act_answers,
        "act_refuses": act_refuses,
        "clarify_ok": clarify_ok,
        "fallback_ok": fallback_ok,
    }


def sweep(routing: list[dict], oos: list[dict], expected: dict[str, list[str]]) -> list[Point]:
    """Every threshold triple on the grids with clarify ≤ answer (vectorised replay)."""

    routing = [r for r in routing if r["label"] in expected]
    if not routing or not oos:
        raise ValueError("calibration needs routing and out-of-scope records")
    static = [r for r in routing if not _routes(r)]
    static_ok = sum(r["outcome"] in expected[r["label"]] for r in static)
    static_reached = sum(reached(r, expected[r["label"]]) for r in static)
    static_wrong = sum(
        r["outcome"] not in expected[r["label"]] and r["outcome"].split(":", 1)[0] in ANSWERED
        for r in static
    )
    static_clarify = sum(r["outcome"] == "clarify" for r in static)
    oos_static = [r for r in oos if not _routes(r)]
    oos_static_false = sum(r["outcome"].split(":", 1)[0] in ANSWERED for r in oos_static)
    oos_static_choice = sum(r["outcome"] == "clarify" for r in oos_static)
    a_in, a_out = _arrays(routing, expected), _arrays(oos, None)
    n, n_oos = len(routing), len(oos)
    points = []
    for sim in SIMILARITY_GRID:
        known, o_known = a_in["near"] >= sim, a_out["near"] >= sim
        for a in GRID:
            acted = known & (a_in["p"][:, 0] >= a)
            o_acted = o_known & (a_out["p"][:, 0] >= a)
            o_false = oos_static_false + int((o_acted & a_out["act_answers"]).sum())
            right_acts = int((acted & a_in["act_ok"]).sum())
            wrong = static_wrong + int((acted & a_in["act_answers"] & ~a_in["act_ok"]).sum())
            for c in CLARIFY_GRID:
                if c > a:
                    continue
                offers = (known & ~acted)[:, None] & a_in["offer"] & (a_in["p"] >= c)
                clarified = offers.any(axis=1)
                fallen = ~acted & ~clarified
                correct = (
                    static_ok
                    + right_acts
                    + int((clarified & a_in["clarify_ok"]).sum())
                    + int((fallen & a_in["fallback_ok"]).sum())
                )
                found = (offers & a_in["option_ok"]).any(axis=1)
                got = (acted & a_in["act_ok"]) | (clarified & (found | a_in["clarify_ok"]))
                got |= fallen & a_in["fallback_ok"]
                o_offers = (o_known & ~o_acted)[:, None] & a_out["offer"] & (a_out["p"] >= c)
                points.append(
                    Point(
                        a,
                        c,
                        sim,
                        correct / n,
                        (static_reached + int(got.sum())) / n,
                        wrong / n,
                        (static_clarify + int(clarified.sum())) / n,
                        o_false / n_oos,
                        (oos_static_choice + int(o_offers.any(axis=1).sum())) / n_oos,
                    )
                )
    return points


def choose(
    points: list[Point],
    max_far: float = MAX_FALSE_ANSWER_RATE,
    max_wrong: float = MAX_WRONG_ANSWER_RATE,
) -> Point | None:
    """The most first replies right plus reached in two, with out-of-scope false answers and
    in-scope wrong answers within their limits; ties: fewer wrong answers, fewer false answers,
    fewer choices."""
    allowed = [
        p for p in points if p.false_answer_rate <= max_far and p.wrong_answer_rate <= max_wrong
    ]
    if not allowed:
        return None
    return max(
        allowed,
        key=lambda p: (
            round(p.score, 6),
            -p.wrong_answer_rate,
            -p.false_answer_rate,
            -p.clarify_rate,
        ),
    )


def curve(points: list[Point], max_wrong: float = 1.0) -> list[Point]:
    """The trade-off: for each out-of-scope false-answer rate, the best score any thresholds
    reach without more false answers (and within the wrong-answer limit), lowest rate first."""
    frontier: list[Point] = []
    allowed = [p for p in points if p.wrong_answer_rate <= max_wrong]
    for p in sorted(allowed, key=lambda p: (p.false_answer_rate, -p.score, p.clarify_rate)):
        if not frontier or p.score > frontier[-1].score:
            frontier.append(p)
    return frontier


def wrong_curve(points: list[Point], max_far: float = 1.0) -> list[Point]:
    """The same trade-off against in-scope wrong answers (within the false-answer limit)."""
    frontier: list[Point] = []
    allowed = [p for p in points if p.false_answer_rate <= max_far]
    for p in sorted(allowed, key=lambda p: (p.wrong_answer_rate, -p.score, p.clarify_rate)):
        if not frontier or p.score > frontier[-1].score:
            frontier.append(p)
    return frontier


def plot(
    points: list[Point],
    chosen: Point | None,
    path: Path,
    max_far: float,
    max_wrong: float = MAX_WRONG_ANSWER_RATE,
) -> Path:
    """Two panels of the trade-off, as a PNG: first replies right, reached in two and choices
    offered against out-of-scope false answers (within the wrong-answer limit), and against
    in-scope wrong answers (within the false-answer limit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110, sharey=True)
    panels = [
        (
            axes[0],
            curve(points, max_wrong),
            "false_answer_rate",
            max_far,
            "out-of-scope messages answered (false answers)",
        ),
        (
            axes[1],
            wrong_curve(points, max_far),
            "wrong_answer_rate",
            max_wrong,
            "in-scope messages answered wrongly",
        ),
    ]
    for ax, line, x, limit, xlabel in panels:
        xs = [getattr(p, x) for p in line]
        ax.plot(xs, [p.accuracy for p in line], marker=".", label="first reply right")
        ax.plot(xs, [p.reached_in_two for p in line], marker=".", label="reached in two")
        ax.plot(xs, [p.clarify_rate for p in line], linestyle=":", label="choices offered")
        ax.axvline(limit, color="grey", linestyle="--", linewidth=0.8, label=f"{limit:.0%} limit")
        if chosen:
            ax.plot([getattr(chosen, x)], [chosen.accuracy], "ko")
            ax.plot([getattr(chosen, x)], [chosen.reached_in_two], "ko")
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("share of in-scope first messages")
    axes[1].legend(fontsize=8, loc="lower right")
    if chosen:
        fig.suptitle(
            f"chosen: answer {chosen.answer:.2f} / clarify {chosen.clarify:.2f} / "
            f"similarity {chosen.similarity:.2f}",
            fontsize=9,
        )
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
