"""`bot eval ...`: measure retrieval, routing and out-of-scope answers, and calibrate the gate."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.commands.common import (
    JsonOption,
    build_options,
    err,
    fail,
    get_settings,
    open_kb,
    out,
    print_json,
)
from bot.eval import EVAL_DATA

if TYPE_CHECKING:
    from bot.eval.retrieval import Query
    from bot.eval.routing import Utterance

eval_app = typer.Typer(
    help="Measure retrieval, routing and out-of-scope behaviour on public data.",
    no_args_is_help=True,
)
BotUrl = Annotated[
    str | None,
    typer.Option(
        "--bot-url",
        help="A running Rasa server to evaluate (its handoffs become real tickets); "
        "default: start a stack of its own with a throwaway data folder.",
    ),
]
Concurrency = Annotated[
    int, typer.Option("--concurrency", min=1, max=64, help="Conversations at a time.")
]
Limit = Annotated[
    int | None, typer.Option("--limit", min=1, help="Only the first N utterances (a quick look).")
]
RESULTS = Path("var/eval")


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise fail(f"{what} not found: {path}")
    return path


def _retrieval_report(
    kb_dir: Path, queries: list[Query], index: Path | None, as_json: bool, title: str
) -> None:
    """Search the index (built into a temporary folder unless given) and report the metrics."""
    from bot.eval.retrieval import evaluate
    from bot.kb.builder import BuildFailed, build_index

    with tempfile.TemporaryDirectory(prefix="bot-eval-") as tmp:
        settings = get_settings(kb_dir, index or Path(tmp) / "index")
        if index is None:
            try:
                build_index(build_options(settings), skip_invalid=True)
            except BuildFailed as exc:
                raise fail(str(exc)) from exc
        kb = open_kb(settings)
        report = evaluate(lambda q, k: [h.id for h in kb.search(q, k)], queries)
    data = report.to_dict()
    if as_json:
        print_json(data)
        return
    out.print(
        f"{title}: {data['queries']} queries  Recall@1 {data['recall_at_1']:.3f}  "
        f"Recall@5 {data['recall_at_5']:.3f}  MRR {data['mrr']:.3f}"
    )
    for miss in data["misses"][:20]:
        rank = miss["rank"] or "not in top 10"
        out.print(
            f"  miss (rank {rank}): {miss['query']!r} → expected {miss['expected']}, "
            f"got {', '.join(miss['got'])}",
            markup=False,
        )
    if len(data["misses"]) > 20:
        out.print(f"  … {len(data['misses']) - 20} more (use --json)")


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
        raise fail(str(exc)) from exc
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
        raise fail(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="bot-stackfaq-") as tmp:
        write_stackfaq_kb(threads, Path(tmp) / "kb")
        _retrieval_report(Path(tmp) / "kb", items, None, as_json, "StackFAQ")


def _run_turns(
    utterances: list[Utterance], bot_url: str | None, concurrency: int, as_json: bool, save: Path
) -> list[dict]:
    """Send every utterance as a first message; keep the records for calibrate.

    Without --bot-url the turns go to a stack of their own (the same model, index and
    thresholds, a throwaway data folder), so no evaluation conversation becomes a ticket in the
    agents' queue or an email in the outbox.
    """
    import contextlib

    from bot.eval.routing import run, save_records
    from bot.stack import StackError, evaluation_stack
    from bot.tokens import internal_token

    settings = get_settings()
    progress = None
    if not as_json and err.is_terminal:
        total = len(utterances)

        def progress(done: int) -> None:
            if done % 100 == 0 or done == total:
                err.print(f"  {done}/{total}", end="\r")

    with contextlib.ExitStack() as stack:
        if bot_url:
            url, token = bot_url, internal_token(settings, "rasa")
        else:
            if not as_json:
                err.print("starting an evaluation stack of its own (Rasa, actions)...")
            try:
                url, token = stack.enter_context(evaluation_stack(settings))
            except StackError as exc:
                raise fail(str(exc)) from exc
        records = run(url, utterances, concurrency, on_done=progress, token=token)
    if all(r["outcome"] == "error" for r in records):
        raise fail(f"the bot at {url} did not answer: {records[0].get('error')}")
    save_records(save, records)
    return records


@eval_app.command("routing")
def routing(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            help="bitext (Bitext's dev split) or banking77 (its intents with a store "
            "counterpart, e.g. refunds, closing an account, declined card payments).",
        ),
    ] = "bitext",
    utterances: Annotated[
        Path | None,
        typer.Option("--utterances", help="CSV (Bitext's `instruction`,`intent` columns)."),
    ] = None,
    expected: Annotated[
        Path, typer.Option("--expected", help="JSON: intent → outcomes that count as correct.")
    ] = EVAL_DATA / "bitext-customer-support" / "expected_outcomes.json",
    bot_url: BotUrl = None,
    concurrency: Concurrency = 4,
    limit: Limit = None,
    save: Annotated[
        Path | None,
        typer.Option("--save", help="Where the per-turn records go (for calibrate)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Each utterance as a new conversation's first message, overall and per intent: the first
    reply right, reached in two (right first or among the choices offered), wrong answers,
    choices offered and refusals; for each article the missed phrasings closest to it."""
    from bot.eval.routing import (
        BANKING_STORE,
        load_banking,
        load_bitext,
        load_expected,
        nearest_misses,
        score_routing,
    )

    try:
        if dataset == "bitext":
            items = load_bitext(
                _existing(
                    utterances
                    or EVAL_DATA / "bitext-customer-support" / "bitext_customer_support_dev.csv",
                    "utterances file",
                )
            )
            outcomes = load_expected(_existing(expected, "expected-outcomes file"))
        elif dataset == "banking77":
            items = load_banking(
                _existing(utterances or EVAL_DATA / "banking77" / "train.csv", "Banking77 file"),
                store=True,
            )
            outcomes = BANKING_STORE
        else:
            raise fail(f"--dataset: unknown dataset {dataset!r} (bitext or banking77)")
    except ValueError as exc:
        raise fail(str(exc)) from exc
    save = save or RESULTS / (
        "routing.jsonl" if dataset == "bitext" else f"routing-{dataset}.jsonl"
    )
    records = _run_turns(items[:limit], bot_url, concurrency, as_json, save)
    report = score_routing(records, outcomes)
    report["nearest_misses"] = nearest_misses(records, outcomes)
    if as_json:
        print_json(report)
        return
    out.print(f"routing ({dataset}): {report['utterances']} utterances  errors {report['errors']}")
    out.print(f"  {'':28} {'right':>6} {'in two':>6} {'wrong':>6} {'choice':>6} {'refused':>7}")
    rows = [("all", {**report, "n": report["utterances"]}), *report["per_intent"].items()]
    for intent, row in rows:
        out.print(
            f"  {intent:28} {row['accuracy']:6.3f} {row['reached_in_two']:6.3f} "
            f"{row['wrong_answer_rate']:6.3f} {row['clarify_rate']:6.3f} "
            f"{row['refusal_rate']:7.3f}  (n={row['n']})"
        )
    for c in report["confusions"][:10]:
        out.print(f"  confused: {c['intent']} → {c['outcome']} ×{c['count']}")
    if report["nearest_misses"]:
        out.print("nearest misses (a phrasing to add to the article, in your own words):")
    for article, misses in report["nearest_misses"].items():
        for miss in misses[:2]:
            out.print(
                f"  {article}: {miss['text']!r} went to {miss['outcome']} "
                f"(p {miss['probability']:.2f})",
                markup=False,
            )
    out.print(f"records: {save}")


