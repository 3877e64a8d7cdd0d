"""The one rule for a child's environment: the machine's basics and the stack's own settings,
never a developer's BOT_* variables unless the caller passes them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.stack.env import child_env, isolated_settings, own_stack_settings, rasa_env
from bot.stack.paths import ROOT
from bot.stack.plan import ServerSpec, Tokens, plan_stack
from bot.stack.process import spawn

DEVELOPER = {
    "BOT_WEB_PORT": "1234",
    "BOT_TRACKER_STORE_URL": "postgresql+psycopg://prod.example/tier0",
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/dev",
    "LC_ALL": "C.UTF-8",
    "HF_HOME": "/cache/hf",
    "AWS_SECRET_ACCESS_KEY": "nope",
}


def test_a_child_keeps_the_machines_basics_and_drops_every_bot_variable() -> None:
    env = child_env({}, environ=DEVELOPER)
    assert env == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/dev",
        "LC_ALL": "C.UTF-8",
        "HF_HOME": "/cache/hf",
    }
    asked = child_env({"BOT_WEB_PORT": "4321"}, environ=DEVELOPER)
    assert asked["BOT_WEB_PORT"] == "4321"  # what the caller assigns is what the child gets


def test_a_developers_settings_do_not_reach_a_test_stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in DEVELOPER.items():
        if name.startswith("BOT_"):
            monkeypatch.setenv(name, value)
    settings = own_stack_settings(tmp_path)
    assert settings.web_port != 1234 and settings.tracker_store_url is None
    plan = plan_stack(settings, tmp_path / "model.tar.gz", tmp_path, Tokens("r", "a"))
    for spec in plan:
        env = child_env(spec.env)
        assert env["BOT_WEB_PORT"] == str(settings.web_port), spec.name
        assert "BOT_TRACKER_STORE_URL" not in env, spec.name
    assert "BOT_WEB_PORT" not in rasa_env() and rasa_env()["PYTHONPATH"] == str(ROOT)


def test_a_test_stack_gets_a_bot_setting_when_it_asks(tmp_path: Path) -> None:
    settings = own_stack_settings(tmp_path, web_port=1234)
    plan = plan_stack(
        settings, tmp_path / "m.tar.gz", tmp_path, Tokens("r", "a"), env={"BOT_NLU_WEIGHT": "0.5"}
    )
    web = child_env(plan[-1].env)
    assert web["BOT_WEB_PORT"] == "1234" and web["BOT_NLU_WEIGHT"] == "0.5"


def test_bot_ups_settings_from_the_environment_reach_its_servers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_WEB_PORT", "1234")
    settings = Settings(settings_file=tmp_path / "none.toml", data_dir=tmp_path / "var")
    web = plan_stack(settings, tmp_path / "m.tar.gz", tmp_path, Tokens("r", "a"), roles=("web",))
    assert child_env(web[0].env)["BOT_WEB_PORT"] == "1234"


def test_own_settings_read_neither_the_environment_nor_a_settings_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_NLU_WEIGHT", "0.9")
    toml = tmp_path / "bot.toml"
    toml.write_text("answer_threshold = 0.99\n")
    settings = isolated_settings(settings_file=toml, data_dir=tmp_path / "var")
    assert type(settings) is Settings
    assert settings.nlu_weight == Settings.model_fields["nlu_weight"].default
    assert settings.answer_threshold == Settings.model_fields["answer_threshold"].default
    assert settings.model_fields_set == {"settings_file", "data_dir"}


def test_a_started_process_sees_the_rule_not_the_parents_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BOT_WEB_PORT", "1234")
    script = "import json, os; print(json.dumps(dict(os.environ)))"
    spec = ServerSpec(
        "printer",
        (sys.executable, "-c", script),
        {"BOT_DATA_DIR": "/srv/own"},
        "http://127.0.0.1:1",
        tmp_path / "printer.log",
        "/",
    )
    server = spawn(spec)
    try:
        server.process.wait(timeout=30)
    finally:
        server.stop()
    deadline = time.monotonic() + 5
    while not server.output().strip() and time.monotonic() < deadline:
        time.sleep(0.1)
    seen = json.loads(server.output())
    assert "BOT_WEB_PORT" not in seen and seen["BOT_DATA_DIR"] == "/srv/own"
    assert seen["PATH"]
