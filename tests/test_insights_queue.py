"""Insights' queue health counts the tickets still waiting, after-hours handoffs and emails."""

from __future__ import annotations

import datetime as dt

from bot.handoff import HandoffQueue, NewTicket
from bot.insights.report import build_report
from bot.mail.message import compose
from bot.mail.outbox import Outbox


def test_waiting_tickets_count_in_the_claim_time_and_emails_are_counted(
    queue: HandoffQueue,
) -> None:
    claimed, _ = queue.create(NewTicket(conversation_id="q-1", reason="customer_request"))
    queue.claim(claimed.id, "alice")
    for n in (2, 3):
        queue.create(
            NewTicket(conversation_id=f"q-{n}", reason="customer_request", after_hours=n == 3)
        )
    later = claimed.created_at + dt.timedelta(minutes=8)
    outbox = Outbox(queue.engine)
    outbox.enqueue(compose("a@shop.example", "b@x.example", "s", "b"), "handoff")
    failing = outbox.enqueue(compose("a@shop.example", "c@x.example", "t", "b"), "answer")
    [email] = [e for e in outbox.claim() if e.id == failing]
    outbox.failed(email, "smtp+insecure://127.0.0.1:2525: Connection refused", permanent=True)
    report = build_report(
        queue.engine,
        since=claimed.created_at - dt.timedelta(hours=1),
        until=later,
        now=later,
    )
    health = report["queue"]
    assert health["waiting"] == 2 and health["claimed"] == 1
    assert health["all"]["waiting"] == 2 and health["all"]["after_hours"] == 1
    # two customers waited 8 minutes: the median is not the one quick claim
    assert health["all"]["claim_seconds"]["median"] >= 8 * 60 - 5
    assert health["longest_wait_seconds"] >= 8 * 60 - 5
    mail = report["mail"]
    assert (mail["queued"] + mail["sending"], mail["failed"]) == (1, 1)
    assert mail["by_kind"] == {"answer": 1, "handoff": 1}
    [failed] = mail["failed_emails"]
    assert failed["to"] == "c@x.example" and "Connection refused" in failed["error"]
