"""Starting the planned stack and keeping it up: what the servers need on disk first, the checks
that fail early, starting in order, restarting a server that died, recording who runs where."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import Settings
from bot.stack.plan import (
    ROLES,
    StackError,
    Tokens,
    action_server_spec,
    check_roles,
    edge_spec,
    haproxy_spec,
    lock_store_endpoint,
    plan_stack,
    rasa_spec,
    scale_out_problem,
    scaled_out,
    web_spec,
)
from bot.stack.process import Server, start, wait_all
from bot.tokens import internal_token

logger = logging.getLogger(__name__)
RESTARTS_PER_SERVER = 5  # in a row without staying up a minute; then `bot up` gives up


def private_data_dir(settings: Settings) -> Path:
    """data_dir, made if needed, readable by its owner only (databases, tokens, logs)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    return settings.data_dir


def prepare_query_encoder(settings: Settings) -> None:
    """Export the embedding model to ONNX now (once per model; bot/kb/encoder.py), not during
    the action server's first turns. If it cannot be made, the action server says why in its
    log and embeds with sentence-transformers instead."""
    from bot.kb.embedder import ModelNotAvailable
    from bot.kb.encoder import EncoderUnavailable, ensure

    try:
        ensure(settings.embedding_model, settings.encoder_dir)
    except (EncoderUnavailable, ModelNotAvailable, OSError) as exc:
        logger.warning(f"question encoder: {exc}")


def prepare(settings: Settings, roles: tuple[str, ...] = ROLES) -> Tokens:
    """What the servers of these roles need before they start: a private data_dir, the internal
    tokens (made before any child reads them), the question encoder, the SQLite folder."""
    private_data_dir(settings)
    needs_rasa_token = bool({"rasa", "web"} & set(roles))
    needs_action_token = bool({"rasa", "actions"} & set(roles))
    tokens = Tokens(
        rasa=internal_token(settings, "rasa") if needs_rasa_token else "",
        action=internal_token(settings, "action") if needs_action_token else "",
    )
    if "actions" in roles and settings.query_encoder == "onnx":
        prepare_query_encoder(settings)
    url = make_url(settings.conversations_url)
    if "rasa" in roles and url.get_backend_name() == "sqlite":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return tokens


def create_database(url: str) -> None:
    """Create a PostgreSQL database when it does not exist yet (SQLite makes its own file)."""
    import sqlalchemy as sa

    target = make_url(url)
    if target.get_backend_name() != "postgresql":
        return
    if target.drivername == "postgresql":
        target = target.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).first()
            if not exists:
                connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    except sa.exc.SQLAlchemyError as exc:
        where = target.render_as_string(hide_password=True)
        raise StackError(f"cannot create the database {where}: {exc}") from exc
    finally:
        admin.dispose()


def check_scale_out(settings: Settings, roles: tuple[str, ...] = ("rasa", "haproxy")) -> None:
    """Fail early, saying what to change, when several Rasa servers could not share safely."""
    if not scaled_out(settings) or not {"rasa", "haproxy"} & set(roles):
        return
    problem = scale_out_problem(settings, roles)
    if problem:
        raise StackError(problem)
    if "haproxy" in roles and shutil.which(settings.haproxy_bin) is None:
        raise StackError(
            "rasa_replicas > 1 needs HAProxy in front of the replicas, and "
            f"'{settings.haproxy_bin}' is not installed: run `make setup` (it installs "
            "Debian's haproxy) or `sudo apt-get install haproxy`"
        )
    if "rasa" not in roles:
        return
    endpoint = lock_store_endpoint(settings)
    try:
        with socket.create_connection((endpoint["url"], endpoint["port"]), timeout=3):
            pass
    except OSError as exc:
        raise StackError(
            f"rasa_replicas > 1 needs Redis for the conversation locks; redis_url "
            f"{endpoint['url']}:{endpoint['port']} does not answer: {exc}"
        ) from exc


