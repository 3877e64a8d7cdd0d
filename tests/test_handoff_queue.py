"""The handoff queue on SQLite and PostgreSQL: context kept, claims exclusive, nothing lost."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.handoff import HandoffQueue, NewMessage, NewTicket, TicketConflict, TicketNotFound

ROOT = Path(__file__).resolve().parent.parent
HEAD = max(p.name[:4] for p in (ROOT / "bot/handoff/migrations/versions").glob("0*.py"))


def _ticket(conversation: str = "conv-1", reason: str = "customer_request", **extra) -> NewTicket:
    return NewTicket(
        conversation_id=conversation,
        reason=reason,
        customer_email=extra.pop("email", "ana@example.com"),
        order_number="123-4567",
        intents=[
            {"name": "request_human", "confidence": 0.93},
            {"name": "track_order", "confidence": 0.04},
        ],
        articles=[
            {
                "id": "track-order",
                "title": "Where is my order?",
                "url": "https://h/track-order",
                "score": 0.41,
            }
        ],
        transcript=extra.pop(
            "transcript",
            [
                {"sender": "customer", "text": "where is my order 123-4567?"},
                {"sender": "bot", "text": "Here is how to track it..."},
                {"sender": "customer", "text": "my card 4111 1111 1111 1111, password is hunter22"},
                {"sender": "customer", "text": "let me talk to a person"},
            ],
        ),
        **extra,
    )


def test_a_ticket_keeps_the_full_context_with_secrets_masked(queue: HandoffQueue) -> None:
    ticket, created = queue.create(_ticket())
    assert created and ticket.status == "open"
    stored = queue.get(ticket.id)
    assert stored.customer_email == "ana@example.com" and stored.order_number == "123-4567"
    assert stored.intents[0] == {"name": "request_human", "confidence": 0.93}
    assert stored.articles[0]["id"] == "track-order"
    texts = [m["text"] for m in stored.transcript]
    assert texts[0] == "where is my order 123-4567?"
    assert "4111 1111 1111 1111" not in texts[2] and "hunter22" not in texts[2]
    assert "[card ending 1111]" in texts[2]
    # the latest request leads; the question before it follows
    assert stored.summary.startswith("Customer asked for a person. Before that: “my card [card")
    assert "Where is my order? (0.41)" in stored.summary
    assert [e["kind"] for e in stored.events] == ["created"]
    assert stored.created_at.tzinfo is not None


def test_one_active_ticket_per_conversation_and_idempotent_creates(queue: HandoffQueue) -> None:
    first, _ = queue.create(_ticket(idempotency_key="evt-1"))
    again, created = queue.create(_ticket(idempotency_key="evt-1"))
    assert (again.id, created) == (first.id, False)
    same_conversation, created = queue.create(_ticket(reason="complaint"))
    assert (same_conversation.id, created) == (first.id, False)
    queue.claim(first.id, "alice")
    queue.resolve(first.id, "alice", "done")
    later, created = queue.create(_ticket())
    assert created and later.id != first.id


def test_complaints_and_repeat_contacts_come_first(queue: HandoffQueue) -> None:
    question, _ = queue.create(_ticket("c-1", "low_confidence", email="a@x.io"))
    request, _ = queue.create(_ticket("c-2", "customer_request", email="b@x.io"))
    complaint, _ = queue.create(_ticket("c-3", "complaint", email="c@x.io"))
    queue.claim(question.id, "alice")
    queue.resolve(question.id, "alice")
    repeat, _ = queue.create(_ticket("c-4", "low_confidence", email="a@x.io"))  # same customer
    assert repeat.priority > complaint.priority > request.priority
    assert queue.position(repeat.id) == 1 and queue.position(request.id) == 3
    order = [queue.claim_next("bob").id for _ in range(3)]
    assert order == [repeat.id, complaint.id, request.id]
    assert queue.claim_next("bob") is None


def test_a_claimed_ticket_cannot_be_claimed_twice(queue: HandoffQueue) -> None:
    ticket, _ = queue.create(_ticket())
    claimed = queue.claim(ticket.id, "alice")
    assert claimed.claimed_by == "alice" and claimed.seconds_to_claim is not None
    with pytest.raises(TicketConflict, match="it is claimed by alice"):
        queue.claim(ticket.id, "bob")
    with pytest.raises(TicketConflict):
        queue.resolve(ticket.id, "bob", "not mine")
    with pytest.raises(TicketNotFound, match="Ticket 999999 doesn't exist."):
        queue.claim(999999, "bob")


def test_messages_resolve_and_return_to_bot(queue: HandoffQueue) -> None:
    ticket, _ = queue.create(_ticket())
    queue.claim(ticket.id, "alice")
    queue.add_message(
        ticket.id, NewMessage(sender="agent", text="Hi Ana, I'm looking now."), "alice"
    )
    queue.add_message(ticket.id, NewMessage(sender="customer", text="thanks! pin: 9876"))
    done = queue.resolve(ticket.id, "alice", "Re-sent the tracking link.")
    assert done.status == "resolved" and done.resolution_note == "Re-sent the tracking link."
    assert done.transcript[-1]["text"] == "thanks! pin: [redacted]"
    assert done.seconds_to_resolve >= done.seconds_to_claim >= 0
    assert [e["kind"] for e in done.events] == [
        "created",
        "claimed",
        "message_added",
        "message_added",
        "resolved",
    ]
    with pytest.raises(TicketConflict, match="takes no new messages"):
        queue.add_message(ticket.id, NewMessage(sender="customer", text="hello?"))
    assert queue.active_for_conversation("conv-1") is None

    other, _ = queue.create(_ticket("conv-2"))
    back = queue.return_to_bot(other.id, "bob", "Customer only needed the article.")
    assert back.status == "returned_to_bot" and back.claimed_by == "bob"


def test_listing_filters_and_pages(queue: HandoffQueue) -> None:
    for i in range(7):
        queue.create(
            _ticket(f"c-{i}", "complaint" if i % 3 == 0 else "low_confidence", email=f"u{i}@x.io")
        )
    page, total = queue.list(status="open", limit=3, offset=0)
    rest, _ = queue.list(status="open", limit=10, offset=3)
    assert total == 7 and len(page) == 3 and len(rest) == 4
    assert {t.id for t in page}.isdisjoint({t.id for t in rest})
    assert [t.reason for t in page] == ["complaint"] * 3
    complaints, total = queue.list(reason="complaint")
    assert total == 3
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    assert queue.list(since=future) == ([], 0)
    exported = list(queue.export(batch=2))
    assert len(exported) == 7 and exported[0].transcript


def test_each_line_keeps_the_time_it_was_said(queue: HandoffQueue) -> None:
    ticket, _ = queue.create(
        _ticket(
            transcript=[
                {"sender": "customer", "text": "where is my parcel?", "at": "2026-03-02T09:00:05Z"},
                {"sender": "bot", "text": "Which order?", "at": "2026-03-02T09:00:06.250Z"},
                {
                    "sender": "customer",
                    "text": "a person please",
                    "at": "2026-03-02T10:15:00+01:00",
                },
                {"sender": "customer", "text": "said before times were kept"},
            ]
        )
    )
    stored = queue.get(ticket.id).to_dict()["transcript"]
    assert [line["at"] for line in stored] == [
        "2026-03-02T09:00:05+00:00",
        "2026-03-02T09:00:06.250000+00:00",
        "2026-03-02T09:15:00+00:00",
        None,  # no time was given: none is made up
    ]
    later = queue.add_message(ticket.id, NewMessage(sender="agent", text="Hi!"), "alice")
    assert later.transcript[-1]["at"] >= later.created_at


def test_the_verified_email_and_order_win_over_what_was_typed_last(queue: HandoffQueue) -> None:
    ticket, _ = queue.create(
        _ticket(
            email="tara.tanaka68@example.com",  # a typo the store did not know
            verified={"email": "tara.tanaka86@example.com", "order_number": "100-9246"},
        )
    )
    stored = queue.get(ticket.id)
    assert stored.customer_email == "tara.tanaka86@example.com"
    assert stored.order_number == "100-9246"
    assert stored.verified == {"email": "tara.tanaka86@example.com", "order_number": "100-9246"}
    assert "Verified order 100-9246" in stored.summary
    assert queue.get(queue.create(_ticket("conv-2"))[0].id).verified is None


def _said(conversation: str, reason: str, email: str, order: str, *lines: str) -> NewTicket:
    return NewTicket(
        conversation_id=conversation,
        reason=reason,
        customer_email=email,
        order_number=order,
        transcript=[{"sender": "customer", "text": line} for line in lines],
    )


def test_search_finds_text_email_and_order_in_any_case_and_filters_by_reason(
    queue: HandoffQueue,
) -> None:
    ids = {}
    for name, ticket in {
        "parcel": _said("c1", "complaint", "Ana@Example.com", "100-1111", "My PARCEL is wet"),
        "refund": _said("c2", "flow_failure", "bo@example.com", "100-2222", "where's my refund"),
        "percent": _said("c3", "low_confidence", "cy@example.com", "100-3333", "is 50% off real?"),
        "under": _said("c4", "low_confidence", "dee_x@example.com", "100-4444", "hello there"),
        "plain": _said("c5", "customer_request", "eve@example.com", "500-0000", "a person"),
    }.items():
        ids[name] = queue.create(ticket)[0].id

    def found(search: str | None = None, **filters) -> set[str]:
        tickets, total = queue.list(search=search, **filters)
        assert total == len(tickets)
        return {name for name, i in ids.items() if i in {t.id for t in tickets}}

    assert found("parcel") == {"parcel"}  # transcript text, any case
    assert found("ana@EXAMPLE") == {"parcel"}  # email
    assert found("100-2222") == {"refund"}  # order number
    assert found("zebra") == set()
    assert found("asked for a person") == {"plain"}  # the summary
    assert found("REFUND where") == {"refund"}  # every word, anywhere
    assert found("refund parcel") == set()
    # LIKE wildcards are text: "50%" is not "500-...", "_" is not any character
    assert found("50%") == {"percent"}
    assert found("dee_") == {"under"} and found("e_e") == set()
    assert found("%") == {"percent"} and found("_") == {"under"}
    assert found("example.com", reason="low_confidence") == {"percent", "under"}
    assert found(reason="complaint", status="open") == {"parcel"}
    assert found("   ") == set(ids)
    queue.claim(ids["refund"], "alice")
    assert queue.counts(search="example.com", reason="flow_failure") == {
        "open": 0,
        "claimed": 1,
        "resolved": 0,
        "returned_to_bot": 0,
    }
    assert queue.counts(search="nothing like this")["open"] == 0


def test_an_old_database_upgrades_and_its_tickets_still_load(queue_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from bot.handoff.db import MIGRATIONS, create_db_engine, schema_version

    engine = create_db_engine(queue_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO tickets (conversation_id, status, reason, priority, intents, "
                "articles, summary, created_at, updated_at) VALUES ('old', 'open', "
                "'complaint', 30, '[]', '[]', 'Customer asked: “hi”.', :t, :t)"
            ),
            {"t": dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)},
        )
        connection.execute(
            text(
                "INSERT INTO ticket_messages (ticket_id, sender, text, at) "
                "VALUES (1, 'bot', 'x', :t)"
            ),
            {"t": dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)},
        )
    engine.dispose()
    queue = HandoffQueue.from_url(queue_url)
    try:
        assert schema_version(queue.engine) == HEAD
        old = queue.get(1)
        assert old.verified is None and old.transcript[0]["at"].year == 2026
        new, _ = queue.create(_ticket("new", transcript=[{"sender": "customer", "text": "hi"}]))
        assert queue.get(new.id).transcript[0]["at"] is None
    finally:
        queue.close()


def test_eight_agents_claim_every_ticket_exactly_once(queue: HandoffQueue) -> None:
    for i in range(220):
        queue.create(
            _ticket(
                f"conv-{i}", "complaint" if i % 5 == 0 else "customer_request", email=f"c{i}@x.io"
            )
        )
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def agent(name: str) -> None:
        mine = claimed.setdefault(name, [])
        try:
            while (ticket := queue.claim_next(name)) is not None:
                mine.append(ticket.id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(f"agent-{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(all_ids) == 220 and len(set(all_ids)) == 220
    stored, total = queue.list(status="claimed", limit=500)
    assert total == 220
    owner = {t.id: t.claimed_by for t in stored}
    for name, ids in claimed.items():
        assert all(owner[i] == name for i in ids)


CREATOR = """
import sys
from bot.handoff import HandoffQueue, NewTicket
queue = HandoffQueue.from_url(sys.argv[1])
for i in range(100000):
    ticket, _ = queue.create(NewTicket(conversation_id=f"crash-{i}", reason="customer_request",
        transcript=[{"sender": "customer", "text": f"help {i}"}]))
    print(ticket.id, flush=True)
