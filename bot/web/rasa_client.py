"""The chat gateway's calls to Rasa: one customer turn, and a message added to a conversation.

Rasa is reached at `rasa_url` (one Rasa server, or HAProxy in front of several); every call
carries the conversation id in CONVERSATION_HEADER, which HAProxy hashes on, and a short-lived
JWT made from Rasa's token in its Authorization header (bot.rasa_auth): never the token itself,
and nothing secret in a URL that httpx or a proxy logs.
"""

from __future__ import annotations

import time

import httpx

from bot.inbound import CONVERSATION_HEADER
from bot.rasa_auth import RasaAuth


class RasaUnavailable(Exception):
    """The Rasa server did not answer. retryable: the turn never reached a Rasa server, or the
    one it reached died (HAProxy's 502/503/504), so it may be sent again once it is known not to
    have been handled."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


KEPT_CONNECTIONS = 64

# HAProxy's "the server died" (502) and "no server" (503); not 504: that turn may still run
RETRYABLE_STATUS = frozenset({502, 503})


class RasaClient:
    """The gateway's calls to Rasa (or HAProxy in front of its replicas), authenticated with a
    JWT signed by Rasa's token, and the conversation id in CONVERSATION_HEADER."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout: float = 30.0,
        actions_health_url: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # keep as many idle connections as turns can be in flight (the web app runs up to 40
        # at once, in its thread pool): with httpx's default of 20, a busy gateway closed a
        # connection after each turn and opened another, at a cost to it, HAProxy and Rasa
        self.client = httpx.Client(
            timeout=timeout,
            auth=RasaAuth(token),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=KEPT_CONNECTIONS),
        )
        self.actions_health_url = actions_health_url

    def send(
        self,
        conversation_id: str,
        message: str,
        title: str | None = None,
        message_id: str | None = None,
        client: str | None = None,
        timezone: str | None = None,
    ) -> list[dict]:
        """One customer turn; the bot's messages for it. A button's title goes as metadata, so
        the conversation shows what the customer clicked; message_id too, so a turn sent again
        after a server died can be recognised as already handled; client, the stand-in for the
        customer's address that tickets are counted by (bot.web.limits.client_key); and the
        customer's time zone for the handoff's "back at" time."""
        body: dict = {"sender": conversation_id, "message": message}
        given = (
            ("title", title),
            ("message_id", message_id),
            ("client", client),
            ("timezone", timezone),
        )
        metadata = {k: v for k, v in given if v}
        if metadata:
            body["metadata"] = metadata
        try:
            response = self.client.post(
                self.base_url + "/webhooks/rest/webhook",
                json=body,
                headers={CONVERSATION_HEADER: conversation_id},
            )
        except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
            raise RasaUnavailable(f"POST /webhooks/rest/webhook: {exc}", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"POST /webhooks/rest/webhook: {exc}") from exc
        if response.status_code >= 400:
            raise RasaUnavailable(
                f"POST /webhooks/rest/webhook: HTTP {response.status_code}",
                retryable=response.status_code in RETRYABLE_STATUS,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise RasaUnavailable(f"POST /webhooks/rest/webhook: {exc}") from exc

    def actions_down(self) -> bool:
        """True when the action server does not answer its health check."""
        if not self.actions_health_url:
            return False
        try:
            return httpx.get(self.actions_health_url, timeout=2).status_code != 200
        except httpx.HTTPError:
            return True

    def say(
        self,
        conversation_id: str,
        text: str,
        buttons: list[dict],
        meta: dict,
        then: list[dict] | None = None,
    ) -> None:
        """Add a bot message to the conversation (Rasa's tracker API), so it stays in it, then
        the events `then` (slots), and close the turn with action_listen: Rasa counts the
        actions since the last one, and a turn whose actions all failed would otherwise trip
        its circuit breaker on every later turn."""
        now = time.time()
        events = [
            {
                "event": "bot",
                "text": text,
                "timestamp": now,
                "data": {"buttons": buttons, "custom": meta},
            },
            *[{**e, "timestamp": now} for e in then or []],
            {"event": "action", "name": "action_listen", "timestamp": now},
        ]
        try:
            response = self.client.post(
                f"{self.base_url}/conversations/{conversation_id}/tracker/events",
                params={"include_events": "NONE"},
                json=events,
                headers={CONVERSATION_HEADER: conversation_id},
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"POST /conversations/.../tracker/events: {exc}") from exc
