"""Train the Rasa model when its data changed; start the action server, Rasa and the web app."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.engine import make_url

from bot.inbound import CONVERSATION_HEADER
from bot.settings import Settings, connectable
from bot.tokens import internal_token

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
RASA_INPUTS = ("config.yml", "domain.yml", "data")
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
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


def model_fingerprint(root: Path = ROOT) -> str:
    """A hash of everything training reads: the config, the domain and the training data."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for name in RASA_INPUTS:
        path = root / name
        files.extend(sorted(p for p in path.rglob("*.yml")) if path.is_dir() else [path])
    for file in files:
        digest.update(
            file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes() + b"\0"
        )
    return digest.hexdigest()[:16]


def model_path(root: Path = ROOT) -> Path:
    """Where the model for the current data lives (it may not exist yet)."""
    return root / "models" / f"tier0-{model_fingerprint(root)}.tar.gz"


def ensure_model(root: Path = ROOT, log: Path | None = None) -> tuple[Path, bool]:
    """Train unless a model for exactly this data exists; returns (path, trained_now)."""
    target = model_path(root)
    if target.exists():
        return target, False
    log = log or root / "models" / "train.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        result = subprocess.run(
            [
                str(RASA_BIN),
                "train",
                "--fixed-model-name",
                target.name.removesuffix(".tar.gz"),
                "--out",
                str(target.parent),
            ],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=rasa_env(),
            check=False,
        )
    if result.returncode != 0 or not target.exists():
        raise StackError(f"rasa train failed (exit {result.returncode}); see {log}")
    for old in target.parent.glob("tier0-*.tar.gz"):
        if old != target:
            old.unlink()
    return target, True


def rasa_env() -> dict[str, str]:
    """Environment for Rasa processes: no telemetry, quiet TensorFlow, our plugins importable."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": path,
    }


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port.

    SO_REUSEADDR, as every server sets it: connections of a server that just stopped (TIME_WAIT)
    do not count, a listener does.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def own_stack_settings(folder: Path, **fields: Any) -> Settings:
    """Settings for a stack of its own (tests, benchmarks): free ports, data in folder/var, and
    no settings file, so nothing of a developer's bot.toml leaks in."""
    values: dict[str, Any] = {
        "settings_file": folder / "none.toml",
        "data_dir": folder / "var",
        "web_port": free_port(),
        "rasa_port": free_port(),
        "action_port": free_port(),
        **fields,
    }
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """BOT_* variables that give a child process the same settings as this one."""
    env: dict[str, str] = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            text = json.dumps(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[f"BOT_{name.upper()}"] = text
    return env


@dataclass
class Server:
    """A started server process and where it answers."""

    name: str
    process: subprocess.Popen
    url: str
    log: Path
    ready_path: str  # answers 200 once the server can take requests
    ready_params: dict[str, str] = field(default_factory=dict)
    ready_check: Callable[[Server], None] | None = None  # raises StackError when not sound
    log_start: int = 0  # where this run's output begins in the (appended) log
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def port(self) -> int:
        """The port it listens on (from its URL)."""
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def output(self) -> str:
        """What the process has written to its log in this run."""
        if not self.log.exists():
            return ""
        with open(self.log, "rb") as log:
            log.seek(self.log_start)
            return log.read().decode(errors="replace")

    def restart(self) -> None:
        """Start the same command again (after it died), its output appended to the same log."""
        self.stop()
        fresh = _spawn(self.name, self.command, self.url, self.env, self.log, self.ready_path)
        self.process, self.log_start = fresh.process, fresh.log_start
        self.started_at = fresh.started_at
        self.restarts += 1

    def stop(self, timeout: float = 20) -> None:
        """Ask the process to stop, then kill it if it does not; then kill what is left of its
        process group (a worker whose manager was killed must not keep the port)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _spawn(
    name: str, command: list[str], url: str, env: dict[str, str], log: Path, ready_path: str
) -> Server:
    """Start one server process with its output appended to a log file (earlier runs kept).

    umask 077: the databases, logs and files a server creates are its owner's alone.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as out:  # the child keeps its own copy of the descriptor
        start = out.seek(0, os.SEEK_END)
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            umask=0o077,
            start_new_session=True,  # its own process group: stop() reaches its workers too
        )
    return Server(name, process, url, log, ready_path, log_start=start, command=command, env=env)


