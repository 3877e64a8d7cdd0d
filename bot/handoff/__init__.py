"""Tier-1 handoff queue: durable tickets with the conversation's context, safe to claim."""

from bot.handoff.queue import (
    HandoffQueue,
    NewMessage,
    NewTicket,
    Ticket,
    TicketConflict,
    TicketNotFound,
)

__all__ = ["HandoffQueue", "NewMessage", "NewTicket", "Ticket", "TicketConflict", "TicketNotFound"]
