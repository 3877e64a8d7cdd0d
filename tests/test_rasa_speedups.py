"""rasa_plugins/speedups.py changes how much CPU Rasa spends, never what it does, and each of its
patches goes in only on the library versions it was written for, unless switched off.

Rasa is in .venv-rasa, so the checks are tests/rasa_side/*.py, run there (a failing one shows
its traceback here).
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from bot.settings import RasaSpeedup, Settings
from bot.stack import RASA_PYTHON
from tests.rasa_process import run_check, run_in_rasa

NO_FILE = Path("/nonexistent/bot.toml")


def test_each_patch_goes_in_on_the_versions_installed_and_comes_out_again() -> None:
    run_check("fence", "names", *get_args(RasaSpeedup))
    run_check("fence", "all_installed_then_undone")


@pytest.mark.parametrize(
    ("library", "found", "skipped"),
    [
        ("rasa", "3.6.20", ["action_reply_check", "event_lookup", "action_sessions",
                            "sequential_graph", "model_frozen"]),
        ("aiohttp", "3.10.0", ["action_sessions"]),
    ],
)  # fmt: skip
def test_a_patch_stays_out_on_other_versions_and_the_log_says_why(
    library: str, found: str, skipped: list[str]
) -> None:
    """E.g. 'speedup action_sessions not installed: written for aiohttp==3.9.*, found 3.10.0'."""
    run_check("fence", "other_version", library, found, *skipped)


def test_a_patch_switched_off_stays_out() -> None:
    run_check("fence", "switched_off", "sequential_graph", "action_sessions")


def test_settings_switch_patches_off_by_name() -> None:
    settings = Settings(
        settings_file=NO_FILE, rasa_speedups_off="sequential_graph, action_sessions"
    )
    assert settings.rasa_speedups_off == ["sequential_graph", "action_sessions"]
    assert Settings(settings_file=NO_FILE).rasa_speedups_off == []
    with pytest.raises(ValueError, match="event_lookup"):  # the error lists the names
        Settings(settings_file=NO_FILE, rasa_speedups_off=["no_such_patch"])


def test_rasa_starts_with_the_patches_switched_off_and_refuses_unknown_names() -> None:
    """What `bot up` passes: the log names each patch left out; a name that is no patch's
    stops Rasa before it starts, naming the known ones."""
    command = [str(RASA_PYTHON), "-m", "rasa_plugins.serve", "run", "--help"]
    env = {"TIER0_RASA_AUTH_TOKEN": "t", "TIER0_RASA_SPEEDUPS_OFF": "sequential_graph,model_frozen"}
    done = run_in_rasa(command, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "speedup sequential_graph not installed: switched off" in done.stderr
    assert "speedup model_frozen not installed: switched off" in done.stderr
    assert "speedups installed: action_reply_check, event_lookup, action_sessions\n" in (
        done.stderr
    )
    env["TIER0_RASA_SPEEDUPS_OFF"] = "no_such_patch"
    done = run_in_rasa(command, timeout=120, env=env)
    assert done.returncode != 0
    assert "no speedup named no_such_patch (known: action_reply_check" in done.stderr


def test_event_classes_are_found_as_rasa_finds_them() -> None:
    run_check("events", "event_classes")


def test_action_replies_pass_and_fail_as_with_rasas_full_check() -> None:
    run_check("events", "action_replies")


def test_the_model_parses_and_predicts_as_rasa_as_shipped(rasa_model: Path) -> None:
    """Every parse and every next-action prediction of the trained model is the same when its
    graph runs node after node as when dask runs it."""
    run_check("graph", "same_parses_and_predictions", str(rasa_model), timeout=400)


def test_action_server_calls_keep_their_connection_and_rasas_request() -> None:
    """Calls to an endpoint reuse one connection, with Rasa's headers, token, body, reply and
    error; when the server restarts, the next call opens a new connection and succeeds; the
    session closes when Rasa's server stops."""
    run_check("sessions", "kept_connections")
