"""The help centre's record on SQLite and PostgreSQL: one vote per visitor and article, the
rate limit per address, and searches with no good result kept (masked, capped per visitor)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.handoff import HandoffQueue
from bot.help import record
from bot.help.record import HelpRecord, RateLimited, Vote, failed_searches, vote_counts

NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
DAY = (NOW - dt.timedelta(hours=12), NOW + dt.timedelta(hours=12))


def test_a_second_vote_replaces_the_first(queue: HandoffQueue) -> None:
    help_record = HelpRecord(queue.engine, "secret")
    assert help_record.vote(Vote("returns", True), "visitor-a", "10.0.0.1", NOW) is True
    assert help_record.vote(Vote("returns", False, "unclear", "my card 4111 1111 1111 1111 was"),
                            "visitor-a", "10.0.0.1", NOW) is False  # fmt: skip
    help_record.vote(Vote("returns", True), "visitor-b", "10.0.0.2", NOW)
    assert vote_counts(queue.engine, *DAY) == {"returns": {"yes": 1, "no": 1}}
    mine = help_record.visitor_vote("returns", "visitor-a")
    assert (mine.helpful, mine.reason) == (False, "unclear")
    assert "4111 1111 1111 1111" not in mine.comment  # masked before it is stored
    assert help_record.visitor_vote("returns", "visitor-c") is None
    with pytest.raises(ValueError, match="reason must be one of"):
        help_record.vote(Vote("returns", False, "boring"), "visitor-a", "10.0.0.1", NOW)


def test_votes_from_one_address_are_limited_per_hour(
    queue: HandoffQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "VOTES_PER_HOUR", 2)
    help_record = HelpRecord(queue.engine, "secret")
    help_record.vote(Vote("a", True), "v1", "10.0.0.9", NOW)
    help_record.vote(Vote("b", True), "v1", "10.0.0.9", NOW)
    with pytest.raises(RateLimited):
        help_record.vote(Vote("c", True), "v2", "10.0.0.9", NOW)
    help_record.vote(Vote("c", True), "v2", "10.0.0.9", NOW + dt.timedelta(hours=1, seconds=1))
    assert sum(c["yes"] for c in vote_counts(queue.engine, *DAY).values()) == 3


def test_searches_with_no_good_result_are_kept_masked_and_capped(
    queue: HandoffQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "SEARCHES_PER_HOUR", 2)
    help_record = HelpRecord(queue.engine, "secret")
    assert help_record.no_result("v1", "my password is hunter2 help", ("reset", 0.3), NOW)
    assert help_record.no_result("v1", "store pickup", None, NOW + dt.timedelta(seconds=1))
    assert not help_record.no_result("v1", "third", None, NOW + dt.timedelta(seconds=2))
    kept = failed_searches(queue.engine, *DAY)
    assert [q["kind"] for q in kept] == ["help_search", "help_search"]
    assert "hunter2" not in kept[0]["text"] and kept[1]["text"] == "store pickup"
    assert kept[0]["conversation_id"] == kept[1]["conversation_id"]  # one visitor
