"""The chat widget's gateway: send a message through Rasa's REST channel, read the conversation.

The widget talks to one origin, ours. A turn goes to Rasa's REST channel (with Rasa's token); the
conversation the widget shows is read back from Rasa's tracker store (bot.conversations: what the
customer and the bot said, with each bot message's buttons and metadata; only what is new since
the widget's cursor) merged with the handoff queue (an agent joining, agents' replies, and once
an agent resolved the conversation's ticket, "How did we do?" until the customer rates it, which
they do here too). Rasa's token and tracker never reach the browser, and malformed input stops
here with a 4xx. Each turn is logged on one line (conversation id, outcome, time; never the
customer's text).

Conversation ids are made here (POST /api/chat/conversations, signed: bot.web.conversation_ids);
an id the server did not make gets 403, and the widget asks for a new one. Messages, new
conversations and a conversation's length are rate-limited (bot.web.limits): 429 with
Retry-After, and 409 once a conversation holds conversation_max_messages (the widget then
starts a new one). A first read returns at most history_max_items, the newest, and says how
many earlier ones it left out.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.conversations import WIDGET_PAYLOADS, ConversationLog, ConversationStoreUnavailable
from bot.handoff import HandoffQueue, TicketConflict, TicketNotFound
from bot.handoff.queue import Rating, Ticket
from bot.inbound import CONVERSATION_ID, MAX_CHARS, payload_problem
from bot.web.conversation_ids import ConversationIds
from bot.web.limits import RateLimits, TooManyRequests, client_address, client_key
from bot.web.outage import Outage
from bot.web.rasa_client import RasaClient, RasaUnavailable

logger = logging.getLogger("bot.turns")
# Items this many seconds older than the widget's cursor come again (it drops the ids it has), so
# an agent's reply committed a moment after a newer bot event is never skipped.
OVERLAP_SECONDS = 10.0
# A turn whose Rasa server died is sent again for this long (HAProxy notices a dead server
# within about two seconds; a lock the dead server held lapses after lock_lifetime_seconds).
RETRY_SECONDS = 20.0
RETRY_PAUSE_SECONDS = 0.5
# How far back a re-sent message is looked for in its conversation.
HANDLED_WINDOW_SECONDS = 3600.0
MAX_CURSOR = 253402300799.0  # 9999-12-31T23:59:59Z
# "How did we do?" follows the bot's message that the agent resolved the request; if that message
# has not come this long after the resolution (Rasa slow or down), the question comes without it.
RATE_WAIT_SECONDS = 5.0
CLOCK_SLACK_SECONDS = 2.0  # Rasa's clock and ours may differ a little
# Payloads the widget sends from its own controls (not from a bot message's buttons).

# A cursor is a Unix time; past the year 9999 (or inf, NaN) it is no cursor but a mistake.
Cursor = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_CURSOR,
        allow_inf_nan=False,
        description="The cursor of the last read (a time); 0 for everything.",
    ),
]
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

    message_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="The widget's id of this message, the same on every re-send of it.",
    )
    timezone: str | None = Field(
        None,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-/]+$",
        description="The customer's IANA time zone (the widget sends it), so the bot says when "
        "people are back in the customer's time.",
    )
    resend: bool = Field(
        False,
        description="True when this message was sent before without an answer: if the bot "
        "already has it, it is not handled again.",
    )

    @model_validator(mode="after")
    def _check(self) -> ChatMessage:
        # A NUL is never something a customer meant, and PostgreSQL cannot store one.
        self.text = self.text.replace("\x00", "")
        if self.payload is not None:
            self.payload = self.payload.replace("\x00", "")
        problem = payload_problem(self.payload) if self.payload is not None else None
        if problem:
            raise ValueError(problem)
        if self.payload is None and not self.text.strip():
            raise ValueError("text must not be empty")
        return self

    def rasa_message(self) -> str:
        """What Rasa receives. Typed text never starts with '/', so it can't force an intent."""
        if self.payload is not None:
            return self.payload
        return self.text.strip().lstrip("/").strip() or self.text.strip()


