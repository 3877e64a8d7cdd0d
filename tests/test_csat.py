"""Customer satisfaction: after an agent resolves a chat, the customer rates it once (1-5).

The queue keeps the rating on the ticket (SQLite and PostgreSQL), the widget's gateway asks for it
and takes it, agents see it (API, inbox and their JSON twins), and migration 0003 adds and drops
the columns.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import inspect, text

from bot.handoff import HandoffQueue, NewMessage, NewTicket, TicketConflict, TicketNotFound
from bot.handoff.auth import hash_token
from bot.handoff.db import MIGRATIONS, create_db_engine, schema_version
from bot.handoff.queue import Ticket
from bot.settings import Settings
from bot.stack import free_port
from bot.web.app import create_app
from bot.web.chat import RATE_WAIT_SECONDS, rating_items
from bot.web.conversation_ids import ConversationIds
from tests.test_chat import _rasa_events_table

ALICE = "alice-token-0123456789"
AGENT = {"Authorization": f"Bearer {ALICE}"}
SECRET = "csat-test-session-secret"
# a conversation id the tests' web app made (signed with the key SECRET gives)
CONV = ConversationIds.for_settings(
    Settings(session_secret=SECRET, settings_file=Path("/nonexistent"))
).sign("conv-csat-0001")
CSAT_COLUMNS = {"csat_score", "csat_comment", "csat_at"}


def _handoff(queue: HandoffQueue, conversation: str = CONV) -> int:
    ticket, _ = queue.create(
        NewTicket(
            conversation_id=conversation,
            reason="customer_request",
            transcript=[NewMessage(sender="customer", text="let me talk to a person")],
        )
    )
    return ticket.id


def _resolved(queue: HandoffQueue, conversation: str = CONV, agent: str = "alice") -> int:
    ticket_id = _handoff(queue, conversation)
    queue.claim(ticket_id, agent)
    queue.resolve(ticket_id, agent, "sorted")
    return ticket_id


# -- the queue ---------------------------------------------------------------------------------


def test_a_resolved_ticket_keeps_one_rating_with_its_comment_masked(queue: HandoffQueue) -> None:
    ticket_id = _resolved(queue)
    assert queue.get(ticket_id).csat_score is None
    rated = queue.rate(CONV, 4, "  Quick and kind. My card 4111 1111 1111 1111  ")
    assert rated.id == ticket_id and rated.csat_score == 4
    assert rated.csat_comment == "Quick and kind. My card [card ending 1111]"
    assert rated.csat_at is not None and rated.csat_at.tzinfo is not None
    assert rated.events[-1]["kind"] == "rated" and rated.events[-1]["actor"] == "customer"
    assert rated.events[-1]["detail"] == {"score": 4}

    stored = queue.get(ticket_id)  # it is in the database, not only in the answer
    assert (stored.csat_score, stored.csat_comment) == (4, rated.csat_comment)
    data = stored.to_dict()
    assert data["csat_score"] == 4 and data["csat_at"] == stored.csat_at.isoformat()

    with pytest.raises(TicketConflict, match=f"Ticket {ticket_id} is already rated"):
        queue.rate(CONV, 1, "changed my mind")
    assert queue.get(ticket_id).csat_score == 4  # the first rating stands
    assert [e["kind"] for e in queue.get(ticket_id).events].count("rated") == 1


def test_a_rating_without_a_comment_stores_none(queue: HandoffQueue) -> None:
    _resolved(queue)
    rated = queue.rate(CONV, 5, "   ")
    assert rated.csat_score == 5 and rated.csat_comment is None


def test_only_a_resolved_ticket_can_be_rated(queue: HandoffQueue) -> None:
    with pytest.raises(TicketNotFound, match="has no resolved ticket to rate"):
        queue.rate(CONV, 3)
    open_id = _handoff(queue)
    with pytest.raises(TicketNotFound):
        queue.rate(CONV, 3)  # still waiting for an agent
    queue.claim(open_id, "alice")
    queue.return_to_bot(open_id, "alice")  # handed back: nothing was resolved
    with pytest.raises(TicketNotFound):
        queue.rate(CONV, 3)
    assert queue.get(open_id).csat_score is None


def test_the_latest_resolved_ticket_of_the_conversation_is_rated(queue: HandoffQueue) -> None:
    first = _resolved(queue)
    second = _resolved(queue)
    other = _resolved(queue, "someone-else")
    assert queue.rate(CONV, 2).id == second
    assert queue.get(first).csat_score is None and queue.get(other).csat_score is None
    with pytest.raises(TicketConflict):
        queue.rate(CONV, 5)  # the earlier ticket is not rated instead


@pytest.mark.parametrize(
    "score, comment, field",
    [
        (0, "", "score"),
        (6, "", "score"),
        (-1, "", "score"),
        ("4", "", "score"),
        (4.5, "", "score"),
        (True, "", "score"),
        (None, "", "score"),
        (4, "x" * 1001, "comment"),
    ],
)
def test_a_bad_rating_is_refused_and_nothing_is_stored(
    queue: HandoffQueue, score: object, comment: str, field: str
) -> None:
    ticket_id = _resolved(queue)
    with pytest.raises(ValidationError, match=field):
        queue.rate(CONV, score, comment)  # type: ignore[arg-type]
    assert queue.get(ticket_id).csat_score is None
    assert queue.rate(CONV, 3, "x" * 1000).csat_score == 3  # 1000 characters is fine


def test_the_database_refuses_a_score_outside_1_to_5(queue: HandoffQueue) -> None:
    ticket_id = _resolved(queue)
    with pytest.raises(Exception, match="(?i)check"), queue.engine.begin() as conn:
        conn.execute(text("UPDATE tickets SET csat_score = 9 WHERE id = :id"), {"id": ticket_id})
    assert queue.get(ticket_id).csat_score is None


def test_eight_ratings_at_once_keep_exactly_one(queue: HandoffQueue) -> None:
    ticket_id = _resolved(queue)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def customer(score: int) -> None:
        start.wait()
        try:
            queue.rate(CONV, score, f"from {score}")
            outcomes.append(f"rated {score}")
        except TicketConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=customer, args=(n % 5 + 1,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    kept = [o for o in outcomes if o.startswith("rated")]
    assert len(outcomes) == 8 and len(kept) == 1
    stored = queue.get(ticket_id)
    assert (
        kept == [f"rated {stored.csat_score}"]
        and stored.csat_comment == f"from {stored.csat_score}"
    )


# -- migration 0003 ----------------------------------------------------------------------------


def _alembic(engine, action, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        action(config, revision)


def test_migration_0003_adds_the_columns_and_its_downgrade_drops_them(queue_url: str) -> None:
    engine = create_db_engine(queue_url)
    try:
        _alembic(engine, command.upgrade, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO tickets (conversation_id, status, reason, priority, intents, "
                    "articles, summary, created_at, updated_at, resolved_at) VALUES ('old', "
                    "'resolved', 'complaint', 30, '[]', '[]', 'Customer asked: “hi”.', :t, :t, :t)"
                ),
                {"t": dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)},
            )
        assert not CSAT_COLUMNS & {c["name"] for c in inspect(engine).get_columns("tickets")}

        _alembic(engine, command.upgrade, "0003")
        assert schema_version(engine) == "0003"
        assert {c["name"] for c in inspect(engine).get_columns("tickets")} >= CSAT_COLUMNS
        # the queue's code reads columns of later revisions too (tickets.after_hours, 0010)
        _alembic(engine, command.upgrade, "head")
        queue = HandoffQueue(engine)
        old = queue.get(1)
        assert old.csat_score is None and old.csat_comment is None and old.csat_at is None
        assert queue.rate("old", 5, "an old ticket can be rated").csat_score == 5

        _alembic(engine, command.downgrade, "0002")
        assert schema_version(engine) == "0002"
        assert not CSAT_COLUMNS & {c["name"] for c in inspect(engine).get_columns("tickets")}
        with engine.connect() as conn:  # the ticket and its history stay; only the rating goes
            assert conn.execute(text("SELECT conversation_id FROM tickets")).scalar() == "old"
            kinds = conn.execute(text("SELECT kind FROM ticket_events")).scalars().all()
            assert kinds == ["rated"]

        _alembic(engine, command.upgrade, "0003")  # and up again
        assert {c["name"] for c in inspect(engine).get_columns("tickets")} >= CSAT_COLUMNS
        _alembic(engine, command.upgrade, "head")
        assert HandoffQueue(engine).get(1).csat_score is None
    finally:
        engine.dispose()


# -- the gateway's "How did we do?" ------------------------------------------------------------


def _ticket(ticket_id: int, status: str, resolved_at: float | None, score: int | None) -> Ticket:
    at = dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
    return Ticket(
        id=ticket_id,
        conversation_id=CONV,
        status=status,  # type: ignore[arg-type]
        reason="customer_request",
        priority=20,
        customer_email=None,
        order_number=None,
        intents=[],
        articles=[],
        summary="",
        verified=None,
        claimed_by="dana",
        resolution_note=None,
        created_at=at,
        updated_at=at,
        claimed_at=at,
        resolved_at=dt.datetime.fromtimestamp(resolved_at, dt.UTC) if resolved_at else None,
        csat_score=score,
    )


def _bot_back(ts: float, resolved: bool = True) -> dict:
    return {
        "id": f"e{int(ts)}",
        "ts": ts,
        "from": "bot",
        "text": "Our agent has marked your request as resolved.",
        "buttons": [],
        "meta": {"outcome": "handoff", "state": "bot_back", "resolved": resolved},
    }


def test_the_question_follows_the_bot_saying_the_request_was_resolved() -> None:
    resolved = [_ticket(7, "resolved", 1000.0, None)]
    # the bot has not said it yet: the question waits a moment for it
    assert rating_items(resolved, [], now=1000.5) == []
    said = [_bot_back(1000.4)]
    (item,) = rating_items(resolved, said, now=1000.5)
    assert item["id"] == "t7-rate" and item["from"] == "rate" and item["ticket_id"] == 7
    assert item["text"] == "How did we do?" and item["agent"] == "dana"
    assert item["ts"] > said[0]["ts"]  # right after it, after a reload as well
    # Rasa never said it (down, slow): the question comes anyway
    (late,) = rating_items(resolved, [], now=1000.0 + RATE_WAIT_SECONDS + 0.1)
    assert late["id"] == "t7-rate" and late["ts"] == 1000.0
    # handing back is not resolving: that message is no anchor, and nothing is asked
    assert rating_items(resolved, [_bot_back(1000.4, resolved=False)], now=1000.5) == []
    assert rating_items([_ticket(7, "returned_to_bot", 1000.0, None)], said, now=2000) == []
    assert rating_items([_ticket(7, "claimed", None, None)], [], now=2000) == []


def test_a_rated_ticket_asks_no_more_and_only_the_latest_one_asks() -> None:
    rated = rating_items([_ticket(7, "resolved", 1000.0, 4)], [_bot_back(1000.4)], now=1001)
    assert [(i["id"], i["from"]) for i in rated] == [("t7-rated", "system")]
    assert rated[0]["text"] == "You rated this chat 4 out of 5. Thank you for your feedback!"
    two = [_ticket(7, "resolved", 1000.0, None), _ticket(9, "resolved", 2000.0, None)]
    assert [i["id"] for i in rating_items(two, [], now=3000)] == ["t9-rate"]


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def client(queue: HandoffQueue, tmp_path: Path) -> TestClient:
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=tmp_path / "var",
        agent_tokens={"alice": hash_token(ALICE)},
        rasa_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: no turn is sent here
        session_secret=SECRET,
    )
    with TestClient(create_app(settings, queue=queue), base_url="https://testserver") as c:
        yield c


def _sign_in(client: TestClient) -> None:
    form = client.get("/inbox/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    client.post("/inbox/login", data={"token": ALICE, "csrf": csrf, "next": "/inbox"})


def test_the_customer_rates_and_agents_see_it_everywhere(
    client: TestClient, queue: HandoffQueue
) -> None:
    ticket_id = _resolved(queue, agent="alice")
    answer = client.post(
        f"/api/chat/{CONV}/csat", json={"score": 4, "comment": "Dana was great <b>thanks</b>"}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["ticket_id"] == ticket_id and body["score"] == 4
    assert body["comment"] == "Dana was great <b>thanks</b>" and body["rated_at"]
    assert body["text"] == "You rated this chat 4 out of 5. Thank you for your feedback!"

    api = client.get(f"/api/tickets/{ticket_id}", headers=AGENT).json()
    assert api["csat_score"] == 4 and api["csat_comment"] == "Dana was great <b>thanks</b>"
    assert api["csat_at"] == body["rated_at"]
    listed = client.get("/api/tickets?status=resolved", headers=AGENT).json()["tickets"]
    assert listed[0]["csat_score"] == 4

    _sign_in(client)
    twin = client.get(f"/inbox/tickets/{ticket_id}.json").json()
    assert (twin["csat_score"], twin["csat_comment"]) == (4, "Dana was great <b>thanks</b>")
    page = client.get(f"/inbox/tickets/{ticket_id}").text
    assert "Customer rating" in page
    assert "<strong>4/5</strong> — " in page
    assert "Dana was great &lt;b&gt;thanks&lt;/b&gt;" in page  # the customer's words are text
    queue_json = client.get("/inbox.json?status=resolved").json()
    assert queue_json["tickets"][0]["csat_score"] == 4
    assert "rated 4/5" in client.get("/inbox?status=resolved").text


def test_rating_twice_is_a_409_and_the_first_rating_stands(
    client: TestClient, queue: HandoffQueue
) -> None:
    ticket_id = _resolved(queue)
    assert client.post(f"/api/chat/{CONV}/csat", json={"score": 2}).status_code == 201
    again = client.post(f"/api/chat/{CONV}/csat", json={"score": 5, "comment": "better now"})
    assert again.status_code == 409
    assert (
        again.json()["detail"] == f"Ticket {ticket_id} is already rated; a ticket takes one rating."
    )
    assert queue.get(ticket_id).csat_score == 2


def test_nothing_to_rate_is_a_404_that_says_why(client: TestClient, queue: HandoffQueue) -> None:
    nothing = client.post(f"/api/chat/{CONV}/csat", json={"score": 4})
    assert nothing.status_code == 404
    assert nothing.json()["detail"] == f"Conversation '{CONV}' has no resolved ticket to rate."
    _handoff(queue)
    assert client.post(f"/api/chat/{CONV}/csat", json={"score": 4}).status_code == 404


@pytest.mark.parametrize(
    "body, names",
    [
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": "4"}, "score"),
        ({"score": 3.5}, "score"),
        ({"score": True}, "score"),
        ({"score": None}, "score"),
        ({}, "score"),
        ({"comment": "no score"}, "score"),
        ({"score": 4, "comment": "x" * 1001}, "comment"),
        ({"score": 4, "comment": ["a"]}, "comment"),
        ({"score": 4, "ticket_id": 1}, "ticket_id"),
        ([4], "body"),
    ],
)
def test_a_malformed_rating_is_a_422_that_names_the_field(
    client: TestClient, queue: HandoffQueue, body: object, names: str
) -> None:
    ticket_id = _resolved(queue)
    answer = client.post(f"/api/chat/{CONV}/csat", json=body)
    assert answer.status_code == 422, answer.text
    assert names in str(answer.json()["detail"])
    assert queue.get(ticket_id).csat_score is None


def test_what_is_not_json_or_no_conversation_id_is_a_4xx(client: TestClient) -> None:
    garbage = client.post(
        f"/api/chat/{CONV}/csat", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert 400 <= garbage.status_code < 500
    lone_surrogate = client.post(
        f"/api/chat/{CONV}/csat",
        content=b'{"score": 4, "comment": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert lone_surrogate.status_code == 422 and "comment" in lone_surrogate.text
    # the same for a message: a 422 that names the field, not a 500 that cannot encode it
    message = client.post(
        f"/api/chat/{CONV}/messages",
        content=b'{"text": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert message.status_code == 422 and "text" in message.text
    assert client.post("/api/chat/x/csat", json={"score": 4}).status_code == 422
    assert client.get(f"/api/chat/{CONV}/csat").status_code == 405


def test_the_widget_is_asked_once_until_it_rates(
    client: TestClient, queue: HandoffQueue, tmp_path: Path
) -> None:
    ticket_id = _resolved(queue)
    resolved_at = queue.get(ticket_id).resolved_at.timestamp()
    # Rasa's tracker: the customer's request, and the bot's message after the agent resolved it
    _rasa_events_table(
        tmp_path / "var" / "conversations.db",
        [
            (CONV, resolved_at - 60, {"event": "user", "text": "let me talk to a person"}),
            (
                CONV,
                resolved_at + 0.2,
                {
                    "event": "bot",
                    "text": "Our agent has marked your request as resolved.",
                    "data": {
                        "custom": {"outcome": "handoff", "state": "bot_back", "resolved": True}
                    },
                },
            ),
        ],
    )
    everything = client.get(f"/api/chat/{CONV}").json()
    kinds = [(i["from"], i["id"]) for i in everything["items"]]
    assert kinds[-2:] == [("bot", "e2"), ("rate", f"t{ticket_id}-rate")]
    ask = everything["items"][-1]
    assert ask["ticket_id"] == ticket_id and ask["text"] == "How did we do?"
    assert everything["handoff"]["state"] == "bot"
    # a poll after it: nothing new, the widget already has the question
    later = client.get(f"/api/chat/{CONV}?after={everything['cursor'] + 11}").json()
    assert later["items"] == []

    assert client.post(f"/api/chat/{CONV}/csat", json={"score": 5}).status_code == 201
    reloaded = client.get(f"/api/chat/{CONV}").json()["items"]  # a reload: no question now
    assert "rate" not in [i["from"] for i in reloaded]
    assert reloaded[-1]["id"] == f"t{ticket_id}-rated"
    assert reloaded[-1]["text"].startswith("You rated this chat 5 out of 5")


def test_without_the_bot_message_the_question_comes_after_a_moment(
    client: TestClient, queue: HandoffQueue
) -> None:
    _resolved(queue)
    first = client.get(f"/api/chat/{CONV}").json()["items"]
    assert "rate" not in [i["from"] for i in first]  # the bot's message may still be coming
    deadline = time.monotonic() + RATE_WAIT_SECONDS + 30  # asked after RATE_WAIT_SECONDS
    while [i["from"] for i in client.get(f"/api/chat/{CONV}").json()["items"]][-1] != "rate":
        assert time.monotonic() < deadline, "no rating question after the bot's silence"
        time.sleep(0.1)
