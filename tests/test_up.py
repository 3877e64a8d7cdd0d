"""`bot up` (what `make run` starts): every service comes up, and Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.stack import ROOT, free_port, port_in_use

pytestmark = pytest.mark.rasa


def _env(tmp_path: Path, index: Path, ports: dict[str, int]) -> dict[str, str]:
    return {
        **os.environ,
        "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
        "BOT_DATA_DIR": str(tmp_path / "var"),
        "BOT_INDEX_DIR": str(index),
        **{f"BOT_{name.upper()}": str(port) for name, port in ports.items()},
    }


def test_a_taken_port_is_named(tmp_path: Path, demo_index: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"web_port": free_port(), "rasa_port": port, "action_port": free_port()}
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "up"],
            cwd=ROOT,
            env=_env(tmp_path, demo_index, ports),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {port} (rasa_port) is already in use" in result.stderr


def test_up_starts_everything_and_ctrl_c_stops_it(tmp_path: Path, demo_index: Path) -> None:
    ports = {"web_port": free_port(), "rasa_port": free_port(), "action_port": free_port()}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "up"],
        cwd=ROOT,
        env=_env(tmp_path, demo_index, ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed = ""
        deadline = time.monotonic() + 300
        while "Press Ctrl-C" not in printed and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                raise AssertionError(process.stderr.read())
            printed += line
        assert f"http://127.0.0.1:{ports['web_port']}/inbox" in printed
        web = f"http://127.0.0.1:{ports['web_port']}"
        assert httpx.get(f"{web}/help/", timeout=10).status_code == 200
        reply = httpx.post(
            f"http://127.0.0.1:{ports['rasa_port']}/webhooks/rest/webhook",
            json={"sender": "up-1", "message": "hello"},
            timeout=60,
        ).json()
        assert reply[-1]["custom"]["outcome"] == "smalltalk"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    for port in ports.values():
        assert not port_in_use(port)
