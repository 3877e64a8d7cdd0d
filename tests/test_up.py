"""`bot up` (what `make run` starts): every service comes up, and Ctrl-C stops them all."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.stack import ROOT, child_env, free_port, port_in_use

pytestmark = pytest.mark.rasa


def _env(tmp_path: Path, index: Path, ports: dict[str, int]) -> dict[str, str]:
    return child_env(
        {
            "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
            "BOT_DATA_DIR": str(tmp_path / "var"),
            "BOT_INDEX_DIR": str(index),
            **{f"BOT_{name.upper()}": str(port) for name, port in ports.items()},
        }
    )


def test_a_taken_port_is_named(tmp_path: Path, demo_index: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {
            "web_port": free_port(),
            "rasa_port": port,
            "action_port": free_port(),
            "mail_port": free_port(),
        }
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


def test_up_starts_everything_and_ctrl_c_stops_it(
    tmp_path: Path,
    demo_index: Path,
    rasa_model: Path,  # trained before `bot up` looks for it (it would train it otherwise)
) -> None:
    ports = {
        "web_port": free_port(),
        "rasa_port": free_port(),
        "action_port": free_port(),
        "mail_port": free_port(),
    }
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
        # the name the demo's links use (catalogue, help_base_url): the page's own origin
        assert f"http://localhost:{ports['web_port']}/inbox" in printed
        web = f"http://127.0.0.1:{ports['web_port']}"
        assert httpx.get(f"{web}/help/", timeout=10).status_code == 200
        # the mail worker runs too, with no mail server set: emails wait in the outbox
        mail = httpx.get(f"http://127.0.0.1:{ports['mail_port']}/health", timeout=10).json()
        assert mail["server"] is None and mail["outbox"]["failed"] == 0
        # The customer's path: the web app's gateway, which holds Rasa's token.
        made = httpx.post(f"{web}/api/chat/conversations", timeout=10)  # as the widget asks
        conversation = made.json()["conversation_id"]
        reply = httpx.post(
            f"{web}/api/chat/{conversation}/messages", json={"text": "hello"}, timeout=60
        ).json()
        assert [i["meta"]["outcome"] for i in reply["items"] if i.get("meta")][-1] == "smalltalk"
        direct = httpx.post(
            f"http://127.0.0.1:{ports['rasa_port']}/webhooks/rest/webhook",
            json={"sender": "up-test-2", "message": "hello"},
            timeout=60,
        )
        assert direct.status_code == 401  # Rasa answers only the holder of its token
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert process.returncode == 0
    for port in ports.values():
        assert not port_in_use(port)


def test_a_port_left_in_time_wait_is_free_and_a_listener_is_not() -> None:
    # What Ctrl-C then `make run` leaves: the server's side of a closed connection in TIME_WAIT.
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        assert port_in_use(port)  # a listener
        accepted.close()  # the server closes first, so its side waits in TIME_WAIT
        client.settimeout(30)
        assert client.recv(1) == b""  # the client has the server's close
        client.close()

    def states() -> str:
        return subprocess.run(
            ["ss", "-tan", f"sport = :{port}"], capture_output=True, text=True
        ).stdout

    deadline = time.monotonic() + 30  # the client's close reaches the server's side
    while "TIME-WAIT" not in states() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "TIME-WAIT" in states()
    assert not port_in_use(port)
