"""Internal tokens shared by the web app, Rasa and the action server, generated once per data_dir.

Rasa's HTTP API and REST channel require `rasa_token`; the action server requires `action_token`.
A configured value wins; otherwise the token is made on first use and kept in a private file
under `data_dir` (like the inbox's cookie key), so every process started with the same settings
agrees on it and a restart keeps it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from bot.settings import Settings

TokenName = Literal["rasa", "action"]


def internal_token(settings: Settings, name: TokenName) -> str:
    """The configured token, or the one generated (once) in data_dir/<name>.token."""
    configured = settings.rasa_token if name == "rasa" else settings.action_token
    if configured:
        return configured
    return stored_secret(settings.data_dir / f"{name}.token")


def stored_secret(path: Path, nbytes: int = 32) -> str:
    """Read a secret kept in a file, creating it (nbytes random bytes, mode 0600, whole or not
    at all) when it is missing: internal tokens, the cookie key, the demo agent's token."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(nbytes) + "\n")
        try:
            os.link(draft, path)  # fails if another process published its token first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    token = path.read_text().strip()
    if not token:
        raise RuntimeError(f"{path} is empty; delete it and it will be made again")
    return token


def session_secret(settings: Settings) -> str:
    """The inbox cookie's signing key (and the root of the conversation ids' key): from
    settings, or generated once and kept in data_dir/session.key."""
    if settings.session_secret:
        return settings.session_secret
    return stored_secret(settings.data_dir / "session.key", nbytes=48)