def start_action_server(
    settings: Settings, log_dir: Path, env: Mapping[str, str] | None = None
) -> Server:
    """The action server, started (not yet ready)."""
    prepare(settings, ("actions",))
    return start(action_server_spec(settings, log_dir, env))


def start_rasa(
    settings: Settings,
    model: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Server:
    """A Rasa server, started (not yet ready); port: a replica's (default: rasa_port)."""
    tokens = prepare(settings, ("rasa",))
    return start(rasa_spec(settings, model, log_dir, tokens, env, port=port))


def start_haproxy(settings: Settings, backends: list[str], log_dir: Path) -> Server:
    """HAProxy on rasa_port over backends (host:port), its configuration checked first."""
    private_data_dir(settings)
    return start(haproxy_spec(settings, backends, log_dir))


def start_edge(settings: Settings, log_dir: Path) -> Server:
    """HAProxy in front of the web app (web_edge), its configuration checked first."""
    private_data_dir(settings)
    return start(edge_spec(settings, log_dir))


def start_web(
    settings: Settings, log_dir: Path, env: Mapping[str, str] | None = None, demo: bool = True
) -> Server:
    """The web app, started (not yet ready); with demo, a demo agent when none is configured."""
    prepare(settings, ("web",))
    return start(web_spec(settings, log_dir, env, demo=demo))


def start_stack(
    settings: Settings,
    model: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    demo: bool = True,
    roles: tuple[str, ...] = ROLES,
) -> list[Server]:
    """The planned servers, started in order (not yet ready); a failure stops what was
    started."""
    check_roles(roles)
    check_scale_out(settings, roles)
    if settings.web_edge and "web" in roles and shutil.which(settings.haproxy_bin) is None:
        raise StackError(
            f"web_edge needs HAProxy, and '{settings.haproxy_bin}' is not installed: run "
            "`make setup` (it installs Debian's haproxy) or `sudo apt-get install haproxy`"
        )
    if "rasa" in roles:
        create_database(settings.conversations_url)  # before replicas race to create it
    tokens = prepare(settings, roles)
    specs = plan_stack(settings, model, log_dir, tokens, env, demo=demo, roles=roles)
    servers: list[Server] = []
    try:
        for spec in specs:
            servers.append(start(spec))
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


@contextlib.contextmanager
def running_stack(
    settings: Settings,
    model: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    demo: bool = True,
    roles: tuple[str, ...] = ROLES,
) -> Iterator[list[Server]]:
    """The planned servers, started and ready for the block; stopped after it (last first),
    whatever happens."""
    servers = start_stack(settings, model, log_dir, env, demo=demo, roles=roles)
    try:
        wait_all(servers)
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


def supervise(servers: list[Server], say: Callable[[str], None]) -> bool:
    """Restart any server that died (a killed Rasa replica, a crashed action server); returns
    True when one was restarted. Raises StackError when one keeps dying."""
    restarted = False
    for server in servers:
        if server.process.poll() is None:
            if server.restarts and time.monotonic() - server.started_at > 60:
                server.restarts = 0  # it stayed up: the next death starts a new count
            continue
        if server.restarts >= RESTARTS_PER_SERVER:
            raise StackError(
                f"{server.name} keeps stopping (exit {server.process.returncode}, restarted "
                f"{server.restarts} times); see {server.log}"
            )
        say(f"{server.name} stopped (exit {server.process.returncode}); restarting it")
        server.restart()
        restarted = True
    return restarted


def servers_file(settings: Settings) -> Path:
    """Where `bot up` records its servers: data_dir/run/servers.json."""
    return settings.data_dir / "run" / "servers.json"


def write_servers_file(settings: Settings, servers: list[Server]) -> Path:
    """Record each server's name, pid, port, URL and log (for operators, benchmarks, tests)."""
    path = servers_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    records = [
        {
            "name": server.name,
            "pid": server.process.pid,
            "port": server.port,
            "url": server.url,
            "log": str(server.log),
        }
        for server in servers
    ]
    path.write_text(json.dumps({"servers": records}, indent=2) + "\n")
    return path
