"""The handoff queue's JSON API: bearer tokens, bounded input, errors that say what and why."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.handoff import HandoffQueue, NewMessage, NewTicket, TicketConflict, TicketNotFound
from bot.handoff.auth import Authenticator, Principal
from bot.handoff.queue import (
    MAX_OFFSET,
    MAX_TEXT,
    MAX_TICKET_ID,
    NO_NUL,
    Reason,
    Status,
    Text,
    UtcTime,
)

MAX_PAGE = 200

# Ids and offsets stop where the databases' INTEGER columns do, so a bigger number is a 422.
TicketId = Annotated[
    int,
    Path(ge=1, le=MAX_TICKET_ID, description=f"A ticket id: 1 to {MAX_TICKET_ID}.", examples=[1]),
]
ConversationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=NO_NUL,
        description="The conversation's id, as Rasa has it.",
    ),
]


class ErrorDetail(BaseModel):
    """Every error the API sends: what went wrong and, where it helps, what to do."""

    detail: str


ERRORS = {
    400: "The body could not be read as JSON (it is not UTF-8 text, for one).",
    401: "No bearer token, or not a 'Bearer <token>' header.",
    403: "The token is not recognised, or its holder may not do this.",
    404: "No ticket (or active ticket) has that id.",
    409: "The ticket is not in a state that allows this (held by another agent: take it over "
    "first; closed; full).",
    413: "The request body is over the size limit.",
}


def errors(*codes: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error responses a route can send (422 FastAPI adds itself)."""
    return {code: {"model": ErrorDetail, "description": ERRORS[code]} for code in codes}


class NoteBody(BaseModel):
    """A resolution note or hand-back note."""

    model_config = ConfigDict(extra="forbid")

    note: Text = Field("", max_length=MAX_TEXT)


class MessageBody(BaseModel):
    """A message an agent (or, for the service, the customer) adds to a ticket."""

    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=MAX_TEXT)


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

    @router.post(
        "/tickets",
        status_code=201,
        responses={200: {"description": "The conversation's ticket already existed."}}
        | errors(400, 401, 403, 413),
    )
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

    @router.get("/tickets", responses=errors(401, 403))
    def list_tickets(
        _: Annotated[Principal, Depends(agent)],
        status: Status | None = None,
        reason: Reason | None = None,
        since: Annotated[
            UtcTime | None,
            Query(description="Only tickets updated since (ISO 8601; UTC if no offset)."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> dict:
        """A page of tickets, newest activity first (open tickets in queue order)."""
        tickets, total = queue.list(status, reason, since, limit, offset)
        following = offset + limit if offset + limit < total else None
        return {
            "tickets": [t.to_dict() for t in tickets],
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": following,
        }

    @router.get("/tickets/{ticket_id}", responses=errors(401, 403, 404))
    def get_ticket(ticket_id: TicketId, _: Annotated[Principal, Depends(principal)]) -> dict:
        """One ticket with transcript and history."""
        ticket = guarded(lambda: queue.get(ticket_id))
        return {**ticket.to_dict(), "position": queue.position(ticket_id)}

    @router.get("/conversations/{conversation_id}/ticket", responses=errors(401, 403, 404))
    def conversation_ticket(
        conversation_id: ConversationId, _: Annotated[Principal, Depends(principal)]
    ) -> dict:
        """The active ticket of a conversation and its place in the queue."""
        ticket = queue.active_for_conversation(conversation_id)
        if ticket is None:
            raise HTTPException(404, f"Conversation '{conversation_id}' has no active ticket.")
        return {**ticket.to_dict(), "position": queue.position(ticket.id)}

    @router.post(
        "/tickets/claim-next",
        response_model=None,
        responses={204: {"description": "The queue is empty."}} | errors(401, 403),
    )
    def claim_next(who: Annotated[Principal, Depends(agent)]) -> Response | dict:
        """Claim the most urgent open ticket; 204 when the queue is empty."""
        ticket = queue.claim_next(who.name)
        if ticket is None:
            return Response(status_code=204)
        return ticket.to_dict()

    @router.post("/tickets/{ticket_id}/claim", responses=errors(401, 403, 404, 409))
    def claim(ticket_id: TicketId, who: Annotated[Principal, Depends(agent)]) -> dict:
        """Claim one ticket; 409 if someone else has it."""
        return guarded(lambda: queue.claim(ticket_id, who.name)).to_dict()

    @router.post("/tickets/{ticket_id}/take-over", responses=errors(401, 403, 404, 409))
    def take_over(ticket_id: TicketId, who: Annotated[Principal, Depends(agent)]) -> dict:
        """Take a ticket over from the agent holding it (or claim it while open); the customer
        is told who is writing now. 409 once it is closed."""
        return guarded(lambda: queue.take_over(ticket_id, who.name)).to_dict()

    @router.post("/tickets/{ticket_id}/messages", responses=errors(400, 401, 403, 404, 409, 413))
    def add_message(
        ticket_id: TicketId, body: MessageBody, who: Annotated[Principal, Depends(principal)]
    ) -> dict:
        """Add to the transcript: agents write as 'agent', the action server as 'customer'.
        An agent writes only into a ticket they hold (an open one is claimed for them first);
        one another agent holds is a 409 until they take it over."""
        sender = "agent" if who.kind == "agent" else "customer"
        message = NewMessage(sender=sender, text=body.text)
        return guarded(lambda: queue.add_message(ticket_id, message, who.name)).to_dict()

    @router.post("/tickets/{ticket_id}/resolve", responses=errors(400, 401, 403, 404, 409, 413))
    def resolve(
        ticket_id: TicketId, body: NoteBody, who: Annotated[Principal, Depends(agent)]
    ) -> dict:
        """Close the ticket with a note; the bot tells the customer and answers again."""
        return guarded(lambda: queue.resolve(ticket_id, who.name, body.note)).to_dict()

    @router.post("/tickets/{ticket_id}/return", responses=errors(400, 401, 403, 404, 409, 413))
    def return_to_bot(
        ticket_id: TicketId, body: NoteBody, who: Annotated[Principal, Depends(agent)]
    ) -> dict:
        """Give the conversation back to the bot."""
        return guarded(lambda: queue.return_to_bot(ticket_id, who.name, body.note)).to_dict()

    return router
