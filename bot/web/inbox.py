"""Agent inbox pages: sign-in, queue and ticket views; each page has a JSON twin.

The queue page searches and filters (`/inbox?q=&reason=&status=`) and refuses unknown values with
a 422 that says which. The ticket page shows each line with the time it was said; the bot's lines
are Markdown, rendered without any HTML of their own and with web links only, because the bot
quotes articles and customers' words, and neither is trusted. A resolved ticket the customer
rated shows the rating (1-5) and comment, on its page and as a badge in the queue.
"""

import datetime as dt
import pathlib
import re
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

from bot.handoff import HandoffQueue, NewMessage, TicketConflict, TicketNotFound
from bot.handoff.auth import Authenticator
from bot.handoff.queue import MAX_SEARCH, MAX_TEXT, MAX_TICKET_ID, Text, Ticket
from bot.handoff.schema import REASONS, STATUSES
from bot.mail.outbox import Outbox
from bot.web.signin import AgentSessions

TEMPLATES = Jinja2Templates(directory=str(pathlib.Path(__file__).parent / "templates"))
# Bigger numbers are no ticket's id (and more than the database's INTEGER holds): a 422.
TicketId = Annotated[int, Path(ge=1, le=MAX_TICKET_ID)]
ALL = "all"  # the status tab that shows every ticket
LIST_LIMIT = 200
SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)


class BadFilter(ValueError):
    """A query parameter of the queue page has a value it does not take."""


def _web_or_relative(url: str) -> bool:
    """Links the inbox may show: http(s), or a path on this site; never javascript: or data:."""
    scheme = SCHEME.match(url.strip())
    if scheme:
        return scheme.group(1).lower() in ("http", "https")
    head = re.split(r"[/?#]", url, maxsplit=1)[0]
    return ":" not in head


def _open_in_new_tab(self, tokens, idx, options, env) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer")
    tokens[idx].attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


def _bot_markdown() -> MarkdownIt:
    # html=False: any HTML in the text is shown as text; images off: no tracking pixels
    md = (
        MarkdownIt("commonmark", {"html": False, "breaks": True})
        .enable("table")  # answers quote articles' tables
        .disable("image")
    )
    md.validateLink = _web_or_relative
    md.add_render_rule("link_open", _open_in_new_tab)
    return md


BOT_MARKDOWN = _bot_markdown()


def render_bot_text(text: str) -> str:
    """A bot message's Markdown as safe HTML: bold, lists, line breaks and web links."""
    return BOT_MARKDOWN.render(text)


