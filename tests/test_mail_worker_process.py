"""The mail worker as `bot up` runs it (`bot mail worker`, a process of its own): killed with
SIGKILL during a mail-server outage and started again, it loses no email and sends none twice;
the mail server's password is in neither its command line nor its log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from bot.handoff.db import create_db_engine, migrate
from bot.mail.message import compose
from bot.mail.outbox import Outbox
from bot.stack import child_env, free_port
from tests.smtp_server import SmtpTestServer

# a plain-text test server that asks for AUTH (the worker side refuses that only for smtp://)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-Zq81-secret"


def _until(check, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _worker(tmp_path: Path, queue_url: str, smtp_url: str, port: int, log: Path):
    env = child_env(
        {
            "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
            "BOT_DATA_DIR": str(tmp_path / "var"),
            "BOT_DATABASE_URL": queue_url,
            "BOT_SMTP_URL": smtp_url,
            "BOT_MAIL_PORT": str(port),
            "BOT_MAIL_POLL_SECONDS": "0.1",
            "BOT_MAIL_BACKOFF_SECONDS": "0.2",
            "BOT_MAIL_BACKOFF_MAX_SECONDS": "0.5",
            "BOT_MAIL_LEASE_SECONDS": "2",
            "BOT_MAIL_TIMEOUT_SECONDS": "5",
            "BOT_MAIL_MAX_ATTEMPTS": "50",
        }
    )
    out = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "mail", "worker"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    _until(ready, 60, "the mail worker's health check")
    return process


def _queue(outbox: Outbox, start: int, count: int) -> list[str]:
    ids = []
    for n in range(start, start + count):
        message = compose("support@shop.example", f"c{n}@example.com", f"Hello {n}", f"Body {n}")
        outbox.enqueue(message, "other")
        ids.append(str(message["Message-ID"]))
    return ids


def test_killed_during_an_outage_and_restarted_the_worker_loses_and_repeats_nothing(
    tmp_path: Path, queue_url: str
) -> None:
    engine: Engine = create_db_engine(queue_url)
    migrate(engine)
    outbox = Outbox(engine)
    server = SmtpTestServer(tmp_path, auth=("mailer", PASSWORD))  # down for now
    smtp_url = server.url("smtp+insecure", "mailer", PASSWORD)
    log = tmp_path / "mail.log"
    port = free_port()
    expected = _queue(outbox, 0, 10)
    first = _worker(tmp_path, queue_url, smtp_url, port, log)
    try:
        cmdline = Path(f"/proc/{first.pid}/cmdline").read_bytes()
        assert PASSWORD.encode() not in cmdline
        _until(
            lambda: all(e.attempts >= 1 for e in outbox.list(limit=100)),
            60,
            "every email tried once against the down server",
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # no goodbye: whatever it held stays held
        first.wait(30)
    assert outbox.counts()["sent"] == 0
    server.start()
    try:
        expected += _queue(outbox, 10, 5)  # more arrive while it is down
        second = _worker(tmp_path, queue_url, smtp_url, port, log)
        try:
            _until(lambda: outbox.counts()["sent"] == 15, 90, "all 15 emails sent")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        got = [r.message["Message-ID"] for r in server.received]
        assert sorted(got) == sorted(expected)  # every email, each exactly once
        assert all(r.login == "mailer" for r in server.received)
        assert PASSWORD not in log.read_text()
        assert outbox.counts() == {"queued": 0, "sending": 0, "sent": 15, "failed": 0}
    finally:
        server.stop()
        engine.dispose()
