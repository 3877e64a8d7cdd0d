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
