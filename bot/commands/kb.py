"""`bot kb ...`: build, search, lint, summarise and regression-test the knowledge base."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.commands.common import (
    IndexOption,
    JsonOption,
    KbOption,
    build_options,
    err,
    fail,
    get_settings,
    open_kb,
    out,
    print_json,
)
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.dialogue.answers import RouteChoice
    from bot.kb.router import Routing

kb_app = typer.Typer(help="Knowledge base: build, search, lint and test.", no_args_is_help=True)


@kb_app.command("build")
def kb_build(
    kb: KbOption = None,
    index: IndexOption = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Index the valid articles and list the skipped.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Index the articles; only added or changed ones are embedded again."""
    from bot.kb.builder import BuildFailed, build_index
    from bot.kb.embedder import ModelNotAvailable

    settings = get_settings(kb, index)
    with _BuildProgress(enabled=not as_json) as progress:
        try:
            report = build_index(
                build_options(settings), skip_invalid=skip_invalid, on_progress=progress.update
            )
        except BuildFailed as exc:
            for problem in exc.problems:
                err.print(str(problem), markup=False)
            raise fail(
                f"{str(exc)}; the previous index is unchanged "
                "(fix them, or use --skip-invalid to index the valid articles)"
            ) from exc
        except ModelNotAvailable as exc:
            raise fail(str(exc)) from exc
    if as_json:
        data = report.to_dict()
        print_json(
            {
                k: data[k]
                for k in (
                    "articles",
                    "chunks",
                    "embedded_articles",
                    "removed_articles",
                    "seconds",
                    "version",
                    "changed",
                    "skipped",
                    "problems",
                )
            }
        )
        return
    for problem in report.problems:
        err.print(str(problem), markup=False)
    if report.skipped:
        err.print(
            f"skipped {len(report.skipped)} file(s) with errors: " + ", ".join(report.skipped)
        )
    if not report.changed:
        out.print(
            f"index is up to date: {report.articles} articles, {report.chunks} chunks "
            f"({report.seconds:.2f} s)"
        )
        return
    out.print(
        f"built index {report.version}: {report.articles} articles, {report.chunks} chunks; "
        f"embedded {len(report.embedded_articles)}, removed {len(report.removed_articles)} "
        f"({report.seconds:.2f} s)"
    )


class _BuildProgress:
    """A progress bar on stderr, shown only when a build embeds more than a handful of chunks."""

    THRESHOLD = 40

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err.is_terminal
        self._progress = None
        self._task = None

    def __enter__(self) -> _BuildProgress:
        return self

    def update(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total <= self.THRESHOLD:
            return
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(f"{stage} chunks", total=total)
        self._progress.update(self._task, completed=done)

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="A customer question.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Number of articles.")] = 5,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also show the router's candidates with each signal's score, the nearest "
            "known phrasing, and what the bot would do with this message.",
        ),
    ] = False,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the articles (and best section of each) that would answer a question."""
    settings = get_settings(index=index)
    kb = open_kb(settings)
    hits = kb.search(query, k=k)
    routing = choice = None
    if explain:
        from bot.dialogue.answers import Gate, choose

        routing = kb.route(query)
        gate = Gate(
            settings.answer_threshold, settings.clarify_threshold, settings.similarity_threshold
        )
        choice = choose(routing, gate) if routing else None
    if as_json:
        data = [h.to_dict() for h in hits]
        if explain:
            print_json(
                {
                    "hits": data,
                    "routing": routing.to_dict() if routing else None,
                    "decision": {
                        "outcome": choice.outcome,
                        "routes": [r.label for r in choice.routes],
                    }
                    if choice
                    else None,
                }
            )
        else:
            print_json(data)
        return
    if not hits:
        out.print("no results (is the index empty?)")
    for rank, hit in enumerate(hits, start=1):
        out.print(f"{rank}. [bold]{hit.title}[/bold] › {hit.section}  ({hit.score:.3f})")
        out.print(f"   {hit.link}", style="cyan")
        out.print(f"   {hit.snippet}", style="dim")
    if explain:
        _print_routing(routing, choice, settings)


def _print_routing(routing: Routing | None, choice: RouteChoice | None, settings: Settings) -> None:
    """The router's view of a message, for writers: why the bot would do what it does."""
    out.print()
    if routing is None:
        out.print("this index has no router (rebuild it with `bot kb build`)")
        return
    table = Table(
        "route",
        "p",
        "embedding",
        "neighbours",
        "chars",
        "similarity",
        "nearest phrasing",
        box=None,
    )
    for route in routing.routes:
        signals = routing.channels.get(route.label, {})
        table.add_row(
            route.label,
            f"{route.probability:.3f}",
            f"{signals.get('embedding', 0):.3f}",
            f"{signals.get('neighbours', 0):.3f}",
            f"{signals.get('chars', 0):.3f}",
            f"{route.nearest:.3f}",
            route.phrasing,
        )
    out.print(table)
    what = {
        "article": "answer from",
        "intent": "act on",
        "product": "answer from the catalogue:",
        "clarify": "ask which is closest of",
        "fallback": "say it can't answer (closest:",
    }[choice.outcome]
    labels = ", ".join(r.label for r in choice.routes)
    out.print(
        f"decision: {what} {labels}{')' if choice.outcome == 'fallback' else ''}  "
        f"[dim](answer ≥ {settings.answer_threshold:.2f}, clarify ≥ "
        f"{settings.clarify_threshold:.2f}, similarity ≥ {settings.similarity_threshold:.2f}; "
        "the live bot also mixes in the NLU's intent ranking)[/dim]"
    )


