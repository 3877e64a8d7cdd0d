"""Bearer tokens for agents and the action server, kept only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

MIN_TOKEN_LENGTH = 16


def hash_token(token: str) -> str:
    """The form a token is stored in settings: 'sha256:<hex>'."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who made a request: an agent (by name) or the action server."""

    kind: Literal["agent", "service"]
    name: str


class Authenticator:
    """Matches a presented token against the configured hashes in constant time."""

    def __init__(self, agent_tokens: dict[str, str], service_token: str | None) -> None:
        self._entries: list[tuple[str, Principal]] = [
            (digest, Principal("agent", name)) for name, digest in agent_tokens.items()
        ]
        if service_token:
            self._entries.append((service_token, Principal("service", "action-server")))
        self._agents = {
            name: hashlib.sha256(digest.encode()).hexdigest()
            for name, digest in agent_tokens.items()
        }

    def credential(self, agent: str) -> str | None:
        """A fingerprint of the agent's configured token (None once the agent is removed); a
        session remembers it, so removing or changing the token ends the agent's sessions."""
        return self._agents.get(agent)

    def identify(self, token: str | None) -> Principal | None:
        """The principal a token belongs to, or None."""
        if not token:
            return None
        presented = hash_token(token)
        found = None
        for digest, principal in self._entries:
            if hmac.compare_digest(presented, digest):
                found = principal
        return found
