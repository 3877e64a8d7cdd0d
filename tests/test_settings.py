"""Settings: defaults, a TOML file, and environment variables over the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings, load_settings


def test_defaults_point_at_the_demo_layout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.kb_dir == Path("kb_articles") and settings.index_dir == Path("index")
    assert settings.embedding_model == "all-MiniLM-L6-v2"


def test_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "bot.toml"
    file.write_text('embedding_model = "/models/custom"\nweb_port = 9000\n')
    monkeypatch.setenv("BOT_SETTINGS_FILE", str(file))
    assert load_settings().embedding_model == "/models/custom"
    monkeypatch.setenv("BOT_WEB_PORT", "9100")
    assert load_settings().web_port == 9100
    assert load_settings(web_port=9200).web_port == 9200


def test_invalid_values_are_rejected_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_WEB_PORT", "not-a-port")
    with pytest.raises(ValueError, match="web_port"):
        Settings()


def test_a_child_process_gets_the_same_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot.stack import settings_env

    parent = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=tmp_path / "var",
        rasa_port=6006,
        widget_origins=["https://shop.test"],
        agent_tokens={"alice": "sha256:abc"},
        rasa_socketio=True,
    )
    for name, value in settings_env(parent).items():
        monkeypatch.setenv(name, value)
    child = load_settings()
    assert child.model_dump() == parent.model_dump()


def test_internal_servers_are_private_and_tokens_are_made_once(tmp_path: Path) -> None:
    from bot.tokens import internal_token

    settings = Settings(settings_file=tmp_path / "none.toml", data_dir=tmp_path / "var")
    assert settings.rasa_host == settings.action_host == "127.0.0.1"
    assert settings.widget_origins == [] and settings.rasa_socketio is False
    token = internal_token(settings, "rasa")
    assert len(token) >= 40 and internal_token(settings, "rasa") == token
    assert internal_token(settings, "action") != token
    assert (tmp_path / "var" / "rasa.token").stat().st_mode & 0o777 == 0o600
    configured = settings.model_copy(update={"rasa_token": "set-by-the-operator"})
    assert internal_token(configured, "rasa") == "set-by-the-operator"
