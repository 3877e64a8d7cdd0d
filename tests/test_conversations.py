"""Multi-turn conversations in customers' words, run against the real stack (tests/conversations).

Each file in tests/conversations/ holds conversations; each step is something the customer says
(`say`) or clicks (`click`, a button of the bot's last message or of the widget), something an
agent does in the inbox API (`agent: claim | reply | resolve | return`), or a check of the
conversation's ticket (`ticket`). A customer step's `bot` lists what the bot must do in that turn:

- `outcome`, `article`, `section`, `flow`, `result`, `reason`, `state`: a bot message of this
  turn whose metadata has these values (`section` is a part of the citation's anchor);
- `says` / `not_says`: text that must (or must not) appear in this turn's bot messages,
  case-insensitive; `silent: true`: the bot says nothing this turn;
- `offers`: titles of buttons this turn's messages must carry (a choice the bot offers).

The turn goes through the web app's chat gateway (/api/chat), as the widget sends it. Text may
use the demo store's data: {order} and {order_email} (an order and its email), {order2} and
{order2_email}, {order_nodash} ({order} typed without its dash), {customer} (a customer's
email, a different one per conversation, so reset limits do not meet), {typo_email}
({order_email} with a letter wrong).

A file may name the stack its conversations run on (`stack: after_hours`: a team away for two
days, tests/conftest.py's after_hours_stack); without it they run on the shared web_stack.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.conversations import WIDGET_PAYLOADS
from tests.conftest import WebStack
from tests.traffic import Conversation, signed_id

pytestmark = pytest.mark.rasa

FOLDER = Path(__file__).parent / "conversations"
STACKS = {None: "web_stack", "after_hours": "after_hours_stack"}


def _conversations(path: Path) -> list[dict]:
    """A file's conversations, each with the fixture name of the stack it runs on."""
    script = yaml.safe_load(path.read_text(encoding="utf-8"))
    if script.get("stack") not in STACKS:
        raise ValueError(f"{path.name}: stack {script['stack']!r} is not one of {list(STACKS)}")
    return [{**c, "stack": STACKS[script.get("stack")]} for c in script["conversations"]]


CONVERSATIONS = [
    pytest.param(c, id=c["name"])
    for path in sorted(FOLDER.glob("*.yml"))
    for c in _conversations(path)
]
META_KEYS = ("outcome", "flow", "result", "reason", "state")


def test_there_are_enough_conversations() -> None:
    names = [p.values[0]["name"] for p in CONVERSATIONS]
    assert len(names) >= 40 and len(set(names)) == len(names)


class Chat(Conversation):
    """One scripted customer in the widget, and the agent who may pick their conversation up."""

    def __init__(self, stack: WebStack, name: str) -> None:
        super().__init__(stack, f"conv-{uuid.uuid4().hex[:16]}")
        self.stack = stack
        self.name = name
        self.cursor = 0.0
        self.buttons: list[dict] = []

    def _new_bot_items(self, body: dict, seen: set[str]) -> list[dict]:
        items = [i for i in body["items"] if i["id"] not in seen]
        seen.update(i["id"] for i in body["items"])
        self.cursor = body["cursor"]
        return [i for i in items if i["from"] == "bot"]

    def send(self, text: str | None = None, payload: str | None = None) -> list[dict]:
        """One customer turn; the bot's messages for it."""
        before = self.http.get(f"/api/chat/{self.id}").json()
        seen = {i["id"] for i in before["items"]}
        message = {"text": text or ""} if payload is None else {"text": text, "payload": payload}
        response = self.http.post(f"/api/chat/{self.id}/messages", json=message)
        assert response.status_code == 200, response.text
        replies = self._new_bot_items(response.json(), seen)
        for reply in replies:
            if reply["buttons"]:
                self.buttons = reply["buttons"]
        return replies

    def wait_for_bot(self, pattern: str, timeout: float = 30) -> list[dict]:
        """Bot messages that come without a customer turn (after an agent acts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = self.http.get(f"/api/chat/{self.id}").json()["items"]
            hits = [i for i in items if i["from"] == "bot" and re.search(pattern, i["text"], re.I)]
            if hits:
                return hits
            time.sleep(0.3)
        raise AssertionError(f"{self.name}: no bot message matching {pattern!r} in {timeout}s")

    def agent(self, step: dict) -> None:
        """The step's agent action (its text the reply or the note)."""
        text = step["text"] if step["agent"] == "reply" else step.get("text", "done")
        self.act(step["agent"], text)
        if step["agent"] in {"resolve", "return"}:
            self.wait_for_bot("resolved|handed you back")