@eval_app.command("oos")
def oos(
    bot_url: BotUrl = None,
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            help="all, clinc (CLINC150's out-of-scope set and the domains a store does not "
            "serve) or banking77 (near-domain: ATMs, PINs, transfers, top-ups...).",
        ),
    ] = "all",
    utterances: Annotated[
        Path | None,
        typer.Option("--utterances", help="One utterance per line (instead of a dataset)."),
    ] = None,
    clinc: Annotated[Path, typer.Option("--clinc", help="The CLINC150 folder.")] = EVAL_DATA
    / "clinc150",
    banking: Annotated[Path, typer.Option("--banking", help="Banking77's train.csv.")] = EVAL_DATA
    / "banking77"
    / "train.csv",
    concurrency: Concurrency = 4,
    limit: Limit = None,
    save: Annotated[
        Path, typer.Option("--save", help="Where the per-turn records go (for calibrate).")
    ] = RESULTS / "oos.jsonl",
    as_json: JsonOption = False,
) -> None:
    """Out-of-scope messages: how often the bot answers (article or flow) when it should not,
    and how often it offers them a choice."""
    from bot.eval.routing import load_banking, load_lines, load_oos, score_oos

    if utterances:
        items = load_lines(_existing(utterances, "utterances file"))
    elif dataset in ("all", "clinc", "banking77"):
        items = []
        if dataset in ("all", "clinc"):
            items += load_oos(_existing(clinc, "CLINC150 folder"))
        if dataset in ("all", "banking77"):
            items += load_banking(_existing(banking, "Banking77 file"), store=False)
    else:
        raise fail(f"--dataset: unknown dataset {dataset!r} (all, clinc or banking77)")
    report = score_oos(_run_turns(items[:limit], bot_url, concurrency, as_json, save))
    if as_json:
        print_json(report)
        return
    out.print(
        f"out of scope: {report['utterances']} utterances  "
        f"false-answer rate {report['false_answer_rate']:.3f}  choice rate "
        f"{report['choice_rate']:.3f}  outcomes {report['outcomes']}"
    )
    for source, row in report["by_source"].items():
        out.print(
            f"  {source:10} false answers {row['false_answer_rate']:.3f}  offered a choice "
            f"{row['choice_rate']:.3f} (n={row['n']})"
        )
    for item in report["false_answers"][:10]:
        out.print(f"  answered: {item['text']!r} → {item['outcome']}", markup=False)
    out.print(f"records: {save}")


