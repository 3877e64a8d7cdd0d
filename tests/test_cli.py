"""The `bot kb` commands, checked through their --json output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import ROOT, write

runner = CliRunner()


def _env(kb: Path, index: Path) -> dict[str, str]:
    return {
        "BOT_KB_DIR": str(kb),
        "BOT_INDEX_DIR": str(index),
        "BOT_SETTINGS_FILE": str(kb.parent / "none.toml"),
        "BOT_HELP_BASE_URL": "https://help.example.test/",
    }


def _run(args: list[str], env: dict[str, str]):
    result = runner.invoke(app, args, env=env)
    return result, (
        json.loads(result.stdout) if "--json" in args and result.stdout.strip() else None
    )


@pytest.fixture
def small_kb(tmp_path: Path) -> dict[str, str]:
    kb = tmp_path / "kb"
    write(
        kb,
        "orders/cancel-order.md",
        """
        ---
        title: How do I cancel an order?
        ---
        Cancel while the order is processing.

        ## Cancel an order

        Go to Account, then Orders, and select Cancel order. We refund you straight away.
        """,
    )
    write(
        kb,
        "returns.md",
        """
        ---
        title: How do I return an item?
        ---
        Return items within 30 days of delivery for a full refund, free of charge.
        """,
    )
    (tmp_path / "questions.yml").write_text(
        "- question: I want to cancel my order\n  expect: cancel-order\n"
        "- question: can I send this back\n  expect: returns\n  within: 2\n"
    )
    return _env(kb, tmp_path / "index")


@pytest.mark.model
def test_build_search_stats_and_test_through_json(small_kb: dict[str, str], tmp_path: Path) -> None:
    result, data = _run(["kb", "build", "--json"], small_kb)
    assert result.exit_code == 0, result.output
    assert {"articles", "chunks", "embedded_articles", "removed_articles", "seconds"} <= set(data)
    assert data["articles"] == 2 and data["embedded_articles"] == ["cancel-order", "returns"]

    result, data = _run(["kb", "build", "--json"], small_kb)
    assert data["embedded_articles"] == [] and data["removed_articles"] == []

    result, hits = _run(["kb", "search", "how to cancel my order", "-k", "2", "--json"], small_kb)
    assert result.exit_code == 0
    assert [h["id"] for h in hits] == ["cancel-order", "returns"]
    assert {"id", "title", "section", "anchor", "url", "score"} <= set(hits[0])
    assert hits[0]["url"] == "https://help.example.test/cancel-order"
    assert hits[0]["score"] >= hits[1]["score"]

    result, stats = _run(["kb", "stats", "--json"], small_kb)
    assert stats["articles"] == 2 and stats["model"] == "all-MiniLM-L6-v2"
    assert stats["categories"] == {"(top level)": 1, "orders": 1}

    result, report = _run(["kb", "test", str(tmp_path / "questions.yml"), "--json"], small_kb)
    assert result.exit_code == 0 and report["passed"] == 2 and report["failed"] == 0

    (tmp_path / "bad.yml").write_text("- question: I want to cancel my order\n  expect: returns\n")
    result, report = _run(["kb", "test", str(tmp_path / "bad.yml"), "--json"], small_kb)
    assert result.exit_code == 1 and report["failed"] == 1
    assert report["results"][0]["top"] == "cancel-order"


def test_build_with_errors_prints_each_problem_and_exits_1(small_kb: dict[str, str]) -> None:
    kb = Path(small_kb["BOT_KB_DIR"])
    write(kb, "broken.md", "---\ntitle: Broken\nid: Not Valid\n---\nBody.\n")
    result = runner.invoke(app, ["kb", "build"], env=small_kb)
    assert result.exit_code == 1
    assert "broken.md:3: invalid id 'Not Valid'" in result.stderr
    assert "previous index is unchanged" in result.stderr


def test_lint_json_lists_problems_and_exits_1_on_errors(small_kb: dict[str, str]) -> None:
    kb = Path(small_kb["BOT_KB_DIR"])
    result, data = _run(["kb", "lint", "--json"], small_kb)
    assert result.exit_code == 0 and data["errors"] == 0 and data["articles"] == 2
    write(kb, "dup.md", "---\ntitle: Dup\nid: returns\n---\nSee [x](missing.md).\n")
    result, data = _run(["kb", "lint", "--json"], small_kb)
    assert result.exit_code == 1
    found = {
        (Path(p["path"]).name, p["line"], p["message"].split(" (")[0]) for p in data["problems"]
    }
    assert ("dup.md", 1, "duplicate id 'returns'") in found
    assert ("returns.md", 1, "duplicate id 'returns'") in found
    assert ("dup.md", 5, "link to 'missing.md': no such article") in found


def test_search_without_an_index_says_how_to_build_one(small_kb: dict[str, str]) -> None:
    result = runner.invoke(app, ["kb", "search", "anything"], env=small_kb)
    assert result.exit_code == 1
    assert "build it with `bot kb build`" in result.stderr


def test_regression_file_errors_name_the_entry(small_kb: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "q.yml").write_text(
        "- question: hello\n  expect: returns\n- question: hi\n  within: 0\n"
    )
    result = runner.invoke(app, ["kb", "test", str(tmp_path / "q.yml")], env=small_kb)
    assert result.exit_code == 1
    assert "q.yml:3: entry 2: 'expect' must be an article id" in result.stderr


def test_the_installed_command_runs() -> None:
    bot = Path(sys.executable).parent / "bot"
    result = subprocess.run(
        [str(bot), "kb", "lint", "--json"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["errors"] == 0


def test_invalid_settings_are_reported_without_a_traceback(small_kb: dict[str, str]) -> None:
    result = runner.invoke(app, ["kb", "lint"], env={**small_kb, "BOT_CHUNK_MAX_TOKENS": "lots"})
    assert result.exit_code == 1
    assert "invalid settings" in result.stderr and "chunk_max_tokens" in result.stderr


def test_serve_names_a_port_that_is_already_taken(small_kb: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)], env=small_kb)
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
