"""The chat widget's gateway: send a message through Rasa's REST channel, read the conversation.

The widget talks to one origin, ours. A turn goes to Rasa's REST channel; the conversation the
widget shows is read back from Rasa's tracker (what the customer and the bot said, with each bot
message's buttons and metadata) merged with the handoff queue (an agent joining, agents' replies).
Rasa's API token and tracker never reach the browser, and malformed input stops here with a 4xx.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

import httpx
from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.handoff import HandoffQueue
from bot.handoff.queue import Ticket

MAX_CHARS = 2000
# Items this many seconds older than the widget's cursor come again (it drops the ids it has), so
# an agent's reply committed a moment after a newer bot event is never skipped.
OVERLAP_SECONDS = 10.0
CONVERSATION_ID = r"^[A-Za-z0-9_-]{8,64}$"
PAYLOAD = re.compile(r"^/(?!EXTERNAL_)[A-Za-z_][\w]*(\{.*\})?$", re.DOTALL)
# Payloads the widget sends from its own controls (not from a bot message's buttons).
WIDGET_PAYLOADS = {
    "/request_human": "Talk to a human",
    "/feedback_helpful": "That helped",
    "/feedback_not_helpful": "That didn't help",
}

ConversationId = Annotated[
    str,
    Path(
        pattern=CONVERSATION_ID,
        description="The widget's conversation id: 8-64 letters, digits, '-' or '_'.",
    ),
]


class ChatMessage(BaseModel):
    """What the customer sends: typed text, or a button's payload with its title."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field("", max_length=MAX_CHARS, description="What the customer typed or clicked.")
    payload: str | None = Field(
        None, max_length=500, description="A button's payload, e.g. /request_human."
    )

    @model_validator(mode="after")
    def _check(self) -> ChatMessage:
        if self.payload is not None and not PAYLOAD.match(self.payload):
            raise ValueError("payload must be '/intent' or '/intent{json}' (not an EXTERNAL_ one)")
        if self.payload is None and not self.text.strip():
            raise ValueError("text must not be empty")
        return self

    def rasa_message(self) -> str:
        """What Rasa receives. Typed text never starts with '/', so it can't force an intent."""
        if self.payload is not None:
            return self.payload
        return self.text.strip().lstrip("/").strip() or self.text.strip()


class RasaUnavailable(Exception):
    """The Rasa server did not answer."""


