"""Rasa input channels that take only what the chat gateway would let through.

- `TokenRestInput` is Rasa's REST channel (same URL, /webhooks/rest/webhook) that answers 401
  unless the request carries `Authorization: Bearer <rasa_token>`: the web app's gateway has the
  token, nobody else does.
- `CheckedSocketIOInput` is Rasa's socket.io channel, off unless `rasa_socketio` is set.
- Both refuse what the gateway refuses (bot.inbound): empty or overlong text, a conversation id
  outside 8-64 letters, digits, '-' or '_', and payloads that are not '/intent' or that trigger an
  EXTERNAL_* intent, which only the server may send (an agent resolving a chat).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint, response
from sanic.request import Request

from bot.inbound import message_problem

logger = logging.getLogger(__name__)

CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
REFUSED = "Sorry, I couldn't read that message. Please type your question again."
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def refusal(message: UserMessage) -> str | None:
    """Why a message must not reach the assistant, or None."""
    if not CONVERSATION_ID.match(message.sender_id or ""):
        return "conversation id must be 8-64 letters, digits, '-' or '_'"
    return message_problem(message.text or "")


def checked(on_new_message: OnNewMessage) -> OnNewMessage:
    """Wrap a channel's message handler so refused messages never reach the assistant."""

    async def handle(message: UserMessage) -> Any:
        problem = refusal(message)
        if problem is None:
            return await on_new_message(message)
        logger.warning(f"channel refused a message ({problem})")
        await message.output_channel.send_text_message(message.sender_id, REFUSED)
        return None

    return handle


class TokenRestInput(RestInput):
    """Rasa's REST channel behind a bearer token, with the gateway's message checks."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("TokenRestInput needs a token (credentials.yml: token)")
        self.token = token

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TokenRestInput:
        return cls((credentials or {}).get("token") or "")

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = super().blueprint(checked(on_new_message))

        @webhook.middleware("request")
        async def require_token(request: Request) -> Any:
            sent = request.headers.get("Authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {self.token}".encode()):
                return response.json(
                    {"error": "missing or wrong token: send 'Authorization: Bearer <token>'"},
                    status=401,
                )
            return None

        return webhook


class CheckedSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with the gateway's message checks."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return super().blueprint(checked(on_new_message))
