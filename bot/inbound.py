"""The rules every customer message follows, wherever it enters (chat gateway or Rasa channel).

Imported by the web app (.venv) and by the Rasa server's channels (rasa_plugins/, .venv-rasa), so
it uses the standard library only and runs on Python 3.10.
"""

from __future__ import annotations

import re

MAX_CHARS = 2000
# A conversation id (the widget's, or a channel's sender id): 8-64 letters, digits, '-' or '_'.
CONVERSATION_ID = r"^[A-Za-z0-9_-]{8,64}$"
# Sent with every call to Rasa: HAProxy hashes on it, so a conversation stays on one replica.
CONVERSATION_HEADER = "X-Conversation-Id"
# A button's payload: '/intent' or '/intent{json}'; EXTERNAL_* intents are for the server only.
PAYLOAD = re.compile(r"^/(?!EXTERNAL_)[A-Za-z_][\w]*(\{.*\})?$", re.DOTALL)


def payload_problem(payload: str) -> str | None:
    """Why a button payload is refused, or None when it is acceptable."""
    if not PAYLOAD.match(payload):
        return "payload must be '/intent' or '/intent{json}' (not an EXTERNAL_ one)"
    return None


def message_problem(message: str) -> str | None:
    """Why a message a channel received is refused, or None when it may reach the assistant.

    A message starting with '/' is a button payload and must be a valid one; any other message
    must have text and at most MAX_CHARS characters.
    """
    if not message or not message.strip():
        return "text must not be empty"
    if len(message) > MAX_CHARS:
        return f"text must be at most {MAX_CHARS} characters"
    if message.startswith("/"):
        return payload_problem(message)
    return None
