"""`bot train`, `bot up` and `bot serve`: train the Rasa model and run the bot's servers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.commands.common import JsonOption, err, fail, get_settings, out, print_json

# How long the web app keeps a browser's idle connection (uvicorn's default is 5 s). A customer
# types for longer than 5 s, and a message sent on a connection the server is closing at that
# moment fails without an answer; a minute and a quarter (nginx's default) covers typing.
KEEP_ALIVE_SECONDS = 75


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _ensure_model() -> tuple[Path, bool]:
    """Train the Rasa model if its data changed, saying so first; a failure is a clean error."""
    from bot.stack import StackError, ensure_model, model_path

    if not model_path().exists():
        err.print("training the Rasa model (its data changed); this takes a few minutes...")
    try:
        return ensure_model()
    except StackError as exc:
        raise fail(str(exc)) from exc


def train(as_json: JsonOption = False) -> None:
    """Train the Rasa model if config.yml, domain.yml or data/ changed since the last training."""
    model, trained = _ensure_model()
    if as_json:
        print_json({"model": str(model), "trained": trained})
    else:
        out.print(f"{'trained' if trained else 'up to date'}: {model}")


def up(
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            help="Start only these, comma-separated: actions, rasa, haproxy, mail, web (one "
            "machine of several; see docs/operations.md).",
        ),
    ] = None,
    production: Annotated[
        bool,
        typer.Option(
            "--production",
            help="Refuse to start without agent_tokens, a session_secret and cookie_secure, "
            "and make no demo agent (the setting production does the same).",
        ),
    ] = False,
) -> None:
    """Start the action server, the Rasa server(s) and the web app; Ctrl-C stops them all."""
    import signal
    import time

    from bot import stack

    settings = get_settings()
    production = production or settings.production
    roles = tuple(r.strip() for r in only.split(",") if r.strip()) if only else stack.ROLES
    if production and "web" in roles:
        from rich.markup import escape

        problems = stack.production_problems(settings)
        if problems:
            raise fail(
                "production mode refuses to start; set:\n"
                + "\n".join(f"  - {escape(p)}" for p in problems)
                + "\n(see docs/operations.md, 'Production'; without --production it starts "
                "in demo mode)"
            )
    try:
        ports = stack.replica_ports(settings)
        listeners = stack.listeners(settings, roles)
    except stack.StackError as exc:
        raise fail(str(exc)) from exc
    for name, (host, port) in listeners.items():
        if stack.port_in_use(port, host):
            setting = name.split("[")[0].upper()
            raise fail(
                f"port {port} ({name}) is already in use; stop what uses it or set "
                f"BOT_{setting} to another port"
            )
    model, _ = _ensure_model() if "rasa" in roles else (Path(), False)
    logs = stack.private_data_dir(settings) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        servers = stack.start_stack(settings, model, logs, demo=not production, roles=roles)
    except stack.StackError as exc:
        raise fail(str(exc)) from exc
    stopping = False
    # the machine that runs the action server keeps the catalogue it reads up to date
    catalog = (
        stack.CatalogSchedule(settings, logs / "catalog-sync.log", err.print)
        if "actions" in roles
        else None
    )

    def stop_all(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        err.print(f"starting {', '.join(server.name for server in servers)}...")
        stack.wait_all(servers)
        recorded = stack.write_servers_file(settings, servers)
        for server in servers:
            out.print(f"{server.name + ':':<20}{server.url}", markup=False)
        # on this machine: the name the demo's links use (the catalogue feed, help_base_url),
        # so pictures and links are on the page's own origin (its CSP allows only 'self')
        host = "localhost" if settings.web_host in LOOPBACK else settings.web_host
        web = f"http://{host}:{settings.web_port}"
        if "web" in roles:
            demo_agent = not production and not settings.agent_tokens
            sign_in = (
                f"(demo token in {settings.data_dir / 'demo-agent.token'})"
                if demo_agent
                else f"({len(settings.agent_tokens)} agents in agent_tokens)"
            )
            out.print(
                f"store page:   {web}/  (the chat widget is in the corner)\n"
                f"help centre:  {web}/help/\nagent inbox:  {web}/inbox {sign_in}\n"
                f"insights:     {web}/insights  (the same sign-in)",
                markup=False,
            )
            if production:
                out.print("mode:         production", markup=False)
            else:
                out.print(
                    "mode:         DEMO: "
                    + (
                        "a demo agent, and the inbox cookie also over plain HTTP; "
                        if demo_agent
                        else ""
                    )
                    + "not for the internet (bot up --production: docs/operations.md)",
                    markup=False,
                )
        if stack.scaled_out(settings) and {"rasa", "haproxy"} & set(roles):
            out.print(
                f"Rasa:         {len(ports)} replicas here (ports "
                f"{', '.join(str(p) for p in ports)})"
                + (
                    f" and {len(settings.rasa_backends)} elsewhere"
                    if settings.rasa_backends
                    else ""
                )
                + f", HAProxy on {settings.rasa_port} hashing on the conversation id; locks in "
                f"Redis ({settings.redis_url.split('@')[-1]})",
                markup=False,
            )
        out.print(
            f"Rasa is private: token in {settings.data_dir / 'rasa.token'}; conversations in "
            f"{stack.conversations_where(settings)}\n"
            f"logs:         {logs}/  (servers, pids and ports: {recorded})\n"
            "Press Ctrl-C to stop.",
            markup=False,
        )
        if catalog is not None and settings.catalog_feed:
            out.print(
                f"catalogue:    {settings.catalog_feed}, synced now and every "
                f"{settings.catalog_sync_minutes} min (`bot catalog status`)",
                markup=False,
            )
        while not stopping:
            if stack.supervise(servers, err.print):
                stack.write_servers_file(settings, servers)
            if catalog is not None:
                catalog.tick()
            time.sleep(0.5)
    except stack.StackError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        if catalog is not None:
            catalog.stop()
        for server in reversed(servers):
            server.stop()
        err.print("stopped.")


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="With no agent tokens set, create a demo agent's token.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=32, help="uvicorn worker processes (default: web_workers)."),
    ] = None,
) -> None:
    """Run the web app: store page with the chat widget, help centre, APIs and agent inbox."""
    import os

    import uvicorn

    from bot.heap import freeze_loaded
    from bot.stack import port_in_use
    from bot.web.app import (
        DEMO_AGENT_VARIABLE,
        configure_logging,
        create_app,
        with_demo_agent,
    )

    settings = get_settings(web_host=host, web_port=port)
    if port_in_use(settings.web_port, settings.web_host):
        raise fail(
            f"port {settings.web_port} on {settings.web_host} is already in use; "
            "stop what uses it or choose another with --port or BOT_WEB_PORT"
        )
    configure_logging()
    sign_in = ""
    if demo and not settings.agent_tokens:
        settings, token_file = with_demo_agent(settings)
        sign_in = f" (demo agent: sign in with the token in {token_file})"
    elif not settings.agent_tokens:
        sign_in = " (no agent_tokens set: nobody can sign in; see docs/agents.md)"
    workers = workers or settings.web_workers
    base = f"http://{settings.web_host}:{settings.web_port}"
    out.print(
        f"help centre: {base}/help/\nagent inbox: {base}/inbox{sign_in}\ninsights: {base}/insights"
        + (f"\n{workers} workers" if workers > 1 else ""),
        markup=False,
    )
    if workers == 1:
        app = create_app(settings)
        freeze_loaded("the web app")  # no collector pauses for what the app keeps (bot.heap)
        uvicorn.run(
            app,
            host=settings.web_host,
            port=settings.web_port,
            log_level="warning",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            # X-Forwarded-For and -Proto only from the proxies named in trusted_proxies
            forwarded_allow_ips=settings.trusted_proxies,
        )
        return
    # each worker builds its own app from the same environment (bot.web.app.from_environment)
    os.environ[DEMO_AGENT_VARIABLE] = "1" if demo else "0"
    uvicorn.run(
        "bot.web.app:from_environment",
        factory=True,
        workers=workers,
        host=settings.web_host,
        port=settings.web_port,
        log_level="warning",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        forwarded_allow_ips=settings.trusted_proxies,
    )
