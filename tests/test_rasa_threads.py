"""Rasa's blocking store calls in worker threads (rasa_plugins.threads): the event loop goes on
meanwhile, a cancelled turn still finishes what it started, and the Redis lock store takes and
gives back conversation locks as Rasa's does, on this machine's Redis."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from bot.stack import RASA_PYTHON
from tests.rasa_process import run_in_rasa


def test_blocking_calls_leave_the_loop_free_and_locks_are_rasas() -> None:
    script = Path(__file__).parent / "rasa_side" / "locks_and_threads.py"
    prefix = f"test{uuid.uuid4().hex[:8]}"
    result = run_in_rasa([str(RASA_PYTHON), str(script), prefix], timeout=240)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix("REPORT "))
    assert report["loop_free_while_blocked"]  # the loop itself released the blocked call
    assert report["cancelled"] and report["finished_before_cancel"]
    assert report["order"] == ["first in", "first out", "second in", "second out"]
    assert not report["left_after_turns"]
    assert report["crowd_most_inside"] == 1 and report["crowd_served"]
    assert not report["left_after_crowd"]
    assert not report["left_after_cancel"] and report["next_served"]
    assert report["after_both_lapsed"] == "served" and not report["left_after_lapse"]
    # a dead holder's lock has an expiry in Redis, and is gone once it passes
    assert 0 < report["dead_ttl_ms"] <= 200 + report["grace_ms"]
    assert not report["dead_left"]
