"""The seeded week of traffic (tests/traffic.py) is what it says, and the real bot bears it out.

The insights tests replay this week and check the report against `expected_summary`; this file
proves those expectations true of the real stack: every step's outcome where the script gives
one, and how each conversation ends, read from the bot's metadata as a report would.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.inbound import CONVERSATION_ID
from tests.conftest import WebStack
from tests.traffic import (
    CANT_ANSWER,
    ENDINGS,
    REASONS,
    TEST_PREFIXES,
    UNCOVERED,
    cant_answers,
    check_step,
    ending,
    expected_summary,
    new_conversation_id,
    play,
    warm_up,
    week,
)

WEEK = week()
# Conversations played at once: each is sequential, as a customer types, and they do not meet.
CONCURRENCY = 4


def test_the_week_is_seeded() -> None:
    assert week() == WEEK
    assert week(seed=8) != WEEK
    assert len(WEEK) == 60 and len({s.name for s in WEEK}) == 60
    assert len(week(conversations=120)) == 120


def test_the_week_has_every_kind_of_conversation() -> None:
    summary = expected_summary(WEEK)
    assert all(summary["endings"][e] > 0 for e in ENDINGS), summary["endings"]
    assert all(summary["handoff_reasons"][r] > 0 for r in REASONS), summary["handoff_reasons"]
    assert summary["thumbs_up"] >= 3 and summary["thumbs_down"] >= 3
    assert all(sum(day.values()) > 0 for day in summary["by_day"].values())
    for topic in UNCOVERED:
        asking = [s for s in WEEK if topic in s.topics]
        phrasings = {step.say for s in asking for step in s.steps if step.topic == topic}
        assert len(asking) >= 3 and len({s.customer for s in asking}) >= 3, topic
        assert len(phrasings) >= 3, (topic, phrasings)
        assert summary["uncovered_topics"][topic] == len(asking)


def test_an_abandoned_conversation_ends_on_a_refusal() -> None:
    for scripted in WEEK:
        last = [s for s in scripted.steps if s.agent is None][-1]
        refused = last.outcome in {"fallback", "handoff_offer"}
        assert refused == (scripted.ending == "abandoned"), scripted.name
        assert (scripted.reason is not None) == (scripted.ending == "handed_off"), scripted.name


def test_a_refusal_is_recognised() -> None:
    from bot.dialogue.replies import CANT_ANSWER as BOTS_REFUSAL

    assert BOTS_REFUSAL.startswith(CANT_ANSWER)


def test_conversation_ids_are_fresh_and_not_test_traffic() -> None:
    ids = [new_conversation_id(s) for s in WEEK for _ in range(2)]
    assert len(set(ids)) == len(ids)
    for conversation_id in ids:
        assert re.match(CONVERSATION_ID, conversation_id), conversation_id
        assert not conversation_id.startswith(TEST_PREFIXES), conversation_id


@pytest.mark.rasa
def test_the_week_plays_out_as_scripted(web_stack: WebStack) -> None:
    warm_up(web_stack)
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        played = list(pool.map(lambda scripted: play(web_stack, scripted), WEEK))
    elapsed = time.monotonic() - started
    turns = sum(len(p) for p in played)
    print(f"\nplayed {len(WEEK)} conversations ({turns} steps) in {elapsed:.1f}s")

    problems = []
    for scripted, steps in zip(WEEK, played, strict=True):
        for number, step in enumerate(steps):
            said = step["step"].say or step["step"].agent
            problems += [f"{scripted.name} #{number} {said!r}: {p}" for p in check_step(step)]
        observed = ending(steps)
        if observed != (scripted.ending, scripted.reason):
            problems.append(
                f"{scripted.name}: ended {observed}, expected {(scripted.ending, scripted.reason)}"
            )
    assert not problems, "\n".join(problems)
    refusals = sum(cant_answers(steps) for steps in played)
    assert refusals == expected_summary(WEEK)["cant_answer"]
