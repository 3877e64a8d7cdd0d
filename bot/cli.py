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

from bot.eval.cli import eval_app
from bot.settings import Settings, load_settings

app = typer.Typer(
    help="Tier-0 support bot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold customer data or tokens
)
kb_app = typer.Typer(help="Knowledge base: build, search, lint and test.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
app.add_typer(eval_app, name="eval")

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
        index_type=settings.index_type,
        ann_threshold=settings.ann_threshold,
        nlu_dir=settings.nlu_dir,
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
    settings = _settings(index=index)
    kb = _open_kb(settings)
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
            _print_json(
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
            _print_json(data)
        return
    if not hits:
        out.print("no results (is the index empty?)")
    for rank, hit in enumerate(hits, start=1):
        out.print(f"{rank}. [bold]{hit.title}[/bold] › {hit.section}  ({hit.score:.3f})")
        out.print(f"   {hit.link}", style="cyan")
        out.print(f"   {hit.snippet}", style="dim")
    if explain:
        _print_routing(routing, choice, settings)


def _print_routing(routing, choice, settings: Settings) -> None:
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


handoff_app = typer.Typer(
    help="Handoff queue: list, show, claim, resolve, export.", no_args_is_help=True
)
app.add_typer(handoff_app, name="handoff")
AgentOption = Annotated[str, typer.Option("--agent", help="Agent name recorded on the ticket.")]


def _queue(settings: Settings):
    from bot.web.app import open_queue

    return open_queue(settings)


def _handoff_call(action):
    from bot.handoff import TicketConflict, TicketNotFound

    try:
        return action()
    except (TicketNotFound, TicketConflict) as exc:
        raise _fail(str(exc)) from exc


def _print_ticket(ticket) -> None:
    out.print(
        f"[bold]Ticket {ticket.id}[/bold] · {ticket.status} · {ticket.reason} "
        f"(priority {ticket.priority})"
    )
    out.print(
        f"customer: {ticket.customer_email or '-'}  order: {ticket.order_number or '-'}  "
        f"agent: {ticket.claimed_by or '-'}"
    )
    out.print(ticket.summary, markup=False)
    for message in ticket.transcript:
        said = f"{message['at']:%H:%M:%S}" if message["at"] else "--:--:--"
        out.print(f"  {said} {message['sender']:>8}: {message['text']}", markup=False)
    if ticket.resolution_note:
        out.print(f"note: {ticket.resolution_note}", markup=False)


@handoff_app.command("list")
def handoff_list(
    status: Annotated[
        str | None, typer.Option(help="open, claimed, resolved or returned_to_bot.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Handoff reason to filter on.")] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            "-q",
            help="Words that must each appear (any case) in the summary, the transcript, "
            "the email or the order number.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
) -> None:
    """List tickets, open ones in queue order."""
    from bot.handoff.queue import MAX_SEARCH
    from bot.handoff.schema import REASONS, STATUSES

    for name, value, allowed in (("--status", status, STATUSES), ("--reason", reason, REASONS)):
        if value is not None and value not in allowed:
            raise _fail(f"{name} {value!r} is not one of {', '.join(allowed)}")
    if search is not None and len(search) > MAX_SEARCH:
        raise _fail(f"--search is {len(search)} characters; use at most {MAX_SEARCH}")
    queue = _queue(_settings())
    tickets, total = queue.list(status, reason, None, limit, offset, search=search)
    if as_json:
        _print_json({"total": total, "tickets": [t.to_dict() for t in tickets]})
        return
    table = Table("#", "status", "reason", "prio", "customer", "agent", "summary", box=None)
    for t in tickets:
        table.add_row(
            str(t.id),
            t.status,
            t.reason,
            str(t.priority),
            t.customer_email or "",
            t.claimed_by or "",
            t.summary,
        )
    out.print(table)
    out.print(f"{len(tickets)} of {total} ticket(s)")


@handoff_app.command("show")
def handoff_show(ticket_id: int, as_json: JsonOption = False) -> None:
    """One ticket with its transcript."""
    ticket = _handoff_call(lambda: _queue(_settings()).get(ticket_id))
    if as_json:
        _print_json(ticket.to_dict())
    else:
        _print_ticket(ticket)


@handoff_app.command("claim")
def handoff_claim(
    ticket_id: Annotated[
        int | None, typer.Argument(help="Ticket to claim (default: the next).")
    ] = None,
    agent: AgentOption = "cli",
    as_json: JsonOption = False,
) -> None:
    """Claim a ticket, or the most urgent open one."""
    queue = _queue(_settings())
    ticket = _handoff_call(
        lambda: queue.claim(ticket_id, agent) if ticket_id is not None else queue.claim_next(agent)
    )
    if ticket is None:
        raise _fail("the queue has no open ticket")
    if as_json:
        _print_json(ticket.to_dict())
    else:
        _print_ticket(ticket)


@handoff_app.command("resolve")
def handoff_resolve(
    ticket_id: int,
    note: Annotated[str, typer.Option(help="Resolution note.")] = "",
    agent: AgentOption = "cli",
    to_bot: Annotated[bool, typer.Option("--to-bot", help="Return it to the bot instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Resolve a ticket (or return it to the bot) with a note."""
    queue = _queue(_settings())
    close = queue.return_to_bot if to_bot else queue.resolve
    ticket = _handoff_call(lambda: close(ticket_id, agent, note))
    if as_json:
        _print_json(ticket.to_dict())
    else:
        out.print(f"ticket {ticket.id} is {ticket.status}")


@handoff_app.command("export")
def handoff_export(
    since: Annotated[
        str | None, typer.Option(help="Only tickets updated since this date or time (ISO 8601).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
    ] = None,
) -> None:
    """Write tickets as JSON Lines, one full ticket per line, for loading into a helpdesk."""
    import datetime as dt

    start = None
    if since:
        try:
            start = dt.datetime.fromisoformat(since)
        except ValueError as exc:
            raise _fail(f"--since {since!r} is not an ISO date or time, like 2026-11-01") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
    queue = _queue(_settings())
    handle = output.open("w", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        for ticket in queue.export(start):
            handle.write(json.dumps(ticket.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    finally:
        if output:
            handle.close()
    err.print(f"exported {count} ticket(s)")


@handoff_app.command("hash-token")
def handoff_hash_token(
    token: Annotated[
        str, typer.Argument(help="The token an agent or the action server will send.")
    ],
) -> None:
    """Print the hash to put in settings (agent_tokens, service_token); tokens are not stored."""
    from bot.handoff.auth import MIN_TOKEN_LENGTH, hash_token

    if len(token) < MIN_TOKEN_LENGTH:
        raise _fail(f"tokens must be at least {MIN_TOKEN_LENGTH} characters")
    out.print(hash_token(token))


def _ensure_model() -> tuple[Path, bool]:
    """Train the Rasa model if its data changed, saying so first; a failure is a clean error."""
    from bot.stack import StackError, ensure_model, model_path

    if not model_path().exists():
        err.print("training the Rasa model (its data changed); this takes a few minutes...")
    try:
        return ensure_model()
    except StackError as exc:
        raise _fail(str(exc)) from exc


@app.command("train")
def train(as_json: JsonOption = False) -> None:
    """Train the Rasa model if config.yml, domain.yml or data/ changed since the last training."""
    model, trained = _ensure_model()
    if as_json:
        _print_json({"model": str(model), "trained": trained})
    else:
        out.print(f"{'trained' if trained else 'up to date'}: {model}")


@app.command("up")
def up() -> None:
    """Start the action server, the Rasa server and the web app; Ctrl-C stops them all."""
    import signal
    import time

    from bot import stack

    settings = _settings()
    listeners = {
        "web_port": (settings.web_host, settings.web_port),
        "rasa_port": (settings.rasa_host, settings.rasa_port),
        "action_port": (settings.action_host, settings.action_port),
    }
    for name, (host, port) in listeners.items():
        if stack.port_in_use(port, host):
            raise _fail(
                f"port {port} ({name}) is already in use; stop what uses it or set "
                f"BOT_{name.upper()} to another port"
            )
    model, _ = _ensure_model()
    logs = stack.private_data_dir(settings) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        servers = [
            stack.start_action_server(settings, logs),
            stack.start_rasa(settings, model, logs),
            stack.start_web(settings, logs),
        ]
    except stack.StackError as exc:
        raise _fail(str(exc)) from exc
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        err.print("starting the action server, the Rasa server and the web app...")
        stack.wait_all(servers)
        web = f"http://{settings.web_host}:{settings.web_port}"
        out.print(
            f"store page:   {web}/  (the chat widget is in the corner)\n"
            f"help centre:  {web}/help/\nagent inbox:  {web}/inbox "
            f"(demo token in {settings.data_dir / 'demo-agent.token'})\n"
            f"Rasa:         {servers[1].url} (private: token in "
            f"{settings.data_dir / 'rasa.token'}; conversations in "
            f"{stack.conversations_where(settings)})\n"
            f"logs:         {logs}/\nPress Ctrl-C to stop.",
            markup=False,
        )
        while not stopping:
            for server in servers:
                if server.process.poll() is not None:
                    raise stack.StackError(
                        f"{server.name} stopped (exit {server.process.returncode}); "
                        f"see {server.log}"
                    )
            time.sleep(0.5)
    except stack.StackError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        for server in reversed(servers):
            server.stop()
        err.print("stopped.")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="With no agent tokens set, create a demo agent's token.")
    ] = False,
) -> None:
    """Run the web app: store page with the chat widget, help centre, APIs and agent inbox."""
    import logging

    import uvicorn

    from bot.stack import port_in_use
    from bot.web.app import create_app

    settings = _settings(web_host=host, web_port=port)
    if port_in_use(settings.web_port, settings.web_host):
        raise _fail(
            f"port {settings.web_port} on {settings.web_host} is already in use; "
            "stop what uses it or choose another with --port or BOT_WEB_PORT"
        )
    # One line per turn (bot.turns) at INFO; uvicorn's access log stays off.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sign_in = ""
    if demo and not settings.agent_tokens:
        settings, token_file = _with_demo_agent(settings)
        sign_in = f" (demo agent: sign in with the token in {token_file})"
    elif not settings.agent_tokens:
        sign_in = " (no agent_tokens set: nobody can sign in; see README)"
    web = create_app(settings)
    base = f"http://{settings.web_host}:{settings.web_port}"
    out.print(f"help centre: {base}/help/\nagent inbox: {base}/inbox{sign_in}", markup=False)
    uvicorn.run(web, host=settings.web_host, port=settings.web_port, log_level="warning")


def _with_demo_agent(settings: Settings) -> tuple[Settings, Path]:
    """A local demo agent whose token lives only in a private file under data_dir."""
    from bot.handoff.auth import hash_token
    from bot.tokens import stored_secret

    token_file = settings.data_dir / "demo-agent.token"
    token = stored_secret(token_file, nbytes=24)
    updated = settings.model_copy(
        update={"agent_tokens": {"demo": hash_token(token)}, "cookie_secure": False}
    )
    return updated, token_file


def main() -> None:
    """Entry point of the `bot` command."""
    app()


if __name__ == "__main__":
    main()
