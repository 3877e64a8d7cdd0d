"""What the bot's stack runs, as data: each server's command, environment, address, log, files
and ready check, from the settings and the roles asked for.

Pure: nothing here starts a process, opens a socket or writes a file, so the whole plan is
checked by unit tests. bot.stack.supervisor prepares what the plan needs on disk (tokens, the
data folder) and starts what it describes; bot.stack.env adds the machine's basics to each
server's environment.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy.engine import make_url

from bot.inbound import CONVERSATION_HEADER
from bot.settings import Settings, connectable
from bot.stack.edge import EDGE_HEALTH, EDGE_NAME, app_port, behind_edge, edge_config
from bot.stack.env import RASA_VARIABLES, settings_env
from bot.stack.paths import RASA_PYTHON, ROOT

ROLES = ("actions", "rasa", "haproxy", "mail", "web")
CHANNELS = "rasa_plugins.channels"
TRACKER_STORE_CLASS = "rasa_plugins.tracker_store.MaskingSQLTrackerStore"
# Logged by MaskingSQLTrackerStore once its database is open (rasa_plugins/tracker_store.py).
TRACKER_STORE_READY = "tier0 tracker store ready"
LOCK_STORE_CLASS = "rasa_plugins.lock_store.CheckedRedisLockStore"
HAPROXY_HEALTH = "/haproxy-health"
# Logged by CheckedRedisLockStore once Redis answered (rasa_plugins/lock_store.py).
LOCK_STORE_READY = "tier0 lock store ready"


class StackError(RuntimeError):
    """A server could not be trained, started or reached; the message says which and why."""


@dataclass(frozen=True)
class PrivateFile:
    """A file a server reads at start, written readable by its owner only (it may hold tokens)."""

    path: Path
    text: str = field(repr=False)  # never in a log line or an error message


@dataclass(frozen=True)
class Tokens:
    """The internal tokens a plan writes into Rasa's configuration ('' where no role needs it)."""

    rasa: str = ""
    action: str = ""


@dataclass(frozen=True)
class ServerSpec:
    """One server to run: command, environment, address, log, files and how to tell it is ready."""

    name: str
    argv: tuple[str, ...]
    # what the plan assigns (tokens among it, so never in a repr); bot.stack.env.child_env adds
    # the basics
    env: Mapping[str, str] = field(repr=False)
    url: str
    log: Path
    ready_path: str  # answers 200 once the server can take requests
    ready_params: Mapping[str, str] = field(default_factory=dict)
    # signs the JWT of the ready check's Authorization header (bot.rasa_auth); '' for none
    ready_token: str = field(default="", repr=False)
    # given the spec and this run's output once it answers; raises StackError when not sound
    ready_check: Callable[[ServerSpec, str], None] | None = None
    cwd: Path = ROOT
    files: tuple[PrivateFile, ...] = field(default=(), repr=False)
    config_check: tuple[str, ...] = ()  # a command that must accept the files, its last argument

    @property
    def port(self) -> int:
        """The port it listens on (from its URL)."""
        return int(self.url.rsplit(":", 1)[1].split("/")[0])


def check_roles(roles: tuple[str, ...]) -> None:
    """Refuse a role that does not exist, naming the ones that do."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise StackError(f"unknown role {', '.join(unknown)}: choose among {', '.join(ROLES)}")


def scaled_out(settings: Settings) -> bool:
    """True when more than one Rasa server shares the conversations (HAProxy, Redis locks)."""
    return settings.rasa_replicas > 1 or bool(settings.rasa_backends)


def replica_ports(settings: Settings) -> list[int]:
    """The local Rasa servers' ports: rasa_port itself when there is one and nothing else."""
    if not scaled_out(settings):
        return [settings.rasa_port]
    if settings.rasa_replica_ports:
        if len(settings.rasa_replica_ports) != settings.rasa_replicas:
            raise StackError(
                f"rasa_replica_ports lists {len(settings.rasa_replica_ports)} ports for "
                f"rasa_replicas = {settings.rasa_replicas}; give one per replica"
            )
        return list(settings.rasa_replica_ports)
    return [settings.rasa_port + 1 + i for i in range(settings.rasa_replicas)]


