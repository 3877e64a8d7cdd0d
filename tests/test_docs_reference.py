"""The docs stay true: references match the code, the README stays short, links open."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.reference import references
from bot.settings import Settings
from tests.conftest import ROOT

DOCS = ROOT / "docs"
README_MAX_LINES = 150
TWO_COMMANDS = [
    "make run    # set up if needed, build the index, start the services, print the URL",
    "make test   # set up if needed, run the whole test suite",
]
# Written on another branch (the lock files); drop this once docs/dependencies.md is on main.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)
HISTORY = re.compile(r"\(was |; was \d|, was \d|\bused to be\b")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("name", ["settings.md", "cli.md"])
def test_the_generated_reference_matches_the_code(name: str) -> None:
    expected = references()[name]
    path = DOCS / name
    committed = path.read_text(encoding="utf-8") if path.is_file() else ""
    assert committed == expected, f"docs/{name} is out of date: run `make docs`"


def test_the_references_do_not_depend_on_the_terminal_or_the_checkout() -> None:
    script = "import json; from bot.reference import references; print(json.dumps(references()))"
    env = {**os.environ, "COLUMNS": "37", "TERMINAL_WIDTH": "41", "FORCE_COLOR": "1"}
    env.pop("NO_COLOR", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd="/", env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == references()
    for text in references().values():
        assert str(ROOT) not in text
        assert "\x1b[" not in text


def test_every_setting_and_command_is_in_the_references() -> None:
    settings_md, cli_md = references()["settings.md"], references()["cli.md"]
    for name in Settings.model_fields:
        assert f"| `{name}` | `BOT_{name.upper()}` |" in settings_md
    for command in ["bot kb build", "bot eval calibrate", "bot handoff hash-token", "bot docs"]:
        assert f"## `{command}`" in cli_md


def test_bot_docs_writes_the_references_and_check_names_stale_ones(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bot.cli import app

    runner = CliRunner()
    stale = runner.invoke(app, ["docs", "--check", "--docs", str(tmp_path), "--json"])
    assert stale.exit_code == 1
    assert "run `make docs`" in stale.output
    written = runner.invoke(app, ["docs", "--docs", str(tmp_path), "--json"])
    assert written.exit_code == 0, written.output
    assert len(json.loads(written.stdout)["written"]) == 2
    assert (tmp_path / "settings.md").read_text(encoding="utf-8") == references()["settings.md"]
    fresh = runner.invoke(app, ["docs", "--check", "--docs", str(tmp_path), "--json"])
    assert fresh.exit_code == 0 and json.loads(fresh.stdout)["out_of_date"] == []


def test_the_readme_starts_with_the_two_commands_and_reads_in_five_minutes() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move detail to docs/"
    )
    first_block = lines[lines.index("```sh") + 1 :][:2]
    assert lines[0].startswith("# ") and first_block == TWO_COMMANDS
    assert not any(line.startswith("```") for line in lines[1 : lines.index("```sh")])


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.name)
def test_every_relative_link_in_the_docs_opens(path: Path) -> None:
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.name)
def test_the_docs_describe_what_is_not_what_was(path: Path) -> None:
    found = [m.group(0) for m in HISTORY.finditer(path.read_text(encoding="utf-8"))]
    assert not found, (
        f"{path.relative_to(ROOT)} tells history ({found}); measured figures and how they moved "
        "belong in benchmarks/README.md"
    )


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        plain = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
        slug = "".join(c for c in plain if c.isalnum() or c in " -_").replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors
