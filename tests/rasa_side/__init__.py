"""Checks that run inside .venv-rasa, where Rasa is importable (the test suite's env has no Rasa).

Each module here holds `check_*` functions that assert, and ends with `run_check(globals())`.
tests/test_rasa_speedups.py runs one check as `python -m tests.rasa_side.<module> <check>
[arguments]` (tests.rasa_process.run_check): a failing check exits with its traceback, which the
test shows. pytest does not collect these files (their names do not start with `test_`); ruff
lints them like the rest.
"""

from __future__ import annotations

import sys
from typing import Any


def run_check(checks: dict[str, Any]) -> None:
    """Call the check named by the first command-line argument with the others."""
    name, *arguments = sys.argv[1:]
    checks[f"check_{name}"](*arguments)