def listeners(settings: Settings, roles: tuple[str, ...] = ROLES) -> dict[str, tuple[str, int]]:
    """Where the servers of these roles will listen, by the setting that names each port."""
    found: dict[str, tuple[str, int]] = {}
    if "web" in roles:
        found["web_port"] = (settings.web_host, settings.web_port)
        if settings.web_edge:
            found["web_app_port"] = ("127.0.0.1", app_port(settings))
    if "actions" in roles:
        found["action_port"] = (settings.action_host, settings.action_port)
    if "mail" in roles:
        found["mail_port"] = (settings.mail_host, settings.mail_port)
    many = scaled_out(settings)
    if (not many and "rasa" in roles) or (many and "haproxy" in roles):
        found["rasa_port"] = (settings.rasa_host, settings.rasa_port)
    if many and "rasa" in roles:
        for i, port in enumerate(replica_ports(settings)):
            found[f"rasa_replica_ports[{i}]"] = (settings.rasa_host, port)
    return found


def tracker_store_endpoint(settings: Settings) -> dict:
    """Rasa's `tracker_store` entry for the conversations database the settings name."""
    url = make_url(settings.conversations_url)
    store = {"type": TRACKER_STORE_CLASS}
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {**store, "dialect": "sqlite", "db": url.database}
    if backend != "postgresql":
        raise StackError(
            f"tracker_store_url: '{backend}' is not supported; use sqlite or postgresql"
        )
    store.update(dialect="postgresql", url=url.host or "127.0.0.1", db=url.database)
    store["login_db"] = "postgres"  # so Rasa creates the database when it does not exist yet
    if url.port:
        store["port"] = url.port
    if url.username:
        store["username"] = url.username
    if url.password:
        store["password"] = url.password
    return store


def conversations_where(settings: Settings) -> str:
    """The conversation store's URL, fit to print (no password)."""
    return make_url(settings.conversations_url).render_as_string(hide_password=True)


def lock_store_endpoint(settings: Settings) -> dict:
    """Rasa's `lock_store` entry: Redis at redis_url (host, port, db, password)."""
    url = urlsplit(settings.redis_url)
    if url.scheme not in ("redis", "rediss") or not url.hostname:
        raise StackError(f"redis_url: '{settings.redis_url}' is not a redis://host:port/db URL")
    db = url.path.strip("/") or "1"
    if not db.isdigit():
        raise StackError(f"redis_url: database '{db}' in '{settings.redis_url}' is not a number")
    store: dict[str, Any] = {
        "type": LOCK_STORE_CLASS,
        "url": url.hostname,
        "port": url.port or 6379,
        "db": int(db),
        "key_prefix": settings.lock_key_prefix,
    }
    if url.password:
        store["password"] = url.password
    if url.scheme == "rediss":
        store["use_ssl"] = True
    return store


def scale_out_problem(settings: Settings, roles: tuple[str, ...]) -> str | None:
    """What in the settings keeps several Rasa servers from sharing the conversations, if any."""
    if not scaled_out(settings) or "rasa" not in roles:
        return None
    if make_url(settings.conversations_url).get_backend_name() != "postgresql":
        return (
            "rasa_replicas > 1 needs the conversations on PostgreSQL, which every replica "
            "reaches: set tracker_store_url (e.g. postgresql+psycopg://postgres@127.0.0.1/tier0)"
        )
    return None


def run_folder(settings: Settings, name: str) -> Path:
    """The private folder under data_dir/run where a server's generated files go."""
    return (settings.data_dir / "run" / name).resolve()


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def check_tracker_store(spec: ServerSpec, output: str) -> None:
    """Fail when Rasa is not keeping conversations in our SQL store (it falls back to memory
    silently when a store cannot be loaded)."""
    fallback = next((line for line in output.splitlines() if "InMemoryTrackerStore" in line), None)
    if fallback is not None:
        raise StackError(
            "Rasa fell back to an in-memory tracker store, so conversations would be lost on "
            f"restart: {fallback.strip()} (see {spec.log})"
        )
    if TRACKER_STORE_READY not in output:
        raise StackError(
            f"Rasa started without opening its conversation store (no '{TRACKER_STORE_READY}' "
            f"in {spec.log})"
        )


def check_rasa_stores(spec: ServerSpec, output: str) -> None:
    """The tracker store check, and the Redis lock store's (a replica without it could answer
    one conversation twice at once)."""
    check_tracker_store(spec, output)
    if LOCK_STORE_READY not in output:
        raise StackError(
            f"{spec.name} started without its Redis lock store (no '{LOCK_STORE_READY}' in "
            f"{spec.log})"
        )


