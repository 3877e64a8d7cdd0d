"""Production mode: `bot up --production` refuses to start without what the internet needs, and
says which settings are missing; demo mode says it is one."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from bot.handoff.auth import hash_token
from bot.settings import Settings
from bot.stack import production_problems

SECRET = "x" * 48


def _settings(**fields) -> Settings:
    return Settings(settings_file=Path("/nonexistent"), **fields)


def test_fit_settings_have_no_problem() -> None:
    fit = _settings(agent_tokens={"dana": hash_token("a" * 32)}, session_secret=SECRET)
    assert production_problems(fit) == []


def test_each_missing_setting_is_named_with_how_to_set_it() -> None:
    problems = production_problems(_settings(cookie_secure=False))
    assert [p.split(":")[0] for p in problems] == [
        "agent_tokens",
        "session_secret",
        "cookie_secure",
    ]
    assert "bot handoff hash-token" in problems[0] and "BOT_SESSION_SECRET" in problems[1]
    weak = production_problems(_settings(agent_tokens={"dana": "letmein"}, session_secret="short"))
    assert weak[0].startswith("agent_tokens['dana']: not a 'sha256:")
    assert weak[1].startswith("session_secret: too short")


def test_bot_up_production_refuses_to_start_and_names_the_settings(tmp_path: Path) -> None:
    env = {"BOT_SETTINGS_FILE": str(tmp_path / "none.toml"), "BOT_DATA_DIR": str(tmp_path / "var")}
    result = CliRunner().invoke(app, ["up", "--production"], env=env)
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "production mode refuses to start" in said
    assert "agent_tokens" in said and "session_secret" in said
    assert not (tmp_path / "var").exists()  # nothing was started or written
    also = CliRunner().invoke(app, ["up"], env={**env, "BOT_PRODUCTION": "true"})
    assert also.exit_code == 1 and "production mode refuses" in " ".join(also.output.split())