@eval_app.command("calibrate")
def calibrate(
    routing_records: Annotated[
        list[Path] | None,
        typer.Option(
            "--routing",
            help="Records from `bot eval routing` (repeatable; default: the Bitext records, "
            "and the Banking77 ones when they exist).",
        ),
    ] = None,
    oos_records: Annotated[
        Path, typer.Option("--oos", help="Records from `bot eval oos`.")
    ] = RESULTS / "oos.jsonl",
    expected: Annotated[
        Path, typer.Option("--expected", help="JSON: intent → outcomes that count as correct.")
    ] = EVAL_DATA / "bitext-customer-support" / "expected_outcomes.json",
    max_far: Annotated[
        float,
        typer.Option(
            "--max-false-answer-rate",
            min=0,
            max=1,
            help="Limit on out-of-scope messages answered with an article or a flow.",
        ),
    ] = 0.03,
    max_wrong: Annotated[
        float,
        typer.Option(
            "--max-wrong-answer-rate",
            min=0,
            max=1,
            help="Limit on in-scope messages answered with an article or a flow that is not "
            "the right one.",
        ),
    ] = 0.03,
    plot_file: Annotated[
        Path, typer.Option("--plot", help="Where the trade-off curve's PNG goes.")
    ] = RESULTS / "calibration.png",
    write: Annotated[
        bool, typer.Option("--write/--dry-run", help="Write the thresholds to the settings file.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Pick the gate's thresholds (answer, clarify, similarity): the most first replies right
    plus reached in two, within two limits (out-of-scope false answers, in-scope wrong answers;
    3% each by default); plot the trade-off."""
    from bot.eval import calibrate as cal
    from bot.eval.routing import BANKING_STORE, load_expected, load_records

    files = routing_records or [
        f
        for f in (RESULTS / "routing.jsonl", RESULTS / "routing-banking77.jsonl")
        if f == RESULTS / "routing.jsonl" or f.exists()
    ]
    routing_data = [
        record
        for f in files
        for record in load_records(_existing(f, "routing records (run `bot eval routing`)"))
    ]
    oos_data = load_records(_existing(oos_records, "out-of-scope records (run `bot eval oos`)"))
    outcomes = {**load_expected(_existing(expected, "expected file")), **BANKING_STORE}
    try:
        points = cal.sweep(routing_data, oos_data, outcomes)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    chosen = cal.choose(points, max_far, max_wrong)
    cal.plot(points, chosen, plot_file, max_far, max_wrong)
    settings = get_settings()
    if chosen and write:
        cal.write_thresholds(settings.settings_file, chosen)
    current = cal.evaluate_point(
        routing_data,
        oos_data,
        outcomes,
        settings.answer_threshold,
        settings.clarify_threshold,
        settings.similarity_threshold,
    )
    data = {
        "chosen": chosen.to_dict() if chosen else None,
        "before": current.to_dict(),
        "limits": {"false_answer_rate": max_far, "wrong_answer_rate": max_wrong},
        "written_to": str(settings.settings_file) if chosen and write else None,
        "plot": str(plot_file),
        "routing_records": [str(f) for f in files],
        "curve": [p.to_dict() for p in cal.curve(points, max_wrong)],
    }
    if as_json:
        print_json(data)
        return
    out.print(
        "false-answers  right  in-two  wrong  choices   answer  clarify  similarity"
        f"  (wrong answers ≤ {max_wrong:.0%})"
    )
    for p in cal.curve(points, max_wrong):
        out.print(
            f"  {p.false_answer_rate:.3f}        {p.accuracy:.3f}  {p.reached_in_two:.3f}  "
            f"{p.wrong_answer_rate:.3f}  {p.clarify_rate:.3f}     {p.answer:.2f}    "
            f"{p.clarify:.2f}     {p.similarity:.2f}"
        )

    def summary(p) -> str:
        return (
            f"answer {p.answer:.2f} / clarify {p.clarify:.2f} / similarity {p.similarity:.2f}: "
            f"right {p.accuracy:.3f}, in two {p.reached_in_two:.3f}, wrong answers "
            f"{p.wrong_answer_rate:.3f}, false answers {p.false_answer_rate:.3f}, out of scope "
            f"offered a choice {p.oos_choice_rate:.3f}"
        )

    out.print(f"before: {summary(current)}")
    if chosen is None:
        raise fail(
            f"no thresholds keep false answers at or under {max_far:.0%} and wrong answers at "
            f"or under {max_wrong:.0%}"
        )
    out.print(
        f"chosen: {summary(chosen)}"
        + (f"; written to {settings.settings_file}" if write else " (dry run)")
    )
    out.print(f"plot: {plot_file}")
