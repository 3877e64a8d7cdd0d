"""The command line's shape: a module per noun, none needing bot.cli, the same top commands."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

COMMAND_MODULES = sorted(
    p.stem for p in (ROOT / "bot" / "commands").glob("*.py") if p.stem != "__init__"
)
# `bot --help` before the command modules were split out of bot/cli.py; a new noun is added here
# on purpose, together with its module and its line in bot/cli.py.
TOP_LEVEL_COMMANDS = [
    "train",
    "up",
    "serve",
    "docs",
    "kb",
    "eval",
    "handoff",
    "insights",
    "mail",
    "catalog",
]

LOADED_AFTER_IMPORT = """
import importlib, sys
importlib.import_module(sys.argv[1])
print(" ".join(sorted(m for m in sys.modules if m == "bot.cli" or m.startswith("bot.commands."))))
"""


def test_every_noun_has_its_module() -> None:
    assert {"common", "eval", "handoff", "kb", "serving"} <= set(COMMAND_MODULES)
    assert not (ROOT / "bot" / "eval" / "cli.py").exists()


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_a_command_module_imports_alone_without_bot_cli(name: str) -> None:
    module = f"bot.commands.{name}"
    result = subprocess.run(
        [sys.executable, "-c", LOADED_AFTER_IMPORT, module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert module in loaded
    assert loaded <= {module, "bot.commands.common"}, (
        f"{module} pulls in {sorted(loaded - {module, 'bot.commands.common'})}; "
        "a command module imports only bot.commands.common"
    )


def test_bot_cli_imports_in_a_fresh_interpreter() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import bot.cli"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_bot_help_lists_the_same_top_level_commands() -> None:
    bot = Path(sys.executable).parent / "bot"
    result = subprocess.run(
        [str(bot), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    assert result.returncode == 0, result.stderr
    panel = result.stdout.split("Commands", 1)[1]
    listed = re.findall(r"^│ (\S+) ", panel, flags=re.MULTILINE)
    assert listed == TOP_LEVEL_COMMANDS
