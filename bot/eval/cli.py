"""`bot eval ...`: the measuring commands (a thin layer over bot.eval)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from bot.eval import EVAL_DATA

eval_app = typer.Typer(
    help="Measure retrieval, routing and out-of-scope behaviour on public data.",
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
BotUrl = Annotated[
    str | None,
    typer.Option("--bot-url", help="The running Rasa server (default: settings' rasa_url)."),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", min=1, max=64, help="Conversations at a time.")
]
Limit = Annotated[
    int | None, typer.Option("--limit", min=1, help="Only the first N utterances (a quick look).")
]
RESULTS = Path("var/eval")


def _base():
    from bot import cli  # the shared helpers (settings, output, errors)

    return cli


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise _base()._fail(f"{what} not found: {path}")
    return path


def _retrieval_report(kb_dir: Path, queries, index: Path | None, as_json: bool, title: str):
    """Search the index (built into a temporary folder unless given) and report the metrics."""
    from bot.eval.retrieval import evaluate
    from bot.kb.builder import BuildFailed, build_index

    cli = _base()
    with tempfile.TemporaryDirectory(prefix="bot-eval-") as tmp:
        settings = cli._settings(kb_dir, index or Path(tmp) / "index")
        if index is None:
            try:
                build_index(cli.build_options(settings), skip_invalid=True)
            except BuildFailed as exc:
                raise cli._fail(str(exc)) from exc
        kb = cli._open_kb(settings)
        report = evaluate(lambda q, k: [h.id for h in kb.search(q, k)], queries)
    data = report.to_dict()
    if as_json:
        cli._print_json(data)
        return
    cli.out.print(
        f"{title}: {data['queries']} queries  Recall@1 {data['recall_at_1']:.3f}  "
        f"Recall@5 {data['recall_at_5']:.3f}  MRR {data['mrr']:.3f}"
    )
    for miss in data["misses"][:20]:
        rank = miss["rank"] or "not in top 10"
        cli.out.print(
            f"  miss (rank {rank}): {miss['query']!r} → expected {miss['expected']}, "
            f"got {', '.join(miss['got'])}",
            markup=False,
        )
    if len(data["misses"]) > 20:
        cli.out.print(f"  … {len(data['misses']) - 20} more (use --json)")


@eval_app.command("retrieval")
def retrieval(
    kb: Annotated[Path, typer.Option("--kb", help="Articles folder.")],
    queries: Annotated[Path, typer.Option("--queries", help='JSONL: {"query", "article_id"}.')],
    index: Annotated[
        Path | None, typer.Option("--index", help="An index of --kb (default: build one now).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Recall@1, Recall@5 and MRR of the article ranking for labelled queries, and the misses."""
    from bot.eval.retrieval import QueryFileError, load_queries

    try:
        items = load_queries(_existing(queries, "query file"))
    except QueryFileError as exc:
        raise _base()._fail(str(exc)) from exc
    _retrieval_report(_existing(kb, "articles folder"), items, index, as_json, "retrieval")


@eval_app.command("stackfaq")
def stackfaq(
    queries: Annotated[
        Path | None,
        typer.Option("--queries", help="JSONL {query, thread} (default: StackFAQ's dev queries)."),
    ] = None,
    data: Annotated[Path, typer.Option("--data", help="The StackFAQ folder.")] = EVAL_DATA
    / "stackfaq",
    as_json: JsonOption = False,
) -> None:
    """Build a KB from StackFAQ's threads (one article per thread) and run its queries."""
    from bot.eval.retrieval import QueryFileError, load_queries, write_stackfaq_kb

    threads = _existing(data / "threads.json", "StackFAQ threads")
    query_file = _existing(queries or data / "queries_dev.jsonl", "query file")
    try:
        items = load_queries(query_file, id_of=lambda item: f"thread-{int(item['thread'])}")
    except QueryFileError as exc:
        raise _base()._fail(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="bot-stackfaq-") as tmp:
        write_stackfaq_kb(threads, Path(tmp) / "kb")
        _retrieval_report(Path(tmp) / "kb", items, None, as_json, "StackFAQ")


def _run_turns(utterances, bot_url: str | None, concurrency: int, as_json: bool, save: Path):
    """Send every utterance as a first message; keep the records for calibrate."""
    from bot.eval.routing import run, save_records
    from bot.tokens import internal_token

    cli = _base()
    settings = cli._settings()
    url = bot_url or settings.rasa_base_url
    progress = None
    if not as_json and cli.err.is_terminal:
        total = len(utterances)

        def progress(done: int) -> None:
            if done % 100 == 0 or done == total:
                cli.err.print(f"  {done}/{total}", end="\r")

    records = run(
        url, utterances, concurrency, on_done=progress, token=internal_token(settings, "rasa")
    )
    if all(r["outcome"] == "error" for r in records):
        raise cli._fail(f"the bot at {url} did not answer: {records[0].get('error')}")
    save_records(save, records)
    return records


@eval_app.command("routing")
def routing(
    utterances: Annotated[
        Path, typer.Option("--utterances", help="CSV with `instruction` and `intent` columns.")
    ] = EVAL_DATA / "bitext-customer-support" / "bitext_customer_support_dev.csv",
    expected: Annotated[
        Path, typer.Option("--expected", help="JSON: intent → outcomes that count as correct.")
    ] = EVAL_DATA / "bitext-customer-support" / "expected_outcomes.json",
    bot_url: BotUrl = None,
    concurrency: Concurrency = 4,
    limit: Limit = None,
    save: Annotated[
        Path, typer.Option("--save", help="Where the per-turn records go (for calibrate).")
    ] = RESULTS / "routing.jsonl",
    as_json: JsonOption = False,
) -> None:
    """Each utterance as a new conversation's first message: outcome accuracy per intent."""
    from bot.eval.routing import load_bitext, load_expected, score_routing

    cli = _base()
    try:
        items = load_bitext(_existing(utterances, "utterances file"))[:limit]
        outcomes = load_expected(_existing(expected, "expected-outcomes file"))
    except ValueError as exc:
        raise cli._fail(str(exc)) from exc
    report = score_routing(_run_turns(items, bot_url, concurrency, as_json, save), outcomes)
    if as_json:
        cli._print_json(report)
        return
    cli.out.print(
        f"routing: {report['utterances']} utterances  accuracy {report['accuracy']:.3f}  "
        f"clarify rate {report['clarify_rate']:.3f}  errors {report['errors']}"
    )
    for intent, row in report["per_intent"].items():
        cli.out.print(f"  {intent:28} {row['accuracy']:.3f}  (n={row['n']})")
    for c in report["confusions"][:10]:
        cli.out.print(f"  confused: {c['intent']} → {c['outcome']} ×{c['count']}")
    cli.out.print(f"records: {save}")


@eval_app.command("oos")
def oos(
    bot_url: BotUrl = None,
    utterances: Annotated[
        Path | None,
        typer.Option("--utterances", help="One utterance per line (default: CLINC150's set)."),
    ] = None,
    clinc: Annotated[Path, typer.Option("--clinc", help="The CLINC150 folder.")] = EVAL_DATA
    / "clinc150",
    concurrency: Concurrency = 4,
    limit: Limit = None,
    save: Annotated[
        Path, typer.Option("--save", help="Where the per-turn records go (for calibrate).")
    ] = RESULTS / "oos.jsonl",
    as_json: JsonOption = False,
) -> None:
    """Out-of-scope messages: how often the bot answers (article or flow) when it should not."""
    from bot.eval.routing import load_lines, load_oos, score_oos

    cli = _base()
    items = (
        load_lines(_existing(utterances, "utterances file"))
        if utterances
        else load_oos(_existing(clinc, "CLINC150 folder"))
    )[:limit]
    report = score_oos(_run_turns(items, bot_url, concurrency, as_json, save))
    if as_json:
        cli._print_json(report)
        return
    cli.out.print(
        f"out of scope: {report['utterances']} utterances  "
        f"false-answer rate {report['false_answer_rate']:.3f}  outcomes {report['outcomes']}"
    )
    for item in report["false_answers"][:10]:
        cli.out.print(f"  answered: {item['text']!r} → {item['outcome']}", markup=False)
    cli.out.print(f"records: {save}")


@eval_app.command("calibrate")
def calibrate(
    routing_records: Annotated[
        Path, typer.Option("--routing", help="Records from `bot eval routing`.")
    ] = RESULTS / "routing.jsonl",
    oos_records: Annotated[
        Path, typer.Option("--oos", help="Records from `bot eval oos`.")
    ] = RESULTS / "oos.jsonl",
    expected: Annotated[
        Path, typer.Option("--expected", help="JSON: intent → outcomes that count as correct.")
    ] = EVAL_DATA / "bitext-customer-support" / "expected_outcomes.json",
    max_far: Annotated[
        float, typer.Option("--max-false-answer-rate", min=0, max=1, help="The limit.")
    ] = 0.05,
    plot_file: Annotated[
        Path, typer.Option("--plot", help="Where the trade-off curve's PNG goes.")
    ] = RESULTS / "calibration.png",
    write: Annotated[
        bool, typer.Option("--write/--dry-run", help="Write the thresholds to the settings file.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Pick the answer/clarify thresholds with the best routing accuracy at ≤5% false answers."""
    from bot.eval import calibrate as cal
    from bot.eval.routing import load_expected, load_records

    cli = _base()
    routing_data = load_records(
        _existing(routing_records, "routing records (run `bot eval routing`)")
    )
    oos_data = load_records(_existing(oos_records, "out-of-scope records (run `bot eval oos`)"))
    points = cal.sweep(routing_data, oos_data, load_expected(_existing(expected, "expected file")))
    chosen = cal.choose(points, max_far)
    cal.plot(points, chosen, plot_file, max_far)
    settings = cli._settings()
    if chosen and write:
        cal.write_thresholds(settings.settings_file, chosen)
    current = cal.evaluate_point(
        routing_data,
        oos_data,
        load_expected(expected),
        settings.answer_threshold,
        settings.clarify_threshold,
    )
    data = {
        "chosen": chosen.to_dict() if chosen else None,
        "before": current.to_dict(),
        "written_to": str(settings.settings_file) if chosen and write else None,
        "plot": str(plot_file),
        "curve": [p.to_dict() for p in cal.curve(points)],
    }
    if as_json:
        cli._print_json(data)
        return
    cli.out.print("answer  clarify  accuracy  clarify-rate  false-answers")
    for p in cal.curve(points)[::5]:
        cli.out.print(
            f"  {p.answer:.2f}     {p.clarify:.2f}    {p.accuracy:.3f}     {p.clarify_rate:.3f}"
            f"         {p.false_answer_rate:.3f}"
        )
    cli.out.print(
        f"before: answer {current.answer:.2f} / clarify {current.clarify:.2f}: accuracy "
        f"{current.accuracy:.3f}, false answers {current.false_answer_rate:.3f}"
    )
    if chosen is None:
        raise cli._fail(f"no thresholds keep false answers at or under {max_far:.0%}")
    cli.out.print(
        f"chosen: answer {chosen.answer:.2f} / clarify {chosen.clarify:.2f}: accuracy "
        f"{chosen.accuracy:.3f}, false answers {chosen.false_answer_rate:.3f}"
        + (f"; written to {settings.settings_file}" if write else " (dry run)")
    )
    cli.out.print(f"plot: {plot_file}")