def _private_folder(settings: Settings, name: str) -> Path:
    """A folder only this user can read, under data_dir/run, for files that hold tokens."""
    private_data_dir(settings)
    folder = (settings.data_dir / "run" / name).resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder


def private_data_dir(settings: Settings) -> Path:
    """data_dir, made if needed, readable by its owner only (databases, tokens, logs)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)
    return settings.data_dir


def _write_private(path: Path, data: dict) -> Path:
    """Write YAML readable by this user only (it carries tokens)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


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


def start_action_server(
    settings: Settings, log_dir: Path, env: dict[str, str] | None = None
) -> Server:
    """The action server (bot.action_server: rasa-sdk running actions/) in this interpreter."""
    private_data_dir(settings)
    internal_token(settings, "action")  # made before any child reads it
    if settings.query_encoder == "onnx":
        prepare_query_encoder(settings)
    command = [sys.executable, "-m", "bot.action_server"]
    url = f"http://{connectable(settings.action_host)}:{settings.action_port}"
    threads = str(settings.action_torch_threads)
    workers = {
        "ACTION_SERVER_SANIC_WORKERS": str(settings.action_workers),
        "OMP_NUM_THREADS": threads,  # torch's thread pools, set before it is imported
        "MKL_NUM_THREADS": threads,
    }
    return _spawn(
        "action server",
        command,
        url,
        {**os.environ, **settings_env(settings), **workers, **(env or {})},
        log_dir / "actions.log",
        "/health",
    )


def tracker_store_endpoint(settings: Settings) -> dict:
    """Rasa's `tracker_store` entry for the conversations database the settings name."""
    url = make_url(settings.conversations_url)
    store = {"type": TRACKER_STORE_CLASS}
    backend = url.get_backend_name()
    if backend == "sqlite":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
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


def lock_store_endpoint(settings: Settings) -> dict:
    """Rasa's `lock_store` entry: Redis at redis_url (host, port, db, password)."""
    from urllib.parse import urlsplit

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
    if "rasa" in roles and make_url(settings.conversations_url).get_backend_name() != "postgresql":
        raise StackError(
            "rasa_replicas > 1 needs the conversations on PostgreSQL, which every replica "
            "reaches: set tracker_store_url (e.g. postgresql+psycopg://postgres@127.0.0.1/tier0)"
        )
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