"""


def test_acknowledged_tickets_survive_a_kill_9(queue_url: str) -> None:
    HandoffQueue.from_url(queue_url).close()  # migrate first
    process = subprocess.Popen(
        [sys.executable, "-c", CREATOR, queue_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    acknowledged: list[int] = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 25 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if line:
            acknowledged.append(int(line))
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len(acknowledged) >= 25
    reopened = HandoffQueue.from_url(queue_url)
    try:
        for ticket_id in acknowledged:
            assert reopened.get(ticket_id).transcript[0]["text"].startswith("help ")
    finally:
        reopened.close()


def test_bad_input_is_rejected_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="reason"):
        NewTicket(conversation_id="c", reason="bored")
    with pytest.raises(ValidationError, match="customer_email"):
        NewTicket(conversation_id="c", reason="complaint", customer_email="not-an-email")
    # control characters and U+FEFF, which \s leaves in to some regex engines and not others
    for odd in ("a\x85@b.co", "a@b.co\ufeff", "a@b\x7f.co"):
        with pytest.raises(ValidationError, match="email"):
            NewTicket(conversation_id="c", reason="complaint", verified={"email": odd})
    with pytest.raises(ValidationError, match="text"):
        NewMessage(sender="customer", text="x" * 5000)


def test_counts_per_status(queue: HandoffQueue) -> None:
    assert queue.counts() == {"open": 0, "claimed": 0, "resolved": 0, "returned_to_bot": 0}
    first, _ = queue.create(_ticket("c-1", email="a@x.io"))
    queue.create(_ticket("c-2", email="b@x.io"))
    queue.claim(first.id, "alice")
    assert queue.counts() == {"open": 1, "claimed": 1, "resolved": 0, "returned_to_bot": 0}
