"""A handoff ticket's transcript carries the time each line was said, from Rasa's events."""

from __future__ import annotations

from rasa_sdk import Tracker

from actions.common import transcript
from bot.handoff import NewTicket

SAID_AT = 1772442005.25  # 2026-03-02T09:00:05.250Z


def _tracker(events: list[dict]) -> Tracker:
    return Tracker("conv-1", {}, {}, events, False, None, {}, "action_listen")


def test_each_line_has_the_time_its_event_happened() -> None:
    lines = transcript(
        _tracker(
            [
                {"event": "action", "name": "action_listen", "timestamp": SAID_AT - 1},
                {"event": "user", "text": "where is my order?", "timestamp": SAID_AT},
                {"event": "bot", "text": "Which **order**?", "timestamp": SAID_AT + 1.5},
                {
                    "event": "user",
                    "text": "/request_human",
                    "parse_data": {"intent": {"name": "request_human"}},
                    "timestamp": SAID_AT + 60,
                },
                {"event": "user", "text": "no time here"},
                {"event": "bot", "text": "bad time", "timestamp": "yesterday"},
            ]
        )
    )
    assert lines == [
        {"sender": "customer", "text": "where is my order?", "at": "2026-03-02T09:00:05.250Z"},
        {"sender": "bot", "text": "Which **order**?", "at": "2026-03-02T09:00:06.750Z"},
        {"sender": "customer", "text": "Talk to a human", "at": "2026-03-02T09:01:05.250Z"},
        {"sender": "customer", "text": "no time here"},
        {"sender": "bot", "text": "bad time"},
    ]
    # what the action passes to the queue, times included
    ticket = NewTicket(conversation_id="conv-1", reason="customer_request", transcript=lines)
    assert [m.at.isoformat() if m.at else None for m in ticket.transcript] == [
        "2026-03-02T09:00:05.250000+00:00",
        "2026-03-02T09:00:06.750000+00:00",
        "2026-03-02T09:01:05.250000+00:00",
        None,
        None,
    ]
