"""Conversation ids the server made: the widget asks for one, and the gateway takes no other.

An id is a body and a signature: 22 random URL-safe characters (128 bits) made by the server,
then the first 22 characters of the body's HMAC-SHA256 under a key derived from the session
secret. Checking one needs no database and no shared state, so every web worker accepts the ids
the others made, and an id a client made up (or guessed from another's) is refused. Tests and
benchmarks that must mark their traffic (insights_test_prefixes) sign a body of their own with
the same key, which only the server's operator has. Rotating the session secret retires every
id: the widget then asks for a new conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from bot.settings import Settings
from bot.tokens import session_secret

SIGNATURE_CHARS = 22  # 132 bits of the HMAC
BODY = re.compile(r"^[A-Za-z0-9_-]{1,42}$")  # a signed id stays within the 64 characters allowed
KEY_PURPOSE = b"tier0 conversation ids"


class ConversationIds:
    """Makes and checks signed conversation ids with one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def for_settings(cls, settings: Settings) -> ConversationIds:
        """The ids of the web app these settings describe (its session secret's)."""
        return cls(conversation_key(settings))

    def _signature(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:SIGNATURE_CHARS]

    def sign(self, body: str) -> str:
        """body followed by its signature (body: 1-42 letters, digits, '-' or '_')."""
        if not BODY.match(body):
            raise ValueError("a conversation id's body is 1-42 letters, digits, '-' or '_'")
        return body + self._signature(body)

    def new(self) -> str:
        """A new conversation id (a random body, signed)."""
        return self.sign(secrets.token_urlsafe(16))

    def made_here(self, conversation_id: str) -> bool:
        """True when this server (this key) made the id."""
        body, signature = conversation_id[:-SIGNATURE_CHARS], conversation_id[-SIGNATURE_CHARS:]
        if not BODY.match(body):
            return False
        return hmac.compare_digest(signature.encode(), self._signature(body).encode())


def conversation_key(settings: Settings) -> bytes:
    """The conversation ids' key: derived from the session secret, never the secret itself."""
    return hmac.new(session_secret(settings).encode(), KEY_PURPOSE, hashlib.sha256).digest()
