"""The one rule for a child process's environment, used by `bot up`, the tests and the benchmarks.

A child starts from this machine's basics (PATH, HOME, the locale, the temporary folder, model
caches, proxies and certificates, PostgreSQL's client variables) and never from the parent's
BOT_* variables: the settings a server gets are the ones its stack was planned with
(`settings_env`), plus what the caller passes explicitly. `bot up` reads its settings from the
developer's BOT_* variables and bot.toml, so its servers get them; a test's or a benchmark's stack
is planned from `own_stack_settings`, which reads neither, so a developer's BOT_WEB_PORT or
BOT_TRACKER_STORE_URL reaches none of its servers.

This module is where the stack reads os.environ; nothing else in bot.stack does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.settings import Settings
from bot.stack.paths import ROOT
from bot.stack.ports import free_port

# The parent's variables a child keeps, by name and by prefix; everything else is dropped.
INHERITED_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
        "LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
        "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    }
)  # fmt: skip
INHERITED_PREFIXES = (
    "LC_",  # the locale
    "XDG_",  # where caches and runtime files go
    "PYTHON",  # the interpreter's own switches (PYTHONHASHSEED, PYTHONWARNINGS, ...)
    "HF_",  # Hugging Face's model cache and offline switches
    "TRANSFORMERS_",
    "SENTENCE_TRANSFORMERS_",
    "TORCH_",
    "PG",  # libpq: PGHOST, PGPASSFILE, PGSSLMODE, ...
)
# What every Rasa process runs with: no telemetry, quiet TensorFlow, our plugins importable.
RASA_VARIABLES = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONPATH": str(ROOT),
}


def inherited_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's variables a child keeps (environ: default os.environ): the machine's basics,
    never a BOT_* setting."""
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if name in INHERITED_NAMES or name.startswith(INHERITED_PREFIXES)
    }


def child_env(
    assigned: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A child process's whole environment: inherited_env(environ), then what is assigned (the
    plan's variables and the caller's, BOT_* ones included)."""
    return {**inherited_env(environ), **(assigned or {})}


def rasa_env() -> dict[str, str]:
    """The environment of a Rasa command (train, validate, test, a server's base)."""
    return child_env(RASA_VARIABLES)


def settings_env(settings: Settings) -> dict[str, str]:
    """BOT_* variables that give a child process the same settings as this one."""
    env: dict[str, str] = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()  # to the child's environment, never its arguments
        elif isinstance(value, (dict, list)):
            text = json.dumps(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[f"BOT_{name.upper()}"] = text
    return env


class _ArgumentsOnly(Settings):
    """Settings read from the constructor's arguments alone."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[Settings],
        init_settings: Any,
        env_settings: Any,
        dotenv_settings: Any,
        file_secret_settings: Any,
    ) -> tuple[Any, ...]:
        """Only the arguments: no environment variable, no settings file."""
        return (init_settings,)


def isolated_settings(**fields: Any) -> Settings:
    """Settings from these fields and the defaults alone: no BOT_* variable, no settings file."""
    own = _ArgumentsOnly(**fields)
    return Settings.model_construct(_fields_set=set(own.model_fields_set), **dict(own))


def own_stack_settings(folder: Path, **fields: Any) -> Settings:
    """Settings for a stack of its own (tests, benchmarks): free ports, data in folder/var, and
    nothing of a developer's BOT_* variables or bot.toml; fields set what the caller asks for."""
    values: dict[str, Any] = {
        "settings_file": folder / "none.toml",
        "data_dir": folder / "var",
        "web_port": free_port(),
        "web_app_port": free_port(),
        "rasa_port": free_port(),
        "action_port": free_port(),
        "mail_port": free_port(),
        # nobody signs in to a test stack's inbox: its handoffs stay live (the queue) unless
        # the caller asks for the after-hours behaviour (after_hours_without_agents=True)
        "after_hours_without_agents": False,
        **fields,
    }
    return isolated_settings(**values)