def fill(text: str, values: dict[str, Any], name: str) -> str:
    """Put the demo store's data into a step's text."""
    slot = int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(values["customers"])
    fields = {k: v for k, v in values.items() if k != "customers"}
    return text.format(**fields, customer=values["customers"][slot])


def check_turn(name: str, said: str, replies: list[dict], expect: dict, values: dict) -> None:
    """The bot did what the step says, in this turn."""
    where = f"{name}: after {said!r}"
    texts = "\n".join(r["text"] for r in replies)
    if expect.get("silent"):
        assert replies == [], f"{where}: expected silence, got {texts!r}"
        return
    assert replies, f"{where}: the bot said nothing"
    metas = [r.get("meta") or {} for r in replies]
    wanted = {k: expect[k] for k in META_KEYS if k in expect}
    if "article" in expect:
        wanted["article_id"] = expect["article"]
    if wanted or "section" in expect:

        def fits(meta: dict) -> bool:
            if any(meta.get(k) != v for k, v in wanted.items()):
                return False
            anchor = ((meta.get("citation") or {}).get("url") or "").partition("#")[2]
            return "section" not in expect or expect["section"] in anchor

        assert any(fits(m) for m in metas), f"{where}: wanted {expect}, got {metas} / {texts!r}"
    offered = [b["title"] for r in replies for b in r.get("buttons") or []]
    for title in expect.get("offers", []):
        title = fill(title, values, name)
        assert title in offered, f"{where}: no button {title!r} among {offered}"
    for phrase in expect.get("says", []):
        phrase = fill(phrase, values, name)
        assert phrase.lower() in texts.lower(), f"{where}: {phrase!r} not in {texts!r}"
    for phrase in expect.get("not_says", []):
        phrase = fill(phrase, values, name)
        assert phrase.lower() not in texts.lower(), f"{where}: {phrase!r} in {texts!r}"


def check_ticket(chat: Chat, expect: dict, values: dict) -> None:
    ticket = chat.ticket()
    for key, field in (
        ("reason", "reason"),
        ("email", "customer_email"),
        ("order", "order_number"),
        ("after_hours", "after_hours"),
    ):
        if key in expect:
            wanted = expect[key]
            if isinstance(wanted, str):
                wanted = fill(wanted, values, chat.name)
            assert ticket[field] == wanted, f"{chat.name}: ticket {field} {ticket[field]!r}"
    for phrase in expect.get("summary_says", []):
        assert phrase.lower() in ticket["summary"].lower(), f"{chat.name}: {ticket['summary']!r}"


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_conversation(conversation: dict, request: pytest.FixtureRequest, store_data: dict) -> None:
    run_conversation(conversation, request.getfixturevalue(conversation["stack"]), store_data)


def run_conversation(conversation: dict, stack: WebStack, data: dict) -> None:
    """Say each step of a script to the stack and check the bot's replies and the ticket."""
    chat = Chat(stack, conversation["name"])
    for step in conversation["steps"]:
        if "agent" in step:
            chat.agent(step)
        elif "ticket" in step:
            check_ticket(chat, step["ticket"], data)
        elif "click" in step:
            widget = [{"title": t, "payload": p} for p, t in WIDGET_PAYLOADS.items()]
            buttons = chat.buttons + widget  # the bot's last buttons, and the widget's own
            button = next((b for b in buttons if b["title"] == step["click"]), None)
            assert button, f"{chat.name}: no button {step['click']!r} in {chat.buttons}"
            replies = chat.send(button["title"], button["payload"])
            check_turn(chat.name, step["click"], replies, step.get("bot", {}), data)
        else:
            said = fill(step["say"], data, chat.name)
            replies = chat.send(said)
            check_turn(chat.name, said, replies, step.get("bot", {}), data)


def test_a_customer_typing_for_a_while_sends_on_the_same_connection(web_stack: WebStack) -> None:
    """The web app keeps a browser's idle connection longer than a customer types (uvicorn's
    default of 5 s closed it while they typed; a message sent as it closed got no answer)."""
    import http.client

    address = httpx.URL(web_stack.url)
    connection = http.client.HTTPConnection(address.host, address.port, timeout=30)
    conversation = signed_id(web_stack, f"keepalive-{uuid.uuid4().hex[:12]}")
    try:
        connection.request("GET", f"/api/chat/{conversation}")
        assert connection.getresponse().read() and connection.sock is not None
        local = connection.sock.getsockname()
        time.sleep(6.5)  # typing
        connection.request("GET", f"/api/chat/{conversation}?after=0")
        response = connection.getresponse()
        assert response.status == 200, response.read()
        response.read()
        assert connection.sock.getsockname() == local  # the same connection, still open
    finally:
        connection.close()
