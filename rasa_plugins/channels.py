"""Rasa input channels that take only what the chat gateway would let through.

- `TokenRestInput` is Rasa's REST channel (same URL, /webhooks/rest/webhook) that answers 401
  unless the request carries `Authorization: Bearer <JWT>` signed with rasa_token and not expired
  (bot.rasa_auth, the same header Rasa's HTTP API takes): the web app's gateway has the token,
  nobody else does.
- `CheckedSocketIOInput` is Rasa's socket.io channel, off unless `rasa_socketio` is set.
- Both refuse what the gateway refuses (bot.inbound): empty or overlong text, a conversation id
  outside 8-64 letters, digits, '-' or '_', and payloads that are not '/intent' or that trigger an
  EXTERNAL_* intent, which only the server may send (an agent resolving a chat).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request

from bot.inbound import CONVERSATION_ID, message_problem
from bot.rasa_auth import bearer

logger = logging.getLogger(__name__)

CONVERSATION_ID_PATTERN = re.compile(CONVERSATION_ID)
REFUSED = "Sorry, I couldn't read that message. Please type your question again."
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def refusal(message: UserMessage) -> str | None:
    """Why a message must not reach the assistant, or None."""
    if not CONVERSATION_ID_PATTERN.match(message.sender_id or ""):
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
    """Rasa's REST channel behind a JWT signed with the token, with the gateway's checks."""

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
            if bearer(request.headers.get("Authorization", ""), self.token) is None:
                return response.json(
                    {
                        "error": "missing, wrong or expired token: send 'Authorization: Bearer "
                        "<JWT signed with the Rasa token>'"
                    },
                    status=401,
                )
            return None

        return webhook


class CustomJsonSocketIOOutput(SocketIOOutput):
    """Rasa 3.6's socket.io output, except that a custom payload (our turn metadata) is sent as
    {"custom": ...}; Rasa's own passes its keys to emit() and fails, losing the turn."""

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._send_message(recipient_id, {"custom": json_message})


class CheckedSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with the gateway's message checks."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        async def with_custom_json(message: UserMessage) -> Any:
            output = message.output_channel
            if isinstance(output, SocketIOOutput):
                message.output_channel = CustomJsonSocketIOOutput(
                    output.sio, output.bot_message_evt
                )
            return await on_new_message(message)

        webhook = super().blueprint(checked(with_custom_json))
        sio = self.sio

        # Rasa 3.6 calls the now-async enter_room without awaiting it, so the session's room is
        # never joined and no reply reaches the customer; this handler replaces Rasa's.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            data = data or {}
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, data["session_id"], namespace=self.namespace)
            await sio.emit("session_confirm", data["session_id"], room=sid)

        return webhook
