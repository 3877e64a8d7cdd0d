"""The handoff queue's JSON API: bearer tokens, bounded input, errors that say what and why."""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.handoff import HandoffQueue, NewMessage, NewTicket, TicketConflict, TicketNotFound
from bot.handoff.auth import Authenticator, Principal
from bot.handoff.queue import MAX_TEXT, Reason, Status

MAX_PAGE = 200


class NoteBody(BaseModel):
    """A resolution note or hand-back note."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=MAX_TEXT)


class MessageBody(BaseModel):
    """A message an agent (or, for the service, the customer) adds to a ticket."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT)


def build_router(queue: HandoffQueue, auth: Authenticator) -> APIRouter:
    """Routes under /api/tickets, wired to one queue and one set of tokens."""
    router = APIRouter(prefix="/api", tags=["handoff"])

    def principal(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Principal:
        if not authorization:
            raise HTTPException(
                401,
                "Missing bearer token: send 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401,
                "Authorization header must be 'Bearer <token>'.",
                {"WWW-Authenticate": "Bearer"},
            )
        who = auth.identify(token.strip())
        if who is None:
            raise HTTPException(403, "Token not recognised.")
        return who

    def agent(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.kind != "agent":
            raise HTTPException(403, "Only agents may do this.")
        return who

    def service(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.kind != "service":
            raise HTTPException(403, "Only the action server may create tickets.")
        return who

    def guarded(action):
        try:
            return action()
        except TicketNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except TicketConflict as exc:
            raise HTTPException(409, str(exc)) from exc

    @router.post("/tickets", status_code=201)
    def create_ticket(
        body: NewTicket, response: Response, _: Annotated[Principal, Depends(service)]
    ) -> dict:
        """Hand a conversation to a human (the action server's call); idempotent."""
        ticket, created = queue.create(body)
        if not created:
            response.status_code = 200
        return {
            "ticket": ticket.to_dict(),
            "created": created,
            "position": queue.position(ticket.id),
        }

    @router.get("/tickets")
    def list_tickets(
        _: Annotated[Principal, Depends(agent)],
        status: Status | None = None,
        reason: Reason | None = None,
        since: Annotated[
            dt.datetime | None, Query(description="Only tickets updated since (ISO 8601).")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        """A page of tickets, newest activity first (open tickets in queue order)."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        tickets, total = queue.list(status, reason, since, limit, offset)
        following = offset + limit if offset + limit < total else None
        return {
            "tickets": [t.to_dict() for t in tickets],
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": following,
        }

    @router.get("/tickets/{ticket_id}")
    def get_ticket(ticket_id: int, _: Annotated[Principal, Depends(principal)]) -> dict:
        """One ticket with transcript and history."""
        ticket = guarded(lambda: queue.get(ticket_id))
        return {**ticket.to_dict(), "position": queue.position(ticket_id)}

    @router.get("/conversations/{conversation_id}/ticket")
    def conversation_ticket(
        conversation_id: str, _: Annotated[Principal, Depends(principal)]
    ) -> dict:
        """The active ticket of a conversation and its place in the queue."""
        ticket = queue.active_for_conversation(conversation_id)
        if ticket is None:
            raise HTTPException(404, f"Conversation '{conversation_id}' has no active ticket.")
        return {**ticket.to_dict(), "position": queue.position(ticket.id)}

    @router.post("/tickets/claim-next", response_model=None)
    def claim_next(who: Annotated[Principal, Depends(agent)]) -> Response | dict:
        """Claim the most urgent open ticket; 204 when the queue is empty."""
        ticket = queue.claim_next(who.name)
        if ticket is None:
            return Response(status_code=204)
        return ticket.to_dict()

    @router.post("/tickets/{ticket_id}/claim")
    def claim(ticket_id: int, who: Annotated[Principal, Depends(agent)]) -> dict:
        """Claim one ticket; 409 if someone else has it."""
        return guarded(lambda: queue.claim(ticket_id, who.name)).to_dict()

    @router.post("/tickets/{ticket_id}/messages")
    def add_message(
        ticket_id: int, body: MessageBody, who: Annotated[Principal, Depends(principal)]
    ) -> dict:
        """Add to the transcript: agents write as 'agent', the action server as 'customer'."""
        sender = "agent" if who.kind == "agent" else "customer"
        message = NewMessage(sender=sender, text=body.text)
        return guarded(lambda: queue.add_message(ticket_id, message, who.name)).to_dict()

    @router.post("/tickets/{ticket_id}/resolve")
    def resolve(ticket_id: int, body: NoteBody, who: Annotated[Principal, Depends(agent)]) -> dict:
        """Close the ticket with a note; the bot tells the customer and answers again."""
        return guarded(lambda: queue.resolve(ticket_id, who.name, body.note)).to_dict()

    @router.post("/tickets/{ticket_id}/return")
    def return_to_bot(
        ticket_id: int, body: NoteBody, who: Annotated[Principal, Depends(agent)]
    ) -> dict:
        """Give the conversation back to the bot."""
        return guarded(lambda: queue.return_to_bot(ticket_id, who.name, body.note)).to_dict()

    return router
