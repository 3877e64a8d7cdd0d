"""Running something in .venv-rasa from a test: Rasa is not importable in the test suite's env."""

from __future__ import annotations

import subprocess

from bot.stack import ROOT, rasa_env


def run_in_rasa(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a command of .venv-rasa from the project root, with the environment `bot up` gives
    Rasa (our plugins importable), its output captured as text."""
    return subprocess.run(
        command,
        cwd=ROOT,
        env=rasa_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
