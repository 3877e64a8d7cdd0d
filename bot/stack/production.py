"""What production mode demands before `bot up` starts anything public.

Demo mode (the default) makes a demo agent when no agent_tokens are set and, for it, sends the
inbox cookie over plain HTTP too: right on a laptop, wrong on the internet. Production mode
(`bot up --production`, or production = true in the settings) refuses to start instead, naming
each setting that is missing: real agents' token hashes, a session secret of the operator's
(not one generated into data_dir, which a restore or a copy of the folder would carry along),
and the Secure cookie flag.
"""

from __future__ import annotations

import re

from bot.settings import Settings

TOKEN_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
MIN_SECRET_CHARS = 32


def production_problems(settings: Settings) -> list[str]:
    """Each setting production mode needs and does not have, as a sentence that says how to
    set it (empty when the settings are fit for production)."""
    problems = []
    if not settings.agent_tokens:
        problems.append(
            "agent_tokens: no agents are set, so nobody could sign in to the inbox; add each "
            "agent's 'sha256:<hex>' from `bot handoff hash-token` (docs/agents.md)"
        )
    for name, digest in sorted(settings.agent_tokens.items()):
        if not TOKEN_HASH.match(digest):
            problems.append(
                f"agent_tokens['{name}']: not a 'sha256:<64 hex digits>' hash of a token; make "
                "one with `bot handoff hash-token`"
            )
    secret = settings.session_secret or ""
    if len(secret) < MIN_SECRET_CHARS:
        problems.append(
            f"session_secret: {'too short' if secret else 'not set'}; set BOT_SESSION_SECRET to "
            f"at least {MIN_SECRET_CHARS} random characters (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`)"
        )
    if not settings.cookie_secure:
        problems.append(
            "cookie_secure: false; the inbox cookie must go over HTTPS only (BOT_COOKIE_SECURE="
            "true, with TLS in front of the web app)"
        )
    return problems
