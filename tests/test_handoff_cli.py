"""`bot handoff` commands through their --json output, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.handoff import HandoffQueue, NewTicket
from bot.handoff.auth import hash_token

runner = CliRunner()


@pytest.fixture
def env(queue_url: str, tmp_path: Path) -> dict[str, str]:
    queue = HandoffQueue.from_url(queue_url)
    for i, reason in enumerate(["low_confidence", "complaint", "customer_request"]):
        queue.create(
            NewTicket(
                conversation_id=f"c-{i}",
                reason=reason,
                customer_email=f"u{i}@example.com",
                transcript=[{"sender": "customer", "text": f"question {i}"}],
            )
        )
    queue.close()
    return {
        "BOT_DATABASE_URL": queue_url,
        "BOT_DATA_DIR": str(tmp_path / "var"),
        "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
    }


def _json(args: list[str], env: dict[str, str]):
    result = runner.invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_list_show_claim_resolve(env: dict[str, str]) -> None:
    listed = _json(["handoff", "list", "--status", "open"], env)
    assert listed["total"] == 3
    assert [t["reason"] for t in listed["tickets"]] == [
        "complaint",
        "customer_request",
        "low_confidence",
    ]

    claimed = _json(["handoff", "claim", "--agent", "alice"], env)  # the most urgent
    assert claimed["reason"] == "complaint" and claimed["claimed_by"] == "alice"
    shown = _json(["handoff", "show", str(claimed["id"])], env)
    assert shown["transcript"][0]["text"] == "question 1"

    again = runner.invoke(app, ["handoff", "claim", str(claimed["id"]), "--agent", "bob"], env=env)
    assert again.exit_code == 1 and "claimed by alice" in again.stderr

    done = _json(
        ["handoff", "resolve", str(claimed["id"]), "--agent", "alice", "--note", "ok"], env
    )
    assert done["status"] == "resolved" and done["resolution_note"] == "ok"
    back = _json(["handoff", "resolve", "3", "--agent", "bob", "--to-bot"], env)
    assert back["status"] == "returned_to_bot"
    missing = runner.invoke(app, ["handoff", "show", "999"], env=env)
    assert missing.exit_code == 1 and "Ticket 999 doesn't exist." in missing.stderr


def test_list_searches_and_filters_by_reason(env: dict[str, str]) -> None:
    def ids(*args: str) -> list[str]:
        return [t["conversation_id"] for t in _json(["handoff", "list", *args], env)["tickets"]]

    assert ids("--search", "QUESTION 1") == ["c-1"]  # the transcript, any case
    assert ids("--search", "u2@example") == ["c-2"]  # the email
    assert ids("--search", "question", "--reason", "complaint") == ["c-1"]
    assert ids("-q", "question", "--status", "open") == ["c-1", "c-2", "c-0"]
    assert ids("--search", "100%") == []
    bad = runner.invoke(app, ["handoff", "list", "--reason", "bored"], env=env)
    assert bad.exit_code == 1 and "--reason 'bored' is not one of customer_request" in bad.stderr
    bad = runner.invoke(app, ["handoff", "list", "--status", "gone"], env=env)
    assert bad.exit_code == 1 and "--status 'gone' is not one of open" in bad.stderr


def test_show_prints_lines_with_and_without_a_time(env: dict[str, str]) -> None:
    shown = runner.invoke(app, ["handoff", "show", "1"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "--:--:-- customer: question 0" in shown.stdout


def test_export_writes_one_ticket_per_line(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "tickets.jsonl"
    result = runner.invoke(
        app, ["handoff", "export", "--since", "2020-01-01", "-o", str(target)], env=env
    )
    assert result.exit_code == 0 and "exported 3 ticket(s)" in result.stderr
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert [t["conversation_id"] for t in lines] == ["c-0", "c-1", "c-2"]
    assert lines[0]["transcript"][0]["sender"] == "customer"
    result = runner.invoke(app, ["handoff", "export", "--since", "2999-01-01"], env=env)
    assert result.exit_code == 0 and result.stdout == ""
    bad = runner.invoke(app, ["handoff", "export", "--since", "last week"], env=env)
    assert bad.exit_code == 1 and "not an ISO date" in bad.stderr


def test_hash_token_prints_what_settings_store() -> None:
    result = runner.invoke(app, ["handoff", "hash-token", "a-long-enough-token"])
    assert result.exit_code == 0 and result.stdout.strip() == hash_token("a-long-enough-token")
