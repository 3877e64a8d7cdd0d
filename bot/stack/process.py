"""Running one planned server: start it in its own process group, wait until it answers, restart
it, and stop it with every process it left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.rasa_auth import RasaAuth
from bot.stack.env import child_env
from bot.stack.plan import PrivateFile, ServerSpec, StackError


@dataclass
class Server:
    """A started server process, the plan it runs, and where it answers."""

    spec: ServerSpec
    process: subprocess.Popen
    log_start: int = 0  # where this run's output begins in the (appended) log
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        """The server's name in messages ("Rasa server", "web app", ...)."""
        return self.spec.name

    @property
    def url(self) -> str:
        """Where it answers."""
        return self.spec.url

    @property
    def log(self) -> Path:
        """The log file its output is appended to."""
        return self.spec.log

    @property
    def port(self) -> int:
        """The port it listens on (from its URL)."""
        return self.spec.port

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
        fresh = spawn(self.spec)
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


def write_private(file: PrivateFile) -> Path:
    """Write a planned file readable by this user only, in a folder only this user can read."""
    folder = file.path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    file.path.touch(mode=0o600)
    file.path.chmod(0o600)
    file.path.write_text(file.text)
    return file.path


def start(spec: ServerSpec) -> Server:
    """Write the server's files, have its configuration checked when the plan says how, and
    start it."""
    for file in spec.files:
        write_private(file)
    if spec.config_check:
        check = subprocess.run(spec.config_check, capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise StackError(
                f"{spec.name} rejects {spec.config_check[-1]}: "
                f"{(check.stderr or check.stdout).strip()}"
            )
    return spawn(spec)


def spawn(spec: ServerSpec) -> Server:
    """Start the server's process with its output appended to its log (earlier runs kept), in
    the environment bot.stack.env.child_env gives it.

    umask 077: the databases, logs and files a server creates are its owner's alone.
    """
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(spec.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as out:  # the child keeps its own copy of the descriptor
        log_start = out.seek(0, os.SEEK_END)
        process = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=child_env(spec.env),
            stdout=out,
            stderr=subprocess.STDOUT,
            umask=0o077,
            start_new_session=True,  # its own process group: stop() reaches its workers too
        )
    return Server(spec, process, log_start=log_start)


def _spawn(
    name: str, command: list[str], url: str, env: dict[str, str], log: Path, ready_path: str
) -> Server:
    """spawn() for a spec given field by field (tests that start a stand-in process)."""
    return spawn(ServerSpec(name, tuple(command), env, url, log, ready_path))


def wait_ready(server: Server, path: str | None = None, timeout: float = 180) -> None:
    """Poll until the server answers 200 on path (default: its ready_path), then run its ready
    check; fail with its log's tail if it dies."""
    path = path or server.spec.ready_path
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.output()[-2000:]
            raise StackError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            params = dict(server.spec.ready_params)
            auth = RasaAuth(server.spec.ready_token) if server.spec.ready_token else None
            response = httpx.get(server.url + path, params=params, auth=auth, timeout=2)
            if response.status_code == 200:
                if server.spec.ready_check is not None:
                    server.spec.ready_check(server.spec, server.output())
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"{server.name} did not answer {server.url}{path} within {timeout:.0f} s")


def wait_all(servers: list[Server], timeout: float = 180) -> None:
    """Wait for every server at once; the first that dies or times out raises StackError."""
    with ThreadPoolExecutor(len(servers)) as pool:
        for future in [pool.submit(wait_ready, s, timeout=timeout) for s in servers]:
            future.result()
