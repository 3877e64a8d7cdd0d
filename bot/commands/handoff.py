"""`bot handoff ...`: the agents' queue from a terminal: list, show, claim, resolve, export."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.table import Table

from bot.commands.common import JsonOption, err, fail, get_settings, out, print_json
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.handoff import HandoffQueue, Ticket

T = TypeVar("T")

handoff_app = typer.Typer(
    help="Handoff queue: list, show, claim, resolve, export.", no_args_is_help=True
)
AgentOption = Annotated[str, typer.Option("--agent", help="Agent name recorded on the ticket.")]


def _queue(settings: Settings) -> HandoffQueue:
    from bot.web.app import open_queue

    return open_queue(settings)


def _handoff_call(action: Callable[[], T]) -> T:
    from bot.handoff import TicketConflict, TicketNotFound

    try:
        return action()
    except (TicketNotFound, TicketConflict) as exc:
        raise fail(str(exc)) from exc


def _print_ticket(ticket: Ticket) -> None:
    out.print(
        f"[bold]Ticket {ticket.id}[/bold] · {ticket.status} · {ticket.reason} "
        f"(priority {ticket.priority})"
    )
    out.print(
        f"customer: {ticket.customer_email or '-'}  order: {ticket.order_number or '-'}  "
        f"agent: {ticket.claimed_by or '-'}"
    )
    out.print(ticket.summary, markup=False)
    for message in ticket.transcript:
        said = f"{message['at']:%H:%M:%S}" if message["at"] else "--:--:--"
        out.print(f"  {said} {message['sender']:>8}: {message['text']}", markup=False)
    if ticket.resolution_note:
        out.print(f"note: {ticket.resolution_note}", markup=False)


@handoff_app.command("list")
def handoff_list(
    status: Annotated[
        str | None, typer.Option(help="open, claimed, resolved or returned_to_bot.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Handoff reason to filter on.")] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            "-q",
            help="Words that must each appear (any case) in the summary, the transcript, "
            "the email or the order number.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
) -> None:
    """List tickets, open ones in queue order."""
    from bot.handoff.queue import MAX_SEARCH
    from bot.handoff.schema import REASONS, STATUSES

    for name, value, allowed in (("--status", status, STATUSES), ("--reason", reason, REASONS)):
        if value is not None and value not in allowed:
            raise fail(f"{name} {value!r} is not one of {', '.join(allowed)}")
    if search is not None and len(search) > MAX_SEARCH:
        raise fail(f"--search is {len(search)} characters; use at most {MAX_SEARCH}")
    queue = _queue(get_settings())
    tickets, total = queue.list(status, reason, None, limit, offset, search=search)
    if as_json:
        print_json({"total": total, "tickets": [t.to_dict() for t in tickets]})
        return
    table = Table("#", "status", "reason", "prio", "customer", "agent", "summary", box=None)
    for t in tickets:
        table.add_row(
            str(t.id),
            t.status,
            t.reason,
            str(t.priority),
            t.customer_email or "",
            t.claimed_by or "",
            t.summary,
        )
    out.print(table)
    out.print(f"{len(tickets)} of {total} ticket(s)")


@handoff_app.command("show")
def handoff_show(ticket_id: int, as_json: JsonOption = False) -> None:
    """One ticket with its transcript."""
    ticket = _handoff_call(lambda: _queue(get_settings()).get(ticket_id))
    if as_json:
        print_json(ticket.to_dict())
    else:
        _print_ticket(ticket)


@handoff_app.command("claim")
def handoff_claim(
    ticket_id: Annotated[
        int | None, typer.Argument(help="Ticket to claim (default: the next).")
    ] = None,
    agent: AgentOption = "cli",
    as_json: JsonOption = False,
) -> None:
    """Claim a ticket, or the most urgent open one."""
    queue = _queue(get_settings())
    ticket = _handoff_call(
        lambda: queue.claim(ticket_id, agent) if ticket_id is not None else queue.claim_next(agent)
    )
    if ticket is None:
        raise fail("the queue has no open ticket")
    if as_json:
        print_json(ticket.to_dict())
    else:
        _print_ticket(ticket)


@handoff_app.command("resolve")
def handoff_resolve(
    ticket_id: int,
    note: Annotated[str, typer.Option(help="Resolution note.")] = "",
    agent: AgentOption = "cli",
    to_bot: Annotated[bool, typer.Option("--to-bot", help="Return it to the bot instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Resolve a ticket (or return it to the bot) with a note."""
    queue = _queue(get_settings())
    close = queue.return_to_bot if to_bot else queue.resolve
    ticket = _handoff_call(lambda: close(ticket_id, agent, note))
    if as_json:
        print_json(ticket.to_dict())
    else:
        out.print(f"ticket {ticket.id} is {ticket.status}")


@handoff_app.command("export")
def handoff_export(
    since: Annotated[
        str | None, typer.Option(help="Only tickets updated since this date or time (ISO 8601).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
    ] = None,
) -> None:
    """Write tickets as JSON Lines, one full ticket per line, for loading into a helpdesk."""
    import datetime as dt

    start = None
    if since:
        try:
            start = dt.datetime.fromisoformat(since)
        except ValueError as exc:
            raise fail(f"--since {since!r} is not an ISO date or time, like 2026-11-01") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.UTC)
    queue = _queue(get_settings())
    handle = output.open("w", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        for ticket in queue.export(start):
            handle.write(json.dumps(ticket.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    finally:
        if output:
            handle.close()
    err.print(f"exported {count} ticket(s)")


@handoff_app.command("hash-token")
def handoff_hash_token(
    token: Annotated[
        str, typer.Argument(help="The token an agent or the action server will send.")
    ],
) -> None:
    """Print the hash to put in settings (agent_tokens, service_token); tokens are not stored."""
    from bot.handoff.auth import MIN_TOKEN_LENGTH, hash_token

    if len(token) < MIN_TOKEN_LENGTH:
        raise fail(f"tokens must be at least {MIN_TOKEN_LENGTH} characters")
    out.print(hash_token(token))