def action_server_spec(
    settings: Settings, log_dir: Path, env: Mapping[str, str] | None = None
) -> ServerSpec:
    """The action server (bot.action_server: rasa-sdk running actions/) in this interpreter."""
    threads = str(settings.action_torch_threads)
    return ServerSpec(
        name="action server",
        argv=(sys.executable, "-m", "bot.action_server"),
        env={
            **settings_env(settings),
            "ACTION_SERVER_SANIC_WORKERS": str(settings.action_workers),
            "OMP_NUM_THREADS": threads,  # torch's thread pools, set before it is imported
            "MKL_NUM_THREADS": threads,
            **(env or {}),
        },
        url=f"http://{connectable(settings.action_host)}:{settings.action_port}",
        log=log_dir / "actions.log",
        ready_path="/health",
    )


def rasa_spec(
    settings: Settings,
    model: Path,
    log_dir: Path,
    tokens: Tokens,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> ServerSpec:
    """A Rasa server: on rasa_host only, its API and REST channel behind the rasa token, calling
    the action server with the action token, conversations in the SQL tracker store; when scaled
    out, conversation locks in Redis. port: a replica's (default: rasa_port)."""
    port = port or settings.rasa_port
    folder = run_folder(settings, f"rasa-{port}")
    endpoints = {
        "action_endpoint": {
            "url": settings.action_webhook_url,
            "headers": {"Authorization": f"Bearer {tokens.action}"},
        },
        "tracker_store": tracker_store_endpoint(settings),
    }
    many = scaled_out(settings)
    if many:
        endpoints["lock_store"] = lock_store_endpoint(settings)
    credentials: dict[str, dict] = {f"{CHANNELS}.TokenRestInput": {"token": tokens.rasa}}
    if settings.rasa_socketio:
        credentials[f"{CHANNELS}.CheckedSocketIOInput"] = {
            "user_message_evt": "user_uttered",
            "bot_message_evt": "bot_uttered",
            "session_persistence": True,
        }
    files = (
        PrivateFile(folder / "endpoints.yml", _yaml(endpoints)),
        PrivateFile(folder / "credentials.yml", _yaml(credentials)),
    )
    # The API's JWT key goes through the environment (rasa_plugins/serve.py), never the process
    # list; callers send a JWT signed with it in a header, never the token in a URL.
    argv = (
        str(RASA_PYTHON), "-m", "rasa_plugins.serve", "run", "--enable-api",
        "--interface", settings.rasa_host, "--port", str(port),
        "--model", str(model),
        "--endpoints", str(files[0].path),
        "--credentials", str(files[1].path),
    )  # fmt: skip
    return ServerSpec(
        name=f"Rasa server {port}" if many else "Rasa server",
        argv=argv,
        env={
            **RASA_VARIABLES,
            **settings_env(settings),
            **(env or {}),
            "TIER0_RASA_AUTH_TOKEN": tokens.rasa,
            "TICKET_LOCK_LIFETIME": str(settings.lock_lifetime_seconds),
            "TIER0_RASA_SPEEDUPS": "1" if settings.rasa_speedups else "0",
            "TIER0_RASA_SPEEDUPS_OFF": ",".join(settings.rasa_speedups_off),
            # Rasa's own variables for TensorFlow's thread pools (rasa/constants.py)
            "TF_INTRA_OP_PARALLELISM_THREADS": str(settings.rasa_threads),
            "TF_INTER_OP_PARALLELISM_THREADS": str(settings.rasa_threads),
            "OMP_NUM_THREADS": str(settings.rasa_threads),
        },
        url=f"http://{connectable(settings.rasa_host)}:{port}",
        log=log_dir / (f"rasa-{port}.log" if many else "rasa.log"),
        ready_path="/status",
        ready_token=tokens.rasa,
        ready_check=check_rasa_stores if many else check_tracker_store,
        files=files,
    )


def haproxy_config(settings: Settings, backends: list[str]) -> str:
    """HAProxy in front of the Rasa servers: hash on the conversation id (consistent, so a dead
    server's conversations move and the others' stay), health-checked every second."""
    servers = "\n".join(
        f"    server rasa{i} {address} check" for i, address in enumerate(backends, start=1)
    )
    return f"""# Written by `bot up` (bot/stack/plan.py haproxy_config); edits are overwritten.
global
    maxconn 4000
    log stderr format raw local0 warning

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout queue 30s
    # only a connection that failed is retried: a request a server received is never sent twice
    retries 2
    retry-on conn-failure
    option redispatch

frontend rasa
    bind {settings.rasa_host}:{settings.rasa_port}
    # HAProxy's own health (200 while it runs, whatever the Rasa servers do)
    monitor-uri {HAPROXY_HEALTH}
    default_backend rasa_servers

backend rasa_servers
    balance hdr({CONVERSATION_HEADER})
    hash-type consistent
    option httpchk GET /
    http-check expect status 200
    # down after three missed checks (a busy server is not a dead one), back after two
    timeout check 3s
    # equal weights of 100, not 1: each server gets 100 times more points on the hash ring, so
    # conversations split evenly (with weight 1 the split is uneven: benchmarks/README.md)
    default-server inter 1s fall 3 rise 2 weight 100
{servers}
"""


def haproxy_spec(settings: Settings, backends: list[str], log_dir: Path) -> ServerSpec:
    """HAProxy (Debian's) on rasa_port, balancing over backends (host:port)."""
    config = run_folder(settings, "haproxy") / "haproxy.cfg"
    return ServerSpec(
        name="HAProxy",
        argv=(settings.haproxy_bin, "-db", "-f", str(config)),
        env={},
        url=f"http://{connectable(settings.rasa_host)}:{settings.rasa_port}",
        log=log_dir / "haproxy.log",
        ready_path=HAPROXY_HEALTH,
        files=(PrivateFile(config, haproxy_config(settings, backends)),),
        config_check=(settings.haproxy_bin, "-c", "-q", "-f", str(config)),
    )


def edge_spec(settings: Settings, log_dir: Path) -> ServerSpec:
    """HAProxy (Debian's) on web_host:web_port in front of the web app."""
    config = run_folder(settings, "edge") / "haproxy.cfg"
    return ServerSpec(
        name=EDGE_NAME,
        argv=(settings.haproxy_bin, "-db", "-f", str(config)),
        env={},
        url=f"http://{connectable(settings.web_host)}:{settings.web_port}",
        log=log_dir / "edge.log",
        ready_path=EDGE_HEALTH,
        files=(PrivateFile(config, edge_config(settings)),),
        config_check=(settings.haproxy_bin, "-c", "-q", "-f", str(config)),
    )


def mail_spec(
    settings: Settings, log_dir: Path, env: Mapping[str, str] | None = None
) -> ServerSpec:
    """The mail worker (`bot mail worker`): sends the outbox's emails; its health check on
    mail_host:mail_port. smtp_url reaches it through the environment, never the process list."""
    return ServerSpec(
        name="mail worker",
        argv=(sys.executable, "-m", "bot.cli", "mail", "worker"),
        env={**settings_env(settings), **(env or {})},
        url=settings.mail_url,
        log=log_dir / "mail.log",
        ready_path="/health",
    )


def web_spec(
    settings: Settings, log_dir: Path, env: Mapping[str, str] | None = None, demo: bool = True
) -> ServerSpec:
    """The web app (store page, chat gateway, help centre, inbox, APIs); with demo, a demo agent
    when none is configured. With web_edge, on 127.0.0.1:web_app_port behind HAProxy."""
    edge = behind_edge(settings) if settings.web_edge else {}
    if edge:
        url = f"http://127.0.0.1:{app_port(settings)}"
    else:
        url = f"http://{connectable(settings.web_host)}:{settings.web_port}"
    return ServerSpec(
        name="web app",
        argv=(sys.executable, "-m", "bot.cli", "serve", *(["--demo"] if demo else [])),
        env={**settings_env(settings), **(env or {}), **edge},
        url=url,
        log=log_dir / "web.log",
        ready_path="/openapi.json",
    )


def plan_stack(
    settings: Settings,
    model: Path,
    log_dir: Path,
    tokens: Tokens,
    env: Mapping[str, str] | None = None,
    demo: bool = True,
    roles: tuple[str, ...] = ROLES,
) -> list[ServerSpec]:
    """The bot's servers in start order: the action server, the Rasa servers, HAProxy when
    scaled out, the mail worker and the web app; roles picks some of them (one machine of
    several)."""
    check_roles(roles)
    specs: list[ServerSpec] = []
    if "actions" in roles:
        specs.append(action_server_spec(settings, log_dir, env))
    ports = replica_ports(settings)
    if "rasa" in roles:
        for port in ports:
            specs.append(rasa_spec(settings, model, log_dir, tokens, env, port=port))
    if scaled_out(settings) and "haproxy" in roles:
        local = [f"{connectable(settings.rasa_host)}:{port}" for port in ports]
        backends = (local if "rasa" in roles else []) + settings.rasa_backends
        specs.append(haproxy_spec(settings, backends, log_dir))
    if "mail" in roles:
        specs.append(mail_spec(settings, log_dir, env))
    if "web" in roles:
        specs.append(web_spec(settings, log_dir, env, demo=demo))
        if settings.web_edge:
            specs.append(edge_spec(settings, log_dir))
    if not specs:
        raise StackError(
            f"nothing to start for --only {','.join(roles)}: haproxy runs only when "
            "rasa_replicas > 1 or rasa_backends are set"
        )
    return specs
