"""`bot train`, `bot up` and `bot serve`: train the Rasa model and run the bot's servers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.commands.common import JsonOption, err, fail, get_settings, out, print_json
from bot.settings import Settings


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


def up() -> None:
    """Start the action server, the Rasa server and the web app; Ctrl-C stops them all."""
    import signal
    import time

    from bot import stack

    settings = get_settings()
    listeners = {
        "web_port": (settings.web_host, settings.web_port),
        "rasa_port": (settings.rasa_host, settings.rasa_port),
        "action_port": (settings.action_host, settings.action_port),
    }
    for name, (host, port) in listeners.items():
        if stack.port_in_use(port, host):
            raise fail(
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
        raise fail(str(exc)) from exc
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
            f"insights:     {web}/insights  (the same sign-in)\n"
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

    settings = get_settings(web_host=host, web_port=port)
    if port_in_use(settings.web_port, settings.web_host):
        raise fail(
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
    out.print(
        f"help centre: {base}/help/\nagent inbox: {base}/inbox{sign_in}\ninsights: {base}/insights",
        markup=False,
    )
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
