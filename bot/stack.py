"""Train the Rasa model when its data changed, and start the Rasa and action servers."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RASA_INPUTS = ("config.yml", "domain.yml", "data")
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"


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
    """Environment for Rasa processes: no telemetry, quiet TensorFlow."""
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on host:port."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class Server:
    """A started server process and where it answers."""

    name: str
    process: subprocess.Popen
    url: str
    log: Path
    ready_path: str  # answers 200 once the server can take requests

    def stop(self, timeout: float = 20) -> None:
        """Ask the process to stop, then kill it if it does not."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _spawn(
    name: str, command: list[str], port: int, env: dict[str, str], log: Path, ready_path: str
) -> Server:
    """Start one server process with its output in a log file."""
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(name, process, f"http://127.0.0.1:{port}", log, ready_path)


def start_action_server(
    port: int, env: dict[str, str] | None = None, log_dir: Path | None = None
) -> Server:
    """The rasa-sdk action server running actions/ in this (the .venv) interpreter."""
    folder = log_dir or Path(tempfile.mkdtemp())
    command = [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)]
    return _spawn(
        "action server",
        command,
        port,
        {**os.environ, **(env or {})},
        folder / "actions.log",
        "/health",
    )


def start_rasa(
    port: int,
    action_port: int,
    model: Path,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> Server:
    """The Rasa server with its HTTP API on, calling the action server on action_port."""
    folder = log_dir or Path(tempfile.mkdtemp())
    endpoints = folder / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{action_port}/webhook"\n')
    command = [
        str(RASA_BIN), "run", "--enable-api", "--model", str(model), "--port", str(port),
        "--endpoints", str(endpoints), "--credentials", str(ROOT / "credentials.yml"),
        "--cors", "*",
    ]  # fmt: skip
    return _spawn(
        "Rasa server", command, port, {**rasa_env(), **(env or {})}, folder / "rasa.log", "/status"
    )


def start_web(port: int, env: dict[str, str] | None = None, log_dir: Path | None = None) -> Server:
    """The web app (help centre, inbox, APIs) with a demo agent when none is configured."""
    folder = log_dir or Path(tempfile.mkdtemp())
    command = [sys.executable, "-m", "bot.cli", "serve", "--demo", "--port", str(port)]
    return _spawn(
        "web app", command, port, {**os.environ, **(env or {})}, folder / "web.log", "/openapi.json"
    )


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
            tail = server.log.read_text()[-2000:] if server.log.exists() else ""
            raise StackError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            if httpx.get(server.url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"{server.name} did not answer {server.url}{path} within {timeout:.0f} s")