def start_rasa(
    settings: Settings,
    model: Path,
    log_dir: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Server:
    """A Rasa server: on rasa_host only, its API and REST channel behind rasa_token, calling
    the action server with action_token, conversations in the SQL tracker store; when scaled
    out, conversation locks in Redis. port: a replica's (default: rasa_port)."""
    port = port or settings.rasa_port
    folder = _private_folder(settings, f"rasa-{port}")
    rasa_token = internal_token(settings, "rasa")
    endpoints = {
        "action_endpoint": {
            "url": settings.action_webhook_url,
            "headers": {"Authorization": f"Bearer {internal_token(settings, 'action')}"},
        },
        "tracker_store": tracker_store_endpoint(settings),
    }
    if scaled_out(settings):
        endpoints["lock_store"] = lock_store_endpoint(settings)
    credentials: dict[str, dict] = {f"{CHANNELS}.TokenRestInput": {"token": rasa_token}}
    if settings.rasa_socketio:
        credentials[f"{CHANNELS}.CheckedSocketIOInput"] = {
            "user_message_evt": "user_uttered",
            "bot_message_evt": "bot_uttered",
            "session_persistence": True,
        }
    # The API token goes through the environment (rasa_plugins/serve.py), never the process list.
    command = [
        str(RASA_PYTHON), "-m", "rasa_plugins.serve", "run", "--enable-api",
        "--interface", settings.rasa_host, "--port", str(port),
        "--model", str(model),
        "--endpoints", str(_write_private(folder / "endpoints.yml", endpoints)),
        "--credentials", str(_write_private(folder / "credentials.yml", credentials)),
    ]  # fmt: skip
    many = scaled_out(settings)
    server = _spawn(
        f"Rasa server {port}" if many else "Rasa server",
        command,
        f"http://{connectable(settings.rasa_host)}:{port}",
        {
            **rasa_env(),
            **settings_env(settings),
            **(env or {}),
            "TIER0_RASA_AUTH_TOKEN": rasa_token,
            "TICKET_LOCK_LIFETIME": str(settings.lock_lifetime_seconds),
            "TIER0_RASA_SPEEDUPS": "1" if settings.rasa_speedups else "0",
            "TIER0_RASA_SPEEDUPS_OFF": ",".join(settings.rasa_speedups_off),
            # Rasa's own variables for TensorFlow's thread pools (rasa/constants.py)
            "TF_INTRA_OP_PARALLELISM_THREADS": str(settings.rasa_threads),
            "TF_INTER_OP_PARALLELISM_THREADS": str(settings.rasa_threads),
            "OMP_NUM_THREADS": str(settings.rasa_threads),
        },
        log_dir / (f"rasa-{port}.log" if many else "rasa.log"),
        "/status",
    )
    server.ready_params = {"token": rasa_token}
    server.ready_check = check_rasa_stores if many else check_tracker_store
    return server


def check_rasa_stores(server: Server) -> None:
    """The tracker store check, and the Redis lock store's (a replica without it could answer
    one conversation twice at once)."""
    check_tracker_store(server)
    if LOCK_STORE_READY not in server.output():
        raise StackError(
            f"{server.name} started without its Redis lock store (no '{LOCK_STORE_READY}' in "
            f"{server.log})"
        )


def haproxy_config(settings: Settings, backends: list[str]) -> str:
    """HAProxy in front of the Rasa servers: hash on the conversation id (consistent, so a dead
    server's conversations move and the others' stay), health-checked every second."""
    servers = "\n".join(
        f"    server rasa{i} {address} check" for i, address in enumerate(backends, start=1)
    )
    return f"""# Written by `bot up` (bot/stack.py haproxy_config); edits are overwritten.
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
    # conversations split evenly (with weight 1, two servers took 43 % and 57 % of them)
    default-server inter 1s fall 3 rise 2 weight 100
{servers}
"""


def start_haproxy(settings: Settings, backends: list[str], log_dir: Path) -> Server:
    """HAProxy (Debian's) on rasa_port, balancing over backends (host:port)."""
    folder = _private_folder(settings, "haproxy")
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(settings, backends))
    check = subprocess.run(
        [settings.haproxy_bin, "-c", "-q", "-f", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        raise StackError(f"HAProxy rejects {config}: {(check.stderr or check.stdout).strip()}")
    return _spawn(
        "HAProxy",
        [settings.haproxy_bin, "-db", "-f", str(config)],
        f"http://{connectable(settings.rasa_host)}:{settings.rasa_port}",
        dict(os.environ),
        log_dir / "haproxy.log",
        HAPROXY_HEALTH,
    )


def check_tracker_store(server: Server) -> None:
    """Fail when Rasa is not keeping conversations in our SQL store (it falls back to memory
    silently when a store cannot be loaded)."""
    text = server.output()
    fallback = next((line for line in text.splitlines() if "InMemoryTrackerStore" in line), None)
    if fallback is not None:
        raise StackError(
            "Rasa fell back to an in-memory tracker store, so conversations would be lost on "
            f"restart: {fallback.strip()} (see {server.log})"
        )
    if TRACKER_STORE_READY not in text:
        raise StackError(
            f"Rasa started without opening its conversation store (no '{TRACKER_STORE_READY}' "
            f"in {server.log})"
        )


def start_web(
    settings: Settings, log_dir: Path, env: dict[str, str] | None = None, demo: bool = True
) -> Server:
    """The web app (store page, chat gateway, help centre, inbox, APIs); with demo, a demo agent
    when none is configured."""
    private_data_dir(settings)
    internal_token(settings, "rasa")
    command = [sys.executable, "-m", "bot.cli", "serve", *(["--demo"] if demo else [])]
    return _spawn(
        "web app",
        command,
        f"http://{connectable(settings.web_host)}:{settings.web_port}",
        {**os.environ, **settings_env(settings), **(env or {})},
        log_dir / "web.log",
        "/openapi.json",
    )


ROLES = ("actions", "rasa", "haproxy", "web")


def start_stack(
    settings: Settings,
    model: Path,
    log_dir: Path,
    env: dict[str, str] | None = None,
    demo: bool = True,
    roles: tuple[str, ...] = ROLES,
) -> list[Server]:
    """The bot's servers, started (not yet ready): the action server, the Rasa servers, HAProxy
    when scaled out, and the web app; roles picks some of them (one machine of several). A
    failure stops what was started."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise StackError(f"unknown role {', '.join(unknown)}: choose among {', '.join(ROLES)}")
    check_scale_out(settings, roles)
    if "rasa" in roles:
        create_database(settings.conversations_url)  # before replicas race to create it
    servers: list[Server] = []
    try:
        if "actions" in roles:
            servers.append(start_action_server(settings, log_dir, env))
        ports = replica_ports(settings)
        if "rasa" in roles:
            for port in ports:
                servers.append(start_rasa(settings, model, log_dir, env, port=port))
        if scaled_out(settings) and "haproxy" in roles:
            local = [f"{connectable(settings.rasa_host)}:{port}" for port in ports]
            backends = (local if "rasa" in roles else []) + settings.rasa_backends
            servers.append(start_haproxy(settings, backends, log_dir))
        if "web" in roles:
            servers.append(start_web(settings, log_dir, env, demo=demo))
        if not servers:
            raise StackError(
                f"nothing to start for --only {','.join(roles)}: haproxy runs only when "
                "rasa_replicas > 1 or rasa_backends are set"
            )
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


RESTARTS_PER_SERVER = 5  # in a row without staying up a minute; then `bot up` gives up


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


def wait_all(servers: list[Server], timeout: float = 180) -> None:
    """Wait for every server at once; the first that dies or times out raises StackError."""
    with ThreadPoolExecutor(len(servers)) as pool:
        for future in [pool.submit(wait_ready, s, timeout=timeout) for s in servers]:
            future.result()


def wait_ready(server: Server, path: str | None = None, timeout: float = 180) -> None:
    """Poll until the server answers 200 on path (default: its ready_path); fail with its log's
    tail if it dies."""
    path = path or server.ready_path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.output()[-2000:]
            raise StackError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            response = httpx.get(server.url + path, params=server.ready_params, timeout=2)
            if response.status_code == 200:
                if server.ready_check is not None:
                    server.ready_check(server)
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"{server.name} did not answer {server.url}{path} within {timeout:.0f} s")


# What an evaluation's own stack takes from the bot's settings: how it decides, not where it
# keeps conversations, tickets and outbox (those go to a throwaway folder).
DECISION_SETTINGS = (
    "kb_dir",
    "index_dir",
    "help_base_url",
    "embedding_model",
    "answer_threshold",
    "clarify_threshold",
    "similarity_threshold",
    "nlu_weight",
    "nlu_dir",
)


@contextlib.contextmanager
def evaluation_stack(settings: Settings, model: Path | None = None) -> Iterator[tuple[str, str]]:
    """Rasa and an action server of their own, for test traffic: the same Rasa model, index and
    thresholds as settings, on free ports, with a throwaway data folder and the demo store, so an
    evaluation's conversations never reach the real queue, tracker store or outbox.

    Yields the Rasa server's URL and its token.
    """
    model = model or model_path()
    if not model.exists():
        raise StackError(f"no trained Rasa model at {model}: run `bot train` first")
    folder = Path(tempfile.mkdtemp(prefix="bot-eval-stack-"))
    fields = {}
    for name in DECISION_SETTINGS:
        value = getattr(settings, name)
        fields[name] = value.resolve() if isinstance(value, Path) else value
    servers: list[Server] = []
    try:
        # BOT_* variables (a production action URL, database, webhooks...) must not reach the
        # evaluation's settings or its servers: they see only what is passed here.
        with _without_bot_environment():
            own = own_stack_settings(folder, store_backend="demo", **fields)
            servers.append(start_action_server(own, folder))
            servers.append(start_rasa(own, model, folder))
        wait_all(servers)
        yield servers[1].url, internal_token(own, "rasa")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _without_bot_environment() -> Iterator[None]:
    """Hide the BOT_* environment variables for a moment (children copy it when spawned)."""
    hidden = {k: v for k, v in os.environ.items() if k.startswith("BOT_")}
    for name in hidden:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(hidden)
