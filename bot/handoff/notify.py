"""Side effects of queue changes: signed webhooks for new tickets, and resuming the bot."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from bot.inbound import CONVERSATION_HEADER
from bot.rasa_auth import RasaAuth

log = logging.getLogger(__name__)


def signature(secret: str, body: bytes) -> str:
    """The value of the X-Tier0-Signature header: 'sha256=' + HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def where(url: str) -> str:
    """A webhook's address fit for a log line: scheme and host only (a chat service's webhook
    URL often carries its secret in the path or the query)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/..."


def _deliver(post: Callable[[], httpx.Response], what: str, retries: int, backoff: float) -> bool:
    """Try a request, retrying with exponential backoff; never raises."""
    for attempt in range(retries + 1):
        try:
            response = post()
            if response.status_code < 300:
                return True
            problem = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            problem = f"{exc.__class__.__name__}: {exc}"
        if attempt < retries:
            time.sleep(backoff * 2**attempt)
    log.warning("%s failed after %d attempt(s): %s", what, retries + 1, problem)
    return False


class WebhookNotifier:
    """POSTs each new ticket to the configured URLs from a background thread."""

    def __init__(
        self,
        urls: list[str],
        secret: str | None,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.urls = urls
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def ticket_created(self, ticket: dict) -> threading.Thread | None:
        """Send the ticket to every URL without blocking the caller."""
        if not self.urls:
            return None
        body = json.dumps({"event": "ticket.created", "ticket": ticket}, default=str).encode()
        headers = {"Content-Type": "application/json", "X-Tier0-Event": "ticket.created"}
        if self.secret:
            headers["X-Tier0-Signature"] = signature(self.secret, body)
        thread = threading.Thread(target=self._send_all, args=(body, headers), daemon=True)
        thread.start()
        return thread

    def _send_all(self, body: bytes, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            for url in self.urls:
                delivery = {**headers, "X-Tier0-Delivery": uuid.uuid4().hex}
                _deliver(
                    lambda url=url, delivery=delivery: client.post(
                        url, content=body, headers=delivery
                    ),
                    f"webhook {where(url)}",
                    self.retries,
                    self.backoff,
                )


class RasaResumer:
    """Tells the Rasa server that an agent let go of a conversation, so the bot speaks again."""

    INTENTS = {
        "resolved": "EXTERNAL_handoff_resolved",
        "returned_to_bot": "EXTERNAL_handoff_returned",
    }

    def __init__(
        self, rasa_url: str, token: str | None = None, timeout: float = 5.0, retries: int = 3
    ) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries

    def ticket_closed(self, ticket: dict) -> threading.Thread:
        """Trigger the external intent in the ticket's conversation, in the background."""
        thread = threading.Thread(target=self._send, args=(ticket,), daemon=True)
        thread.start()
        return thread

    def _send(self, ticket: dict) -> bool:
        intent = self.INTENTS.get(ticket["status"])
        if intent is None:
            return False
        params = {"output_channel": "latest"}
        url = f"{self.rasa_url}/conversations/{ticket['conversation_id']}/trigger_intent"
        payload = {
            "name": intent,
            "entities": {"ticket_id": ticket["id"], "agent": ticket["claimed_by"]},
        }
        # Rasa's token signs the JWT in the Authorization header, never the URL httpx logs
        auth = RasaAuth(self.token) if self.token else None
        with httpx.Client(timeout=self.timeout, auth=auth) as client:
            return _deliver(
                lambda: client.post(
                    url,
                    params=params,
                    json=payload,
                    headers={CONVERSATION_HEADER: ticket["conversation_id"]},
                ),
                f"resuming conversation {ticket['conversation_id']}",
                self.retries,
                0.5,
            )