class RasaClient:
    """The two calls the gateway makes to Rasa: a REST turn and a tracker read."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.params = {"token": token} if token else {}
        self.client = httpx.Client(timeout=timeout)

    def send(self, conversation_id: str, message: str) -> list[dict]:
        return self._call(
            "POST",
            "/webhooks/rest/webhook",
            json={"sender": conversation_id, "message": message},
        )

    def events(self, conversation_id: str) -> list[dict]:
        tracker = self._call(
            "GET",
            f"/conversations/{conversation_id}/tracker",
            params={**self.params, "include_events": "ALL"},
        )
        return tracker.get("events") or []

    def _call(self, method: str, path: str, **kwargs) -> object:
        try:
            response = self.client.request(method, self.base_url + path, **kwargs)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise RasaUnavailable(f"{method} {path}: {exc}") from exc


def _is_external(event: dict) -> bool:
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
    return intent.startswith("EXTERNAL_") or (event.get("text") or "").startswith("EXTERNAL: ")


def tracker_items(events: list[dict]) -> list[dict]:
    """The customer's and the bot's messages from Rasa tracker events, in order.

    A button click is stored as its payload; it shows as the title of the button clicked.
    Intents an agent's action triggered (EXTERNAL_*) are not something the customer said.
    """
    titles = dict(WIDGET_PAYLOADS)
    items: list[dict] = []
    for number, event in enumerate(events):
        kind = event.get("event")
        if kind == "bot":
            data = event.get("data") or {}
            buttons = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in data.get("buttons") or []
            ]
            titles.update({b["payload"]: b["title"] for b in buttons})
            if not event.get("text") and not buttons:
                continue
            items.append(
                {
                    "id": f"e{number}",
                    "ts": float(event.get("timestamp") or 0),
                    "from": "bot",
                    "text": event.get("text") or "",
                    "buttons": buttons,
                    "meta": data.get("custom"),
                }
            )
        elif kind == "user" and not _is_external(event):
            text = event.get("text") or ""
            if text.startswith("/"):
                text = titles.get(text) or titles.get(text.split("{", 1)[0]) or ""
            if text:
                items.append(
                    {
                        "id": f"e{number}",
                        "ts": float(event.get("timestamp") or 0),
                        "from": "user",
                        "text": text,
                    }
                )
    return items


def _ts(moment: dt.datetime) -> float:
    return moment.timestamp()


def ticket_items(tickets: list[Ticket]) -> list[dict]:
    """What agents did that the customer sees: joining the chat and their replies."""
    items: list[dict] = []
    for ticket in tickets:
        if ticket.claimed_at and ticket.claimed_by:
            items.append(
                {
                    "id": f"t{ticket.id}-joined",
                    "ts": _ts(ticket.claimed_at),
                    "from": "system",
                    "text": f"{ticket.claimed_by} from our support team joined the chat.",
                }
            )
        for number, message in enumerate(ticket.transcript):
            if message["sender"] == "agent":
                items.append(
                    {
                        "id": f"t{ticket.id}-m{number}",
                        "ts": _ts(message["at"]),
                        "from": "agent",
                        "agent": ticket.claimed_by,
                        "text": message["text"],
                    }
                )
    return items


def handoff_state(queue: HandoffQueue, tickets: list[Ticket]) -> dict:
    """Who owns the conversation now: the bot, the queue (with the place in it), or an agent."""
    active = next((t for t in reversed(tickets) if t.status in ("open", "claimed")), None)
    if active is None:
        return {"state": "bot", "position": None, "agent": None, "ticket_id": None}
    if active.status == "claimed":
        return {
            "state": "agent",
            "position": None,
            "agent": active.claimed_by,
            "ticket_id": active.id,
        }
    return {
        "state": "waiting",
        "position": queue.position(active.id),
        "agent": None,
        "ticket_id": active.id,
    }


def build_router(queue: HandoffQueue, rasa: RasaClient) -> APIRouter:
    """Routes under /api/chat for the widget."""
    router = APIRouter(prefix="/api/chat", tags=["chat"])

    def conversation(conversation_id: str, after: float) -> dict:
        try:
            events = rasa.events(conversation_id)
        except RasaUnavailable as exc:
            raise HTTPException(503, "The assistant is not reachable right now.") from exc
        tickets = queue.for_conversation(conversation_id)
        items = sorted(tracker_items(events) + ticket_items(tickets), key=lambda i: i["ts"])
        cursor = max([after, *(i["ts"] for i in items)])
        return {
            "conversation_id": conversation_id,
            "items": [i for i in items if i["ts"] > after - OVERLAP_SECONDS] if after else items,
            "cursor": cursor,
            "handoff": handoff_state(queue, tickets),
        }

    @router.get("/{conversation_id}")
    def read(
        conversation_id: ConversationId,
        after: Annotated[
            float, Query(ge=0, description="The cursor of the last read; 0 for everything.")
        ] = 0,
    ) -> dict:
        """The conversation so far (or since a cursor) and who owns it now."""
        return conversation(conversation_id, after)

    @router.post("/{conversation_id}/messages")
    def send(
        conversation_id: ConversationId,
        message: ChatMessage,
        after: Annotated[
            float, Query(ge=0, description="The cursor of the last read; 0 for everything.")
        ] = 0,
    ) -> dict:
        """Send one customer message; the reply is the conversation since the cursor."""
        try:
            rasa.send(conversation_id, message.rasa_message())
        except RasaUnavailable as exc:
            raise HTTPException(503, "The assistant is not reachable right now.") from exc
        return conversation(conversation_id, after)

    return router
