"""`bot insights`: record turns, print the report, draw its charts, purge old turns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from bot.commands.common import JsonOption, err, fail, get_settings, out, print_json

insights_app = typer.Typer(
    help="What the bot resolved, where it failed, and which articles to write next.",
    no_args_is_help=True,
)

SinceOption = Annotated[
    dt.datetime | None,
    typer.Option("--since", formats=["%Y-%m-%d"], help="First day (UTC); default: --days back."),
]
UntilOption = Annotated[
    dt.datetime | None,
    typer.Option("--until", formats=["%Y-%m-%d"], help="Last day (UTC); default: today."),
]
DaysOption = Annotated[int, typer.Option("--days", min=1, max=366, help="Days back from --until.")]


def _insights():
    from bot.handoff.db import create_db_engine, migrate
    from bot.insights.overview import Insights
    from bot.kb.search import KnowledgeBase
    from bot.kb.store import KBIndexError

    settings = get_settings()
    engine = create_db_engine(settings.queue_url)
    migrate(engine)

    def kb() -> KnowledgeBase | None:
        try:
            return KnowledgeBase(settings.index_dir, settings.embedding_model)
        except KBIndexError as exc:
            err.print(f"note: no article titles or content gaps ({exc})")
            return None

    return Insights(settings, engine, kb)


def _record(insights) -> None:
    from bot.conversations import ConversationStoreUnavailable

    try:
        insights.record()
    except ConversationStoreUnavailable as exc:
        err.print(f"note: new conversations not recorded, the tracker store is unreadable: {exc}")


@insights_app.command()
def report(
    since: SinceOption = None,
    until: UntilOption = None,
    days: DaysOption = 7,
    include_test: Annotated[
        bool, typer.Option("--include-test", help="Count test traffic (evaluations, benchmarks).")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also write the charts as PNG files here.")
    ] = None,
    gaps: Annotated[
        bool, typer.Option("--gaps/--no-gaps", help="Group unanswered questions.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Conversations by how they ended, the rates, articles, the queue and content gaps."""
    from bot.insights.overview import period

    try:
        start, end = period(since and since.date(), until and until.date(), days)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    insights = _insights()
    _record(insights)
    data = insights.report(start, end, include_test=include_test, with_gaps=gaps)
    if plot is not None:
        from bot.insights.plots import PLOTS

        plot.mkdir(parents=True, exist_ok=True)
        for name, (draw, _) in PLOTS.items():
            (plot / f"{name}.png").write_bytes(draw(data))
        err.print(f"charts written to {plot}/: {', '.join(f'{n}.png' for n in PLOTS)}")
    if as_json:
        print_json(data)
        return
    _print(data)


@insights_app.command()
def purge(
    older_than_days: Annotated[
        int | None,
        typer.Option("--older-than-days", min=1, help="Default: insights_retention_days."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete recorded turns older than the retention period."""
    insights = _insights()
    days = older_than_days or insights.settings.insights_retention_days
    deleted = insights.purge(days=days)
    if as_json:
        print_json({"deleted": deleted, "older_than_days": days})
    else:
        out.print(f"deleted {deleted} recorded turn(s) older than {days} days")


@insights_app.command()
def draft(
    key: Annotated[str, typer.Argument(help="The gap's key (from `bot insights report`).")],
    since: SinceOption = None,
    until: UntilOption = None,
    days: DaysOption = 7,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """A Markdown article draft for one content gap, to edit into kb_articles/."""
    from bot.insights.overview import period

    start, end = period(since and since.date(), until and until.date(), days)
    insights = _insights()
    _record(insights)
    text = insights.draft(key, start, end)
    if text is None:
        raise fail(f"no content gap '{key}' in this period; see `bot insights report`")
    if output:
        output.write_text(text, encoding="utf-8")
        err.print(f"draft written to {output}")
    else:
        out.out(text, end="")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _print(data: dict) -> None:
    c, r = data["conversations"], data["rates"]
    period = data["period"]
    out.print(f"Insights {period['since'][:10]} to {period['until'][:10]} (UTC, end excluded)")
    out.print(
        f"Conversations: {c['total']}  resolved {c['resolved']}  handed off {c['handed_off']}  "
        f"abandoned {c['abandoned']}  open {c['open']}  no question {c['no_question']}"
    )
    for reason, n in c["handed_off_by_reason"].items():
        out.print(f"  handed off, {reason}: {n}")
    out.print(
        f"Rates over the {r['conversations_ended']} conversation(s) that have ended "
        f"(no message for {data['idle_minutes']} min):"
    )
    out.print(
        f"Containment {_pct(r['containment'])}  automated resolution "
        f"{_pct(r['automated_resolution'])}  handoff {_pct(r['handoff_rate'])}  "
        f"can't answer {_pct(r['cant_answer_rate'])} ({r['cant_answer']}/{r['requests']})"
    )
    a, s = data["answers"], data["csat"]
    out.print(
        f"Answers {a['served']}: 👍 {a['up']} 👎 {a['down']} (helpful {_pct(r['helpful'])});  "
        f"CSAT {s['average'] if s['average'] is not None else '—'} from {s['responses']} rating(s)"
    )
    q = data["queue"]
    out.print(f"Queue: {q['waiting']} waiting, {q['claimed']} claimed")
    rewrite = [x for x in data["articles"] if x["down"] or x["handoffs_after"]][:5]
    if rewrite:
        out.print("Articles to rewrite first:")
        for x in rewrite:
            out.print(
                f"  {x['id']}: served {x['served']}, 👎 {x['down']}, "
                f"handoffs after {x['handoffs_after']}"
            )
    if data["gaps"]:
        out.print("Content gaps (most asked first):")
        for g in data["gaps"][:10]:
            state = (
                f"covered by {g['covered_by']['id']}"
                if g.get("covered_by")
                else g["action"].replace("_", " ")
            )
            out.print(f"  [{g['key']}] {g['title']} — {g['customers']} customer(s); {state}")
    if data.get("catalog_gaps"):
        out.print("Catalogue gaps, asked for and not sold (most asked first):")
        for g in data["catalog_gaps"][:10]:
            out.print(f"  {g['title']} — {g['customers']} customer(s), {g['questions']} request(s)")
