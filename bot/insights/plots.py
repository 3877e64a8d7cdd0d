"""Charts of the insights report, drawn on the server as PNG (matplotlib, no display needed).

Each function takes the report dict (bot.insights.report) and returns PNG bytes; `PLOTS` names
them for the page (/insights/plots/{name}.png) and `bot insights report --plot DIR`.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLOURS = {
    "resolved": "#2e7d32",
    "handed_off": "#1565c0",
    "abandoned": "#c62828",
    "open": "#9e9e9e",
    "no_question": "#d7ccc8",
}
LABELS = {
    "resolved": "Resolved by the bot",
    "handed_off": "Handed off",
    "abandoned": "Abandoned after no answer",
    "open": "Still open",
    "no_question": "No question",
}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


NO_CONVERSATIONS = "No conversations in this period"
NO_ARTICLE_ANSWERS = "No answers from articles in this period"


def _empty(message: str, size: tuple[float, float] = (8, 1.6)) -> bytes:
    """A chart with nothing to draw: the sentence that says so, and no axes."""
    figure, axis = plt.subplots(figsize=size)
    axis.set_axis_off()
    axis.text(0.5, 0.5, message, ha="center", va="center", fontsize=13, color="#444")
    return _png(figure)


def volume(report: dict) -> bytes:
    """Conversations per day stacked by how they ended, with containment as a line."""
    days = report["days"]
    if not report["conversations"]["total"]:
        return _empty(NO_CONVERSATIONS)
    labels = [d["day"][5:] for d in days]
    figure, axis = plt.subplots(figsize=(8, 3.6))
    bottom = [0] * len(days)
    for name in ("resolved", "handed_off", "abandoned", "open", "no_question"):
        values = [d[name] for d in days]
        axis.bar(labels, values, bottom=bottom, color=COLOURS[name], label=LABELS[name])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axis.set_ylabel("Conversations")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title("Conversations per day, by how they ended")
    axis.tick_params(axis="x", labelrotation=45 if len(days) > 10 else 0)
    share = axis.twinx()
    points = [(i, d["containment"]) for i, d in enumerate(days) if d["containment"] is not None]
    if points:
        share.plot(
            [labels[i] for i, _ in points],
            [100 * c for _, c in points],
            color="#111",
            marker="o",
            label="Containment %",
        )
    share.set_ylim(0, 105)
    share.set_ylabel("Containment %")
    handles, names = axis.get_legend_handles_labels()
    more, more_names = share.get_legend_handles_labels()
    axis.legend(handles + more, names + more_names, fontsize=8, loc="upper left", ncol=2)
    return _png(figure)


def outcomes(report: dict) -> bytes:
    """How conversations ended over the whole period, handoffs split by reason."""
    totals = report["conversations"]
    if not totals["total"]:
        return _empty(NO_CONVERSATIONS)
    rows = [(LABELS["resolved"], totals["resolved"], COLOURS["resolved"])]
    rows += [
        (f"Handed off: {reason.replace('_', ' ')}", count, COLOURS["handed_off"])
        for reason, count in totals["handed_off_by_reason"].items()
    ]
    rows += [(LABELS[n], totals[n], COLOURS[n]) for n in ("abandoned", "open", "no_question")]
    names, values, colours = (list(column) for column in zip(*rows, strict=True))
    figure, axis = plt.subplots(figsize=(8, 0.5 * len(names) + 1.2))
    bars = axis.barh(names[::-1], values[::-1], color=colours[::-1])
    axis.bar_label(bars, padding=3)
    axis.set_xlabel("Conversations")
    axis.set_title("How conversations ended")
    axis.margins(x=0.15)
    return _png(figure)


def articles(report: dict, limit: int = 12) -> bytes:
    """👍, 👎 and handoffs after each of the most served articles."""
    rows = sorted(report["articles"], key=lambda a: -a["served"])[:limit]
    rows = [a for a in rows if a["served"] or a["up"] or a["down"] or a["handoffs_after"]]
    if not rows:
        return _empty(NO_ARTICLE_ANSWERS)
    names = [a["id"] for a in rows][::-1]  # ids are short and unique; titles are in the table
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(names) + 1.4))
    positions = range(len(names))
    served = [a["served"] for a in rows][::-1]
    up = [a["up"] for a in rows][::-1]
    down = [a["down"] for a in rows][::-1]
    handoffs = [a["handoffs_after"] for a in rows][::-1]
    axis.barh([p + 0.3 for p in positions], served, height=0.2, color="#90a4ae", label="Served")
    axis.barh([p + 0.1 for p in positions], up, height=0.2, color="#2e7d32", label="Helpful")
    axis.barh([p - 0.1 for p in positions], down, height=0.2, color="#c62828", label="Not helpful")
    axis.barh(
        [p - 0.3 for p in positions], handoffs, height=0.2, color="#1565c0", label="Handoff after"
    )
    axis.set_yticks(list(positions), names)
    axis.set_xlabel("Times")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title("Articles: served, helpful, not helpful, handoffs after")
    axis.legend(fontsize=8, loc="lower right")
    return _png(figure)


PLOTS: dict[str, tuple[Callable[[dict], bytes], str]] = {
    "volume": (volume, "Conversations per day by how they ended, with containment"),
    "outcomes": (outcomes, "How conversations ended, handoffs by reason"),
    "articles": (articles, "Per article: served, helpful, not helpful, handoffs after"),
}