def waited(ticket: Ticket, now: dt.datetime | None = None) -> str:
    """How long a ticket has waited (or waited before it was claimed), for people."""
    now = now or dt.datetime.now(dt.UTC)
    seconds = int(((ticket.claimed_at or now) - ticket.created_at).total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A filter's value, None when empty; anything not allowed is a BadFilter naming the choices."""
    if value is None or value == "":
        return None
    if value not in allowed:
        raise BadFilter(f"{name} must be one of {', '.join(allowed)}; {value[:40]!r} is not.")
    return value


def inbox_link(status: str, reason: str | None, q: str) -> str:
    """The queue page's address for these filters (empty ones left out)."""
    params = {"status": status, "reason": reason or "", "q": q}
    return "/inbox?" + urlencode({k: v for k, v in params.items() if v})


def inbox_view(
    queue: HandoffQueue,
    status: str | None,
    agent: str,
    reason: str | None = None,
    q: str | None = None,
) -> dict:
    """The data of the queue page; both the HTML and the JSON twin render this.

    Raises BadFilter when status or reason is not one the queue knows, or q is too long.
    """
    status = _choice("status", status, (*STATUSES, ALL)) or "open"
    reason = _choice("reason", reason, REASONS)
    q = " ".join((q or "").replace("\x00", "").split())
    if len(q) > MAX_SEARCH:
        raise BadFilter(f"q is {len(q)} characters; search with at most {MAX_SEARCH}.")
    tickets, total = queue.list(
        status=None if status == ALL else status, reason=reason, search=q, limit=LIST_LIMIT
    )
    counts = queue.counts(reason=reason, search=q)
    counts = {**counts, ALL: sum(counts.values())}
    mailed = Outbox(queue.engine).by_ticket([t.id for t in tickets])
    return {
        "agent": agent,
        "status": status,
        "reason": reason,
        "q": q,
        "reasons": list(REASONS),
        "total": total,
        "counts": counts,
        "tabs": [
            {"status": s, "count": n, "href": inbox_link(s, reason, q)} for s, n in counts.items()
        ],
        "tickets": [
            {
                "id": t.id,
                "reason": t.reason,
                "priority": t.priority,
                "summary": t.summary,
                "customer_email": t.customer_email,
                "order_number": t.order_number,
                "claimed_by": t.claimed_by,
                "created_at": t.created_at.isoformat(),
                "waited": waited(t),
                "csat_score": t.csat_score,
                "after_hours": t.after_hours,
                "email": email_state(mailed.get(t.id)),
            }
            for t in tickets
        ],
    }


def email_state(counts: dict[str, int] | None) -> str | None:
    """How a ticket's emails fared, for its badge: failed, waiting, sent, or None (no email)."""
    if not counts:
        return None
    if counts.get("failed"):
        return "failed"
    if counts.get("queued") or counts.get("sending"):
        return "waiting"
    return "sent"


def ticket_view(queue: HandoffQueue, ticket_id: int, agent: str) -> dict:
    """The data of one ticket's page."""
    ticket = queue.get(ticket_id)
    data = ticket.to_dict()
    data["position"] = queue.position(ticket_id)
    data["waited"] = waited(ticket)
    data["agent"] = agent
    data["email"] = email_state(Outbox(queue.engine).by_ticket([ticket.id]).get(ticket.id))
    data["can_claim"] = ticket.status == "open"
    data["can_close"] = ticket.status == "open" or (
        ticket.status == "claimed" and ticket.claimed_by == agent
    )
    # another agent holds it: this one may take it over (the customer is told), not write into it
    data["can_take_over"] = ticket.status == "claimed" and ticket.claimed_by != agent
    for line in data["transcript"]:
        if line["sender"] in {"bot", "agent"}:  # shown as the customer sees them
            line["html"] = render_bot_text(line["text"])
    return data


def build_router(queue: HandoffQueue, auth: Authenticator, sessions: AgentSessions) -> APIRouter:
    """The /inbox pages, signed in with the agents' tokens (server-side sessions)."""
    router = APIRouter(include_in_schema=False)

    def csrf_token(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            request.session["csrf"] = token
        return token

    def check_csrf(request: Request, submitted: str) -> None:
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(expected, submitted or ""):
            raise HTTPException(403, "The form expired or did not come from this site; reload it.")

    def signed_in(request: Request) -> str | None:
        return sessions.agent(request)

    def page(request: Request, name: str, context: dict, status_code: int = 200) -> HTMLResponse:
        context = {"agent": signed_in(request), **context, "csrf": csrf_token(request)}
        return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)

    def login_redirect(request: Request) -> RedirectResponse:
        # back to the same page after sign-in, search and filters included
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/inbox/login?{urlencode({'next': here})}", status_code=303)

    @router.get("/inbox/login", response_class=HTMLResponse)
    def login_form(
        request: Request, next: Annotated[str, Query(max_length=512)] = "/inbox"
    ) -> HTMLResponse:
        return page(request, "login.html", {"next": _safe_next(next), "error": None})

    @router.post("/inbox/login")
    def login(
        request: Request,
        token: Annotated[str, Form(max_length=512)],
        csrf: Annotated[str, Form(max_length=128)] = "",
        next: Annotated[str, Form(max_length=512)] = "/inbox",
    ) -> Response:
        check_csrf(request, csrf)
        wait = sessions.attempt(request)
        if wait is not None:
            minutes = -(-wait // 60)
            response = page(
                request,
                "login.html",
                {
                    "next": _safe_next(next),
                    "error": "Too many failed sign-ins from your address; try again in "
                    f"{minutes} minute{'s' if minutes != 1 else ''}.",
                },
                429,
            )
            response.headers["Retry-After"] = str(wait)
            return response
        who = auth.identify(token)
        if who is None or who.kind != "agent":
            sessions.failed(request, "a service token" if who else "an unknown token")
            return page(
                request,
                "login.html",
                {"next": _safe_next(next), "error": "That token is not valid."},
                401,
            )
        sessions.sign_in(request, who.name)
        return RedirectResponse(_safe_next(next), status_code=303)

    @router.post("/inbox/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
        check_csrf(request, csrf)
        sessions.sign_out(request)
        return RedirectResponse("/inbox/login", status_code=303)

    Filter = Annotated[str | None, Query(max_length=64)]
    # Longer than the search allows, so that a too-long search gets inbox_view's own message.
    Search = Annotated[str | None, Query(max_length=4 * MAX_SEARCH)]

    @router.get("/inbox.json")
    def inbox_json(
        request: Request, status: Filter = None, reason: Filter = None, q: Search = None
    ) -> JSONResponse:
        agent = signed_in(request)
        if agent is None:
            return JSONResponse({"detail": "Sign in at /inbox/login."}, status_code=401)
        try:
            return JSONResponse(inbox_view(queue, status, agent, reason, q))
        except BadFilter as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)

    @router.get("/inbox", response_class=HTMLResponse)
    def inbox(
        request: Request, status: Filter = None, reason: Filter = None, q: Search = None
    ) -> Response:
        agent = signed_in(request)
        if agent is None:
            return login_redirect(request)
        try:
            return page(request, "inbox.html", inbox_view(queue, status, agent, reason, q))
        except BadFilter as exc:
            view = inbox_view(queue, None, agent)  # the plain queue, under the reason
            return page(request, "inbox.html", {**view, "error": str(exc)}, 422)

    @router.get("/inbox/tickets/{ticket_id}.json")
    def ticket_json(request: Request, ticket_id: TicketId) -> JSONResponse:
        agent = signed_in(request)
        if agent is None:
            return JSONResponse({"detail": "Sign in at /inbox/login."}, status_code=401)
        try:
            return JSONResponse(ticket_view(queue, ticket_id, agent))
        except TicketNotFound as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)

    @router.get("/inbox/tickets/{ticket_id}", response_class=HTMLResponse)
    def ticket_page(request: Request, ticket_id: TicketId) -> Response:
        agent = signed_in(request)
        if agent is None:
            return login_redirect(request)
        try:
            return page(
                request, "ticket.html", {"t": ticket_view(queue, ticket_id, agent), "error": None}
            )
        except TicketNotFound as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.post("/inbox/claim-next")
    def claim_next(request: Request, csrf: Annotated[str, Form(max_length=128)] = "") -> Response:
        agent = signed_in(request)
        if agent is None:
            return login_redirect(request)
        check_csrf(request, csrf)
        ticket = queue.claim_next(agent)
        target = f"/inbox/tickets/{ticket.id}" if ticket else "/inbox"
        return RedirectResponse(target, status_code=303)

    @router.post("/inbox/tickets/{ticket_id}/{action}")
    def act(
        request: Request,
        ticket_id: TicketId,
        action: str,
        csrf: Annotated[str, Form(max_length=128)] = "",
        text: Annotated[Text, Form(max_length=MAX_TEXT)] = "",
    ) -> Response:
        agent = signed_in(request)
        if agent is None:
            return login_redirect(request)
        check_csrf(request, csrf)
        try:
            if action == "claim":
                queue.claim(ticket_id, agent)
            elif action == "take-over":
                queue.take_over(ticket_id, agent)
            elif action == "resolve":
                queue.resolve(ticket_id, agent, text)
            elif action == "return":
                queue.return_to_bot(ticket_id, agent, text)
            elif action == "message":
                if not text.strip():
                    raise TicketConflict("Write a message first.")
                queue.add_message(ticket_id, NewMessage(sender="agent", text=text), agent)
            else:
                raise HTTPException(404, f"Unknown action '{action}'.")
        except TicketNotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except TicketConflict as exc:
            view = ticket_view(queue, ticket_id, agent)
            return page(request, "ticket.html", {"t": view, "error": str(exc)}, 409)
        return RedirectResponse(f"/inbox/tickets/{ticket_id}", status_code=303)

    return router


def _safe_next(target: str) -> str:
    """Only redirect to the inbox, the insights or the review queue after sign-in (no open
    redirects)."""
    within = target.startswith(("/inbox", "/insights", "/review"))
    return target if within and "//" not in target and "\\" not in target else "/inbox"