class AsciiValidationErrors(APIRoute):
    """A 422 that echoes the input even when it is no valid Unicode: JSON may carry a lone
    surrogate ("\\ud800"), which FastAPI's own 422 fails to encode, answering 500 instead."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
                return Response(body, 422, media_type="application/json")

        return route


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
        number = event.get("row", number)
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
                title = (event.get("metadata") or {}).get("title")
                text = title or titles.get(text) or titles.get(text.split("{", 1)[0]) or ""
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


def _holders(ticket: Ticket) -> list[tuple[dt.datetime, str, str]]:
    """(when, agent, how) for each time the ticket changed hands: 'claimed' or 'taken_over'."""
    return [
        (e["at"], e["actor"], e["kind"])
        for e in ticket.events
        if e["kind"] in ("claimed", "taken_over") and e["at"] is not None
    ]


def _holder_at(holders: list[tuple[dt.datetime, str, str]], at: dt.datetime | None) -> str | None:
    """Who held the ticket at a moment: agents write only into tickets they hold."""
    if at is None:
        return None
    return next((agent for when, agent, _ in reversed(holders) if when <= at), None)


def ticket_items(tickets: list[Ticket]) -> list[dict]:
    """What agents did that the customer sees: joining the chat, taking it over from another
    agent, and their replies, each under the name of the agent who wrote it."""
    items: list[dict] = []
    for ticket in tickets:
        holders = _holders(ticket)
        first = next((agent for _, agent, kind in holders if kind == "claimed"), None)
        if ticket.claimed_at and ticket.claimed_by:
            items.append(
                {
                    "id": f"t{ticket.id}-joined",
                    "ts": _ts(ticket.claimed_at),
                    "from": "system",
                    "text": f"{first or ticket.claimed_by} from our support team joined the chat.",
                }
            )
        for number, (when, agent, kind) in enumerate(holders):
            if kind == "taken_over":
                items.append(
                    {
                        "id": f"t{ticket.id}-over{number}",
                        "ts": _ts(when),
                        "from": "system",
                        "text": f"{agent} from our support team took over the chat.",
                    }
                )
        for number, message in enumerate(ticket.transcript):
            if message["sender"] == "agent":
                items.append(
                    {
                        "id": f"t{ticket.id}-m{number}",
                        # a line without a recorded time sorts with the ticket's last change
                        "ts": _ts(message["at"] or ticket.updated_at),
                        "from": "agent",
                        "agent": _holder_at(holders, message["at"]) or ticket.claimed_by,
                        "text": message["text"],
                    }
                )
    return items


def _resolved_message_at(said: list[dict], resolved_at: float) -> float | None:
    """When the bot told the customer that an agent resolved their request (at or after
    resolved_at), among the tracker items read; None if it is not among them."""
    return next(
        (
            item["ts"]
            for item in said
            if item["from"] == "bot"
            and (item.get("meta") or {}).get("state") == "bot_back"
            and (item.get("meta") or {}).get("resolved")
            and item["ts"] >= resolved_at - CLOCK_SLACK_SECONDS
        ),
        None,
    )


def rating_items(tickets: list[Ticket], said: list[dict], now: float) -> list[dict]:
    """The question "How did we do?" for the conversation's latest resolved ticket while it is
    unrated, and what the customer gave each rated ticket.

    said: the tracker items read with them; each item goes right after the bot's message that the
    request was resolved (so it reads in that order after a reload as well). The question waits
    for that message up to RATE_WAIT_SECONDS. Only the latest resolved ticket can be rated (that
    is the one POST .../csat rates), so an older unrated one asks nothing.
    """
    resolved = [t for t in tickets if t.status == "resolved" and t.resolved_at]
    items: list[dict] = []
    for ticket in resolved:
        latest = ticket is resolved[-1]
        if ticket.csat_score is None and not latest:
            continue
        at = _ts(ticket.resolved_at)
        told = _resolved_message_at(said, at)
        if ticket.csat_score is None and told is None and now - at < RATE_WAIT_SECONDS:
            continue
        ts = told + 0.001 if told is not None else at
        if ticket.csat_score is None:
            items.append(
                {
                    "id": f"t{ticket.id}-rate",
                    "ts": ts,
                    "from": "rate",
                    "ticket_id": ticket.id,
                    "agent": ticket.claimed_by,
                    "text": "How did we do?",
                }
            )
        else:
            items.append(
                {
                    "id": f"t{ticket.id}-rated",
                    "ts": ts,
                    "from": "system",
                    "text": rated_text(ticket.csat_score),
                }
            )
    return items


def rated_text(score: int) -> str:
    """What the conversation shows once the customer rated a ticket."""
    return f"You rated this chat {score} out of 5. Thank you for your feedback!"


def handoff_state(queue: HandoffQueue, tickets: list[Ticket]) -> dict:
    """Who owns the conversation now: the bot, the queue (with the place in it), an agent, or
    the team by email (a ticket opened after hours)."""
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
    if active.after_hours:  # nobody on shift: no queue place, the answer comes by email
        return {"state": "email", "position": None, "agent": None, "ticket_id": active.id}
    return {
        "state": "waiting",
        "position": queue.position(active.id),
        "agent": None,
        "ticket_id": active.id,
    }


def _agent_owns(queue: HandoffQueue, conversation_id: str) -> bool:
    """True while a ticket of the conversation is open or claimed (the bot is quiet then)."""
    return handoff_state(queue, queue.for_conversation(conversation_id))["state"] != "bot"


def outcome_of(messages: list[dict]) -> dict:
    """The turn's metadata: the last custom payload among the bot's messages."""
    return next((m["custom"] for m in reversed(messages) if isinstance(m.get("custom"), dict)), {})


class ConversationJSON(JSONResponse):
    """The conversation in the bytes FastAPI wrote for it (pydantic's JSON serialiser; NaN and
    infinities as null), without FastAPI's validation pass over the returned dict first, which
    ran in another trip through the thread pool on every poll and turn. The routes keep
    `response_model=dict` for their OpenAPI schema; a Response returned is sent as it is."""

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, inf_nan_mode="null")


@dataclass(frozen=True)
class Guard:
    """What stands between the public and a conversation: whose ids are valid, the rate limits,
    the key behind client_key, and how much history a first read returns."""

    ids: ConversationIds
    limits: RateLimits
    client_secret: str = field(repr=False)
    history_max_items: int = 200

    def made_here(self, conversation_id: str) -> None:
        """403 for a conversation id this server did not make."""
        if not self.ids.made_here(conversation_id):
            raise HTTPException(
                403,
                "This conversation id was not made by this server: start a conversation with "
                "POST /api/chat/conversations.",
            )


def build_router(
    queue: HandoffQueue, rasa: RasaClient, log: ConversationLog, guard: Guard
) -> APIRouter:
    """Routes under /api/chat for the widget."""
    router = APIRouter(prefix="/api/chat", tags=["chat"], route_class=AsciiValidationErrors)
    outage = Outage(queue, rasa, log)
    refusals = {
        403: {"description": "The conversation id was not made by this server."},
        429: {"description": "Over a rate limit; Retry-After says when to try again."},
    }

    @router.post("/conversations", status_code=201, responses={429: refusals[429]})
    def new_conversation(request: Request) -> dict:
        """A new conversation id, made and signed by the server (the only ids it accepts)."""
        guard.limits.new_conversation(request)
        return {"conversation_id": guard.ids.new()}

    def conversation(conversation_id: str, after: float) -> dict:
        since = after - OVERLAP_SECONDS if after else None
        try:
            events = log.events(conversation_id, since)
        except ConversationStoreUnavailable as exc:
            logger.error("conversation store unreadable: %s", exc)
            raise HTTPException(503, "The conversation store is not reachable right now.") from exc
        tickets = queue.for_conversation(conversation_id)
        said = tracker_items(events)
        items = sorted(
            said + ticket_items(tickets) + rating_items(tickets, said, time.time()),
            key=lambda i: i["ts"],
        )
        cursor = max([after, *(i["ts"] for i in items)])
        shown = [i for i in items if i["ts"] > since] if since is not None else items
        # a first read of a very long conversation: its newest items (a poll gets all new ones)
        earlier = 0 if after else max(0, len(shown) - guard.history_max_items)
        return {
            "conversation_id": conversation_id,
            "items": shown[earlier:],
            "earlier": earlier,
            "cursor": cursor,
            "handoff": handoff_state(queue, tickets),
        }

    @router.get(
        "/{conversation_id}",
        response_model=dict,
        response_class=ConversationJSON,
        responses={403: refusals[403]},
    )
    def read(
        conversation_id: ConversationId,
        after: Cursor = 0,
    ) -> ConversationJSON:
        """The conversation so far (or since a cursor; at most history_max_items of it, the
        newest, with `earlier` saying how many were left out) and who owns it now."""
        guard.made_here(conversation_id)
        return ConversationJSON(conversation(conversation_id, after))

    def deliver(
        conversation_id: str, message: ChatMessage, title: str | None, client: str | None = None
    ) -> list[dict]:
        """Send one turn to Rasa exactly once. A message the widget sends again (no answer the
        first time) is not sent when the conversation already holds it. When the Rasa server
        that took a turn died (or none could be reached), it goes again to another, unless the
        conversation already holds it (the server died after storing the turn): then its
        replies are in the conversation."""
        message_id = message.message_id or uuid.uuid4().hex
        if message.resend and message.message_id and handled(conversation_id, message_id):
            return []
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                return rasa.send(
                    conversation_id,
                    message.rasa_message(),
                    title,
                    message_id,
                    client,
                    message.timezone,
                )
            except RasaUnavailable as exc:
                if exc.retryable and handled(conversation_id, message_id):
                    return []
                if not exc.retryable or time.monotonic() > deadline:
                    logger.warning(
                        "turn conversation=%s outcome=unavailable: %s", conversation_id, exc
                    )
                    raise HTTPException(503, "The assistant is not reachable right now.") from exc
                logger.info("turn conversation=%s sent again: %s", conversation_id, exc)
                time.sleep(RETRY_PAUSE_SECONDS)

    def handled(conversation_id: str, message_id: str) -> bool:
        """True when the conversation holds this message (looked for in the last
        HANDLED_WINDOW seconds of it, so a clock that differs a little does not matter)."""
        try:
            events = log.events(conversation_id, time.time() - HANDLED_WINDOW_SECONDS)
        except ConversationStoreUnavailable:
            return False
        return any(
            e.get("event") == "user" and (e.get("metadata") or {}).get("message_id") == message_id
            for e in events
        )

    @router.post(
        "/{conversation_id}/messages",
        response_model=dict,
        response_class=ConversationJSON,
        responses={
            **refusals,
            409: {"description": "The conversation is full: start a new one."},
        },
    )
    def send(
        request: Request,
        conversation_id: ConversationId,
        message: ChatMessage,
        after: Cursor = 0,
    ) -> ConversationJSON:
        """Send one customer message; the reply is the conversation since the cursor."""
        started = time.perf_counter()
        guard.made_here(conversation_id)
        try:
            guard.limits.message(request, conversation_id)
        except TooManyRequests as exc:
            if exc.refused.limit is guard.limits.length:
                raise HTTPException(
                    409,
                    f"This conversation has reached its {exc.refused.limit.count} messages: "
                    "start a new conversation.",
                ) from exc
            raise
        title = (message.text.strip() or None) if message.payload is not None else None
        client = client_key(guard.client_secret, client_address(request))
        replies = deliver(conversation_id, message, title, client)
        if not replies and not _agent_owns(queue, conversation_id) and rasa.actions_down():
            try:
                outage.reply(conversation_id)  # not silence: an apology, or the person asked for
            except (RasaUnavailable, ConversationStoreUnavailable) as exc:
                raise HTTPException(503, "The assistant is not reachable right now.") from exc
        meta = outcome_of(replies)
        logger.info(
            "turn conversation=%s outcome=%s article=%s intent=%s ms=%.0f",
            conversation_id,
            meta.get("outcome", "none"),
            meta.get("article_id") or "-",
            meta.get("intent") or "-",
            (time.perf_counter() - started) * 1000,
        )
        return ConversationJSON(conversation(conversation_id, after))

    @router.post(
        "/{conversation_id}/csat",
        status_code=201,
        responses={
            403: refusals[403],
            404: {"description": "The conversation has no resolved ticket to rate."},
            409: {"description": "Its latest resolved ticket is already rated."},
        },
    )
    def rate(conversation_id: ConversationId, rating: Rating) -> dict:
        """Rate the help of the conversation's latest resolved ticket, once (1-5, a comment)."""
        guard.made_here(conversation_id)
        try:
            ticket = queue.rate(conversation_id, rating.score, rating.comment)
        except TicketNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except TicketConflict as exc:
            raise HTTPException(409, str(exc)) from exc
        logger.info(
            "csat conversation=%s ticket=%s score=%s comment=%s",
            conversation_id,
            ticket.id,
            ticket.csat_score,
            "yes" if ticket.csat_comment else "no",
        )
        return {
            "ticket_id": ticket.id,
            "score": ticket.csat_score,
            "comment": ticket.csat_comment,
            "rated_at": ticket.csat_at.isoformat(),
            "text": rated_text(ticket.csat_score),
        }

    return router
