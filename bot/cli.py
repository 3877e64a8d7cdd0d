"""The `bot` command line: a thin layer that parses arguments and calls the bot library."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.settings import Settings, load_settings

app = typer.Typer(
    help="Tier-0 support bot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold customer data or tokens
)
kb_app = typer.Typer(help="Knowledge base: build, search, lint and test.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

KbOption = Annotated[Path | None, typer.Option("--kb", help="Articles folder (default: settings).")]
IndexOption = Annotated[
    Path | None, typer.Option("--index", help="Index folder (default: settings).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _settings(kb: Path | None = None, index: Path | None = None, **extra: Any) -> Settings:
    from pydantic import ValidationError

    try:
        return load_settings(kb_dir=kb, index_dir=index, **extra)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise _fail(f"invalid settings (BOT_* environment or settings file): {problems}") from exc


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def _open_kb(settings: Settings):
    from bot.kb.search import KnowledgeBase
    from bot.kb.store import KBIndexError

    try:
        return KnowledgeBase(settings.index_dir, settings.embedding_model)
    except KBIndexError as exc:
        raise _fail(str(exc)) from exc


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

    settings = _settings(kb, index)
    with _BuildProgress(enabled=not as_json) as progress:
        try:
            report = build_index(
                build_options(settings), skip_invalid=skip_invalid, on_progress=progress.update
            )
        except BuildFailed as exc:
            for problem in exc.problems:
                err.print(str(problem), markup=False)
            raise _fail(
                f"{str(exc)}; the previous index is unchanged "
                "(fix them, or use --skip-invalid to index the valid articles)"
            ) from exc
        except ModelNotAvailable as exc:
            raise _fail(str(exc)) from exc
    if as_json:
        data = report.to_dict()
        _print_json(
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


def build_options(settings: Settings):
    """The build options the settings describe."""
    from bot.kb.builder import BuildOptions
    from bot.kb.chunker import ChunkConfig

    return BuildOptions(
        kb_dir=settings.kb_dir,
        index_dir=settings.index_dir,
        base_url=settings.help_base_url,
        model=settings.embedding_model,
        chunking=ChunkConfig(
            settings.chunk_max_tokens, settings.chunk_overlap_tokens, settings.chunk_min_tokens
        ),
        batch_size=settings.embedding_batch_size,
        max_words=settings.article_max_words,
        keep_versions=settings.index_keep_versions,
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
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the articles (and best section of each) that would answer a question."""
    kb = _open_kb(_settings(index=index))
    hits = kb.search(query, k=k)
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    if not hits:
        out.print("no results (is the index empty?)")
    for rank, hit in enumerate(hits, start=1):
        out.print(f"{rank}. [bold]{hit.title}[/bold] › {hit.section}  ({hit.score:.3f})")
        out.print(f"   {hit.link}", style="cyan")
        out.print(f"   {hit.snippet}", style="dim")


@kb_app.command("lint")
def kb_lint(kb: KbOption = None, as_json: JsonOption = False) -> None:
    """Check every article; problems print as path:line: message. Exit 1 on any error."""
    from bot.kb.lint import lint_kb

    settings = _settings(kb)
    result = lint_kb(settings.kb_dir, settings.help_base_url, settings.article_max_words)
    if as_json:
        _print_json(
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

    settings = _settings(index=index)
    try:
        reader = IndexReader(settings.index_dir)
    except KBIndexError as exc:
        raise _fail(str(exc)) from exc
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
        _print_json(data)
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

    settings = _settings(index=index)
    try:
        expectations = load_expectations(file or settings.kb_tests_file)
    except RegressionFileError as exc:
        raise _fail(str(exc)) from exc
    kb = _open_kb(settings)
    outcomes = run_expectations(kb, expectations)
    passed = sum(o.passed for o in outcomes)
    if as_json:
        _print_json(
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


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the web app: the help centre and the search API."""
    import socket

    import uvicorn

    from bot.web.app import create_app

    settings = _settings(web_host=host, web_port=port)
    with socket.socket() as probe:
        try:
            probe.bind((settings.web_host, settings.web_port))
        except OSError as exc:
            raise _fail(
                f"port {settings.web_port} on {settings.web_host} is already in use "
                f"({exc.strerror}); "
                "stop what uses it or choose another with --port or BOT_WEB_PORT"
            ) from exc
    web = create_app(settings)
    out.print(f"help centre: http://{settings.web_host}:{settings.web_port}/help/")
    uvicorn.run(web, host=settings.web_host, port=settings.web_port, log_level="warning")


def main() -> None:
    """Entry point of the `bot` command."""
    app()


if __name__ == "__main__":
    main()
