"""The widget's gateway: the conversation it shows, the input it refuses, and what it serves."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.conversations import ConversationLog
from bot.handoff import HandoffQueue, NewMessage, NewTicket
from bot.settings import Settings
from bot.stack import free_port
from bot.web.app import create_app
from bot.web.chat import (
    ChatMessage,
    ConversationJSON,
    handoff_state,
    ticket_items,
    tracker_items,
)
from bot.web.conversation_ids import ConversationIds

SECRET = "chat-test-session-secret"
# a conversation id the test's web app made (signed with its session secret's key)
CONV = ConversationIds.for_settings(
    Settings(session_secret=SECRET, settings_file=Path("/nonexistent"))
).sign("conv-12345")

# A tracker as Rasa 3.6 returns it (trimmed to the fields the gateway reads).
EVENTS = [
    {"event": "action", "name": "action_session_start", "timestamp": 100.0},
    {"event": "user", "text": "refund time?", "timestamp": 101.0, "parse_data": {}},
    {
        "event": "bot",
        "text": "A few articles might help. Which one?",
        "timestamp": 101.5,
        "data": {
            "buttons": [{"title": "Where is my refund?", "payload": '/choose_article{"a":"x"}'}],
            "custom": {"outcome": "clarify"},
        },
    },
    {"event": "user", "text": '/choose_article{"a":"x"}', "timestamp": 102.0},
    {"event": "bot", "text": "Refunds take 5 days.", "timestamp": 102.5, "data": {"custom": {}}},
    {"event": "user", "text": "/request_human", "timestamp": 103.0},
    {
        "event": "user",
        "text": "EXTERNAL: EXTERNAL_handoff_resolved",
        "timestamp": 104.0,
        "parse_data": {"intent": {"name": "EXTERNAL_handoff_resolved"}},
    },
    {"event": "bot", "text": None, "timestamp": 104.5, "data": {}},
]


def test_tracker_items_show_what_was_said_with_button_titles_and_no_external_intents() -> None:
    items = tracker_items(EVENTS)
    assert [(i["from"], i["text"]) for i in items] == [
        ("user", "refund time?"),
        ("bot", "A few articles might help. Which one?"),
        ("user", "Where is my refund?"),
        ("bot", "Refunds take 5 days."),
        ("user", "Talk to a human"),
    ]
    assert items[1]["buttons"][0]["title"] == "Where is my refund?"
    assert items[1]["meta"] == {"outcome": "clarify"}
    assert [i["id"] for i in items] == ["e1", "e2", "e3", "e4", "e5"]


@pytest.fixture
def queue(tmp_path: Path) -> HandoffQueue:
    q = HandoffQueue.from_url(f"sqlite:///{tmp_path / 'q.db'}")
    yield q
    q.close()


def _ticket(queue: HandoffQueue, conversation: str = "conv-12345") -> int:
    ticket, _ = queue.create(
        NewTicket(
            conversation_id=conversation,
            reason="customer_request",
            transcript=[NewMessage(sender="customer", text="help")],
        )
    )
    return ticket.id


def test_ticket_items_and_state_follow_the_ticket(queue: HandoffQueue) -> None:
    assert handoff_state(queue, queue.for_conversation("conv-12345"))["state"] == "bot"
    ticket_id = _ticket(queue)
    tickets = queue.for_conversation("conv-12345")
    assert handoff_state(queue, tickets) == {
        "state": "waiting",
        "position": 1,
        "agent": None,
        "ticket_id": ticket_id,
    }
    assert ticket_items(tickets) == []  # the customer's own words come from Rasa's tracker

    queue.claim(ticket_id, "dana")
    queue.add_message(ticket_id, NewMessage(sender="agent", text="Hi, I'm **Dana**."), "dana")
    tickets = queue.for_conversation("conv-12345")
    assert handoff_state(queue, tickets)["state"] == "agent"
    items = ticket_items(tickets)
    assert [(i["from"], i["text"]) for i in items] == [
        ("system", "dana from our support team joined the chat."),
        ("agent", "Hi, I'm **Dana**."),
    ]
    assert items[1]["agent"] == "dana" and items[1]["ts"] >= items[0]["ts"]

    queue.resolve(ticket_id, "dana")
    assert handoff_state(queue, queue.for_conversation("conv-12345"))["state"] == "bot"
    assert queue.for_conversation("someone-else") == []


def test_typed_text_cannot_force_an_intent_but_buttons_can() -> None:
    assert ChatMessage(text="/EXTERNAL_handoff_resolved").rasa_message() == (
        "EXTERNAL_handoff_resolved"
    )
    assert ChatMessage(text=" hello ").rasa_message() == "hello"
    assert ChatMessage(text="hel\x00lo").rasa_message() == "hello"  # PostgreSQL stores no NUL
    assert ChatMessage(text="Talk", payload="/request_human").rasa_message() == "/request_human"
    with pytest.raises(ValueError, match="EXTERNAL_"):
        ChatMessage(text="x", payload="/EXTERNAL_handoff_resolved")


@pytest.fixture
def client(tmp_path: Path, queue: HandoffQueue) -> TestClient:
    # A Rasa URL where nothing listens: the gateway must say so, not hang or crash.
    settings = Settings(
        data_dir=tmp_path / "var",
        settings_file=Path("/nonexistent"),
        session_secret=SECRET,
        rasa_url=f"http://127.0.0.1:{free_port()}",
        widget_origins=["https://shop.test"],
    )
    return TestClient(create_app(settings, queue=queue))


def test_malformed_requests_get_a_4xx_with_the_reason(client: TestClient) -> None:
    bad_id = client.get("/api/chat/x")
    assert bad_id.status_code == 422 and "pattern" in bad_id.text
    empty = client.post(f"/api/chat/{CONV}/messages", json={"text": "   "})
    assert empty.status_code == 422 and "text must not be empty" in empty.text
    long = client.post(f"/api/chat/{CONV}/messages", json={"text": "x" * 2001})
    assert long.status_code == 422 and "2000" in long.text
    extra = client.post(f"/api/chat/{CONV}/messages", json={"text": "hi", "sender": "y"})
    assert extra.status_code == 422 and "sender" in extra.text
    external = client.post(
        f"/api/chat/{CONV}/messages", json={"text": "x", "payload": "/EXTERNAL_handoff_x"}
    )
    assert external.status_code == 422
    for cursor in ("inf", "nan", "1e308", "-1"):
        response = client.get(f"/api/chat/{CONV}?after={cursor}")
        assert response.status_code == 422 and "after" in response.text, cursor


def test_an_unreachable_assistant_is_a_503_that_says_so(client: TestClient) -> None:
    response = client.post(f"/api/chat/{CONV}/messages", json={"text": "hello"})
    assert response.status_code == 503
    assert response.json()["detail"] == "The assistant is not reachable right now."
    # Reading needs only the conversation store, not Rasa: nothing stored yet is no error.
    assert client.get(f"/api/chat/{CONV}").json()["items"] == []


def test_an_unreadable_conversation_store_is_a_503_that_says_so(
    tmp_path: Path, queue: HandoffQueue
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var",
        settings_file=Path("/nonexistent"),
        tracker_store_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere",
        session_secret=SECRET,
    )
    response = TestClient(create_app(settings, queue=queue)).get(f"/api/chat/{CONV}")
    assert response.status_code == 503
    assert response.json()["detail"] == "The conversation store is not reachable right now."


def _rasa_events_table(path: Path, rows: list[tuple[str, float, dict]]) -> None:
    """Rasa's `events` table (SQLTrackerStore's schema) with the given rows."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
            "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
            "action_name VARCHAR(255), data TEXT)"
        )
        for sender, ts, data in rows:
            db.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
                (sender, data["event"], ts, json.dumps({**data, "timestamp": ts})),
            )