@kb_app.command("lint")
def kb_lint(kb: KbOption = None, as_json: JsonOption = False) -> None:
    """Check every article; problems print as path:line: message. Exit 1 on any error."""
    from bot.kb.lint import lint_kb

    settings = get_settings(kb)
    result = lint_kb(settings.kb_dir, settings.help_base_url, settings.article_max_words)
    if as_json:
        print_json(
            {
                "files": len(result.files),
                "articles": len(result.articles),
                "errors": result.error_count,
                "warnings": len(result.problems) - result.error_count,
                "problems": [p.to_dict() for p in result.problems],
            }
        )
    else:
        for problem in result.problems:
            out.print(str(problem), markup=False)
        warnings = len(result.problems) - result.error_count
        out.print(
            f"{len(result.files)} file(s): {result.error_count} error(s), {warnings} warning(s)"
        )
    if result.error_count:
        raise typer.Exit(1)


@kb_app.command("stats")
def kb_stats(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """Summarise the current index: articles, chunks, categories, model and version."""
    from bot.kb.store import IndexReader, KBIndexError, version_dir

    settings = get_settings(index=index)
    try:
        reader = IndexReader(settings.index_dir)
    except KBIndexError as exc:
        raise fail(str(exc)) from exc
    articles = reader.articles()
    tokens = reader.token_counts()
    folder = version_dir(settings.index_dir, reader.version)
    categories: dict[str, int] = {}
    for article in articles:
        key = article["category"] or "(top level)"
        categories[key] = categories.get(key, 0) + 1
    data = {
        "version": reader.version,
        "built_at": reader.manifest["built_at"],
        "model": reader.manifest["model"],
        "dimension": reader.manifest["dimension"],
        "index_type": reader.manifest["index_type"],
        "articles": len(articles),
        "chunks": len(tokens),
        "vectors": reader.size,
        "categories": dict(sorted(categories.items())),
        "tokens_per_chunk": {
            "mean": round(statistics.fmean(tokens), 1) if tokens else 0,
            "max": max(tokens, default=0),
        },
        "bytes_on_disk": sum(f.stat().st_size for f in folder.iterdir()),
        "model_matches_settings": reader.manifest["model"] == _canonical(settings.embedding_model),
    }
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        table.add_row(key.replace("_", " "), str(value))
    out.print(table)


def _canonical(name: str) -> str:
    from bot.kb.embedder import canonical_model_name

    return canonical_model_name(name)


@kb_app.command("test")
def kb_test(
    file: Annotated[
        Path | None, typer.Argument(help="Regression file (default: settings' kb_tests_file).")
    ] = None,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check that each question finds its expected article within k results; exit 1 on a miss."""
    from bot.kb.regression import RegressionFileError, load_expectations, run_expectations

    settings = get_settings(index=index)
    try:
        expectations = load_expectations(file or settings.kb_tests_file)
    except RegressionFileError as exc:
        raise fail(str(exc)) from exc
    kb = open_kb(settings)
    outcomes = run_expectations(kb, expectations)
    passed = sum(o.passed for o in outcomes)
    if as_json:
        print_json(
            {
                "passed": passed,
                "failed": len(outcomes) - passed,
                "results": [o.to_dict() for o in outcomes],
            }
        )
    else:
        table = Table("", "question", "expected", "rank", "top result", box=None)
        for outcome in outcomes:
            mark = "[green]PASS[/green]" if outcome.passed else "[red]FAIL[/red]"
            rank = "-" if outcome.rank is None else f"{outcome.rank}/{outcome.within}"
            table.add_row(mark, outcome.question, outcome.expect, rank, outcome.top or "-")
        out.print(table)
        out.print(f"{passed} passed, {len(outcomes) - passed} failed")
    if passed != len(outcomes):
        raise typer.Exit(1)


learned_app = typer.Typer(
    help="Questions people confirmed (review queue or `bot kb learn`): list, remove, export.",
    no_args_is_help=True,
)
kb_app.add_typer(learned_app, name="learned")


def _learned_store(settings: Settings):
    """The confirmed questions in the queue's database (migrated first)."""
    from bot.handoff.db import create_db_engine, migrate
    from bot.kb.learned import LearnedStore

    engine = create_db_engine(settings.queue_url)
    migrate(engine)
    return LearnedStore(engine)


@kb_app.command("learn")
def kb_learn(
    text: Annotated[str, typer.Argument(help="A customer's question, in their words.")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Where it belongs: article:ID, flow:NAME (reset_password, track_order), "
            "handoff, out_of_scope or new_article.",
        ),
    ],
    by: Annotated[
        str | None, typer.Option("--by", help="Who confirms it (default: your user name).")
    ] = None,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Confirm where a question belongs; the running bot learns it within seconds."""
    import getpass

    from bot.kb.learned import BadQuestion, BadTarget, check_target

    settings = get_settings(index=index)
    store = _learned_store(settings)
    try:
        articles = None
        if to.strip().startswith("article:"):
            articles = [a["id"] for a in open_kb(settings).reader.articles()]
        target = check_target(to, articles)
        rows = store.confirm([text], target, by or getpass.getuser())
    except (BadTarget, BadQuestion) as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    for row in rows:
        out.print(f"learned #{row.id}: {row.text!r} → {row.target} (by {row.confirmed_by})")


@learned_app.command("list")
def learned_list(
    include_removed: Annotated[
        bool, typer.Option("--all", help="Also the confirmations that were undone.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The confirmed questions, oldest first."""
    store = _learned_store(get_settings())
    rows = store.recent(limit=100_000)[::-1] if include_removed else store.active()
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        out.print("no confirmed questions")
        return
    table = Table("id", "question", "target", "confirmed", "state", box=None)
    for row in rows:
        state = (
            f"undone by {row.removed_by}"
            if row.removed_at
            else ("exported" if row.exported_at else "active")
        )
        table.add_row(
            str(row.id),
            row.text,
            row.target,
            f"{row.confirmed_by}, {row.confirmed_at:%Y-%m-%d %H:%M}",
            state,
        )
    out.print(table)


@learned_app.command("remove")
def learned_remove(
    ids: Annotated[list[int], typer.Argument(help="Ids from `bot kb learned list`.")],
    by: Annotated[
        str | None, typer.Option("--by", help="Who undoes it (default: your user name).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Undo confirmations; the running bot forgets them within seconds."""
    import getpass

    store = _learned_store(get_settings())
    missing = [i for i in ids if store.get(i) is None]
    if missing:
        raise fail(f"no confirmed question with id {', '.join(map(str, missing))}")
    removed = store.remove(ids, by=by or getpass.getuser())
    if as_json:
        print_json({"removed": removed})
        return
    out.print(f"removed {removed} confirmation(s)")


@learned_app.command("export")
def learned_export(
    kb: KbOption = None,
    nlu: Annotated[
        Path | None, typer.Option("--nlu", help="Rasa NLU folder (default: settings' nlu_dir).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be written; change no file.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write confirmed questions into the articles' `questions:` and the NLU examples."""
    from bot.kb.learned_export import export_learned

    settings = get_settings(kb)
    report = export_learned(
        _learned_store(settings),
        settings.kb_dir,
        nlu or settings.nlu_dir,
        settings.help_base_url,
        dry_run=dry_run,
    )
    if as_json:
        print_json(report.to_dict())
        return
    verb = "would add" if dry_run else "added"
    for row in report.written:
        out.print(f"{verb} {row['text']!r} to {row['file']} ({row['detail']})")
    for row in report.skipped:
        err.print(f"skipped {row['text']!r}: {row['detail']}", markup=False)
    out.print(
        f"{len(report.written)} {verb}, {len(report.already)} already there, "
        f"{len(report.skipped)} skipped; review with `git diff`, then `bot kb build`"
        + (" and `bot train`" if any("NLU" in w["detail"] for w in report.written) else "")
    )
