"""Running something in .venv-rasa from a test: Rasa is not importable in the test suite's env."""

from __future__ import annotations

import subprocess

from bot.stack import ROOT, rasa_env


def run_in_rasa(
    command: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command of .venv-rasa from the project root, with the environment `bot up` gives
    Rasa (our plugins importable) plus `env`, its output captured as text."""
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**rasa_env(), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def run_check(module: str, check: str, *arguments: str, timeout: float = 120) -> str:
    """Run `check_<check>` of tests/rasa_side/<module>.py in .venv-rasa; its output (stdout and
    stderr). A failing check fails the calling test with the check's traceback."""
    from bot.stack import RASA_PYTHON

    command = [str(RASA_PYTHON), "-m", f"tests.rasa_side.{module}", check, *arguments]
    done = run_in_rasa(command, timeout=timeout)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"{module}.check_{check} failed in .venv-rasa:\n{output[-6000:]}")
    return output