def test_a_poll_reads_only_what_is_new_from_the_conversation_store(tmp_path: Path) -> None:
    rows = [("conv-aaaaaa", 100.0 + n, {"event": "user", "text": f"q{n}"}) for n in range(50)]
    rows += [("conv-bbbbbb", 120.5, {"event": "user", "text": "someone else"})]
    rows += [
        (
            "conv-aaaaaa",
            200.0,
            {"event": "user", "text": "/request_human", "metadata": {"title": "Talk to a person"}},
        )
    ]
    _rasa_events_table(tmp_path / "conversations.db", rows)
    log = ConversationLog(f"sqlite:///{tmp_path / 'conversations.db'}")
    assert len(log.events("conv-aaaaaa")) == 51
    recent = log.events("conv-aaaaaa", since=148.5)
    assert [e["text"] for e in recent] == ["q49", "/request_human"]
    items = tracker_items(recent)
    assert [i["text"] for i in items] == ["q49", "Talk to a person"]
    assert items[0]["id"] == f"e{recent[0]['row']}"  # ids are the store's row ids: stable
    log.close()


def test_the_store_page_embeds_the_widget_which_is_one_script(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/widget.js"' in page.text
    widget = client.get("/widget.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in widget.text.replace("never innerHTML", "")
    code = widget.text.split("*/", 1)[1]  # after the header comment's embed example
    urls = set(re.findall(r"https?://[^\s\"']+", code))
    assert urls == {"http://www.w3.org/2000/svg"}  # a namespace name, not a download


def test_only_the_configured_sites_may_call_the_gateway(client: TestClient) -> None:
    allowed = client.options(
        f"/api/chat/{CONV}/messages",
        headers={"Origin": "https://shop.test", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "https://shop.test"
    other = client.options(
        f"/api/chat/{CONV}/messages",
        headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers


def test_a_conversation_is_written_as_fastapi_wrote_it() -> None:
    """The chat routes' JSON is the bytes FastAPI's own serialisation gave for the same dict:
    small floats in full, non-ASCII as UTF-8, NaN and infinity (from an action's free-form
    meta) as null rather than an error."""
    from pydantic import TypeAdapter

    body = {
        "conversation_id": "c-1",
        "items": [{"ts": 1733300000.123456, "text": "Café ✓", "meta": {"score": float("nan")}}],
        "cursor": 0.00001,
        "handoff": {"state": "bot", "position": None, "weight": float("inf")},
    }
    rendered = ConversationJSON(body).body
    assert rendered == TypeAdapter(dict).dump_json(body)
    assert json.loads(rendered)["items"][0]["meta"]["score"] is None
    assert b'"cursor":0.00001' in rendered and "Café ✓".encode() in rendered


def test_a_first_read_of_a_long_conversation_shows_its_newest_items(
    tmp_path: Path, queue: HandoffQueue
) -> None:
    rows = [(CONV, 100.0 + n, {"event": "user", "text": f"q{n}"}) for n in range(30)]
    _rasa_events_table(tmp_path / "conversations.db", rows)
    settings = Settings(
        data_dir=tmp_path / "var",
        settings_file=Path("/nonexistent"),
        session_secret=SECRET,
        tracker_store_url=f"sqlite:///{tmp_path / 'conversations.db'}",
        history_max_items=20,
    )
    client = TestClient(create_app(settings, queue=queue))
    first = client.get(f"/api/chat/{CONV}").json()
    assert [i["text"] for i in first["items"]] == [f"q{n}" for n in range(10, 30)]
    assert first["earlier"] == 10
    since = client.get(f"/api/chat/{CONV}?after=100").json()  # a poll is never cut
    assert len(since["items"]) == 30 and since["earlier"] == 0
