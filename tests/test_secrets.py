"""No secret in a log, a data file, a process list or an error page: the real stack through a
chat, a sign-in (and a failed one), a handoff, an agent's resolve and the bot's return, then every
file the stack wrote and every process's command line searched for every secret's value."""

from __future__ import annotations

import base64
import json
import re
import secrets
from pathlib import Path

import httpx
import psutil
import pytest

from bot.settings import Settings
from tests.conftest import WebStack
from tests.traffic import Customer

pytestmark = pytest.mark.rasa

# Settings whose value is a secret, by name (a setting added later, an SMTP password say, is
# found by its name); hashes of tokens (agent_tokens, service_token) are not secrets.
SECRET_NAME = re.compile(r"(token|secret|password|passwd|api_key)$")
# Files that hold secrets by design (private to the stack's user): the generated tokens and
# keys, and Rasa's own configuration, which carries the action server's token.
HOLDERS = re.compile(r"(\.token|\.key|/run/rasa-\d+/(credentials|endpoints)\.yml)$")


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def secret_values(settings: Settings, data_dir: Path) -> dict[str, str]:
    """Every secret the stack holds: secret settings that are set, and the generated ones."""
    found = {
        name: str(value)
        for name in type(settings).model_fields
        if SECRET_NAME.search(name)
        and isinstance(value := getattr(settings, name), str)
        and value
        and not value.startswith("sha256:")
    }
    for file in data_dir.glob("*"):
        if file.is_file() and HOLDERS.search(str(file)):
            found[file.name] = file.read_text().strip()
    return found


def _files_written(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and not HOLDERS.search(str(p))]


def test_no_secret_reaches_a_log_a_data_file_a_process_list_or_an_error(
    web_stack: WebStack,
) -> None:
    web = httpx.Client(base_url=web_stack.url, timeout=60)
    # an agent signs in to the inbox, after someone tried a wrong token
    form = web.get("/inbox/login").text
    guess = "guess-" + secrets.token_urlsafe(16)
    failed = web.post("/inbox/login", data={"token": guess, "csrf": _csrf(form)})
    assert failed.status_code in (200, 401) and guess not in failed.text
    form = web.get("/inbox/login").text
    signed_in = web.post("/inbox/login", data={"token": web_stack.agent_token, "csrf": _csrf(form)})
    assert signed_in.status_code in (200, 303)
    cookie = web.cookies.get("tier0_inbox")
    assert cookie and web.get("/inbox.json").status_code == 200

    # a customer chats, asks for a person; the agent claims, replies and resolves
    customer = Customer(web_stack, f"test-secrets-{secrets.token_hex(6)}")
    try:
        assert customer.send("hello", None)
        customer.send("Talk to a person", "/request_human")
        customer.agent("claim", None)
        customer.agent("reply", "Happy to help.")
        back = customer.agent("resolve", "done")  # Rasa's API is called to bring the bot back
        assert back, "the bot did not come back after the resolve"
        # error pages say nothing secret either
        errors = ""
        for response in (
            web.get("/api/chat/not-a-server-made-id-1234"),
            web.post(f"/api/chat/{customer.id}/messages", content=b"{not json"),
            web.get("/api/tickets", headers={"Authorization": f"Bearer {guess}"}),
        ):
            assert 400 <= response.status_code < 500
            errors += response.text
    finally:
        customer.close()
    web.post("/inbox/logout", data={"csrf": _csrf(web.get("/inbox").text)})

    values = secret_values(web_stack.settings, web_stack.data_dir)
    assert {"rasa.token", "action.token", "session.key", "demo-agent.token"} <= set(values)
    session = json.loads(base64.b64decode(cookie.split(".")[0] + "=="))  # Starlette's, signed
    values.update(
        {
            "failed sign-in's token": guess,
            "inbox cookie": cookie,
            "inbox session id": session["sid"],
            "inbox CSRF token": session["csrf"],
        }
    )
    folder = web_stack.data_dir.parent  # the stack's logs beside var/ and its data inside
    written = _files_written(folder)
    assert any(p.name == "web.log" for p in written) and any(p.suffix == ".db" for p in written)
    for path in written:
        raw = path.read_bytes()
        for name, value in values.items():
            assert value.encode() not in raw, f"{name} is in {path}"
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        for name, value in values.items():
            assert value not in line, f"{name} is on the command line of process {process.pid}"
    for name, value in values.items():
        assert value not in errors, name
