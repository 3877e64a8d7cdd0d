"""Tickets by email: the handoff message a helpdesk turns into a ticket, its follow-ups in the
same thread, and the short notice agents get.

The first email of ticket N has a Message-ID made from the ticket (its id and creation time),
so every later message of the ticket names it in In-Reply-To and References without a look-up,
and a helpdesk (Zendesk, Freshdesk, Help Scout, Gorgias, Chatwoot) files them in one thread.
Reply-To is the customer when the store verified their email (a reply from the helpdesk goes
to them), and the ticket's signed reply address when inbound mail is set up (a reply reaches
the customer's chat: bot.mail.inbound).
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

from bot.handoff.summary import REASON_TEXT
from bot.mail import html_body
from bot.mail.message import compose, domain_of

REASON_TITLE = {
    "customer_request": "Asked for a person",
    "complaint": "Complaint",
    "low_confidence": "Bot could not answer",
    "negative_feedback": "Answers did not help",
    "flow_failure": "Self-service failed",
}
SENDER_NAME = {"customer": "Customer", "bot": "Bot", "agent": "Agent", "system": "System"}


def thread_id(ticket: dict, sender: str) -> str:
    """The Message-ID of the ticket's first email: the same every time it is computed."""
    created = ticket["created_at"]
    stamp = (
        created.strftime("%Y%m%d%H%M%S%f")
        if isinstance(created, dt.datetime)
        else "".join(c for c in str(created) if c.isdigit())
    )
    return f"<tier0.ticket-{ticket['id']}.{stamp}@{domain_of(sender)}>"


def ticket_link(public_url: str, ticket_id: int) -> str:
    """The ticket's page in the inbox."""
    return f"{public_url.rstrip('/')}/inbox/tickets/{ticket_id}"


def when(value: object) -> str:
    """A recorded time as UTC text (or what was recorded, when it is not a time)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "time not recorded"


def subject(ticket: dict) -> str:
    """[Ticket #12] Complaint: <summary>."""
    summary = " ".join(str(ticket.get("summary") or "").split())
    if len(summary) > 140:
        summary = summary[:139].rstrip() + "…"
    reason = REASON_TITLE.get(ticket["reason"], ticket["reason"])
    return f"[Ticket #{ticket['id']}] {reason}: {summary}"


def transcript_text(lines: list[dict]) -> str:
    """The conversation, one line per message with its time and who said it."""
    out = []
    for line in lines:
        who = SENDER_NAME.get(line.get("sender"), str(line.get("sender")))
        text = str(line.get("text") or "").replace("\r", "")
        text = text.replace("\n", "\n    ")
        out.append(f"[{when(line.get('at'))}] {who}: {text}")
    return "\n".join(out) or "(no messages)"


def _who(ticket: dict) -> str:
    verified = ticket.get("verified") or {}
    email = ticket.get("customer_email")
    if email and verified.get("email") == email:
        return f"{email} (verified with the store)"
    if email:
        return f"{email} (given by the customer, not verified)"
    return "not given"


def _order(ticket: dict) -> str:
    order = ticket.get("order_number")
    if order and (ticket.get("verified") or {}).get("order_number") == order:
        return f"{order} (verified with the store)"
    return order or "none"


def handoff_facts(ticket: dict) -> list[tuple[str, str]]:
    """The handoff email's facts, (label, value), the same in its text and its HTML."""
    opened = when(ticket.get("created_at"))
    if ticket.get("after_hours"):
        opened += " (after business hours: the customer expects an answer by email)"
    return [
        ("Why", f"{REASON_TEXT.get(ticket['reason'], ticket['reason'])}."),
        ("Summary", str(ticket.get("summary") or "")),
        ("Opened", opened),
        ("Customer email", _who(ticket)),
        ("Order", _order(ticket)),
    ]


def article_line(article: dict) -> str:
    """One article the bot tried: title (url), score."""
    title = article.get("title") or article.get("id")
    return f"{title} ({article.get('url')}), score {float(article.get('score', 0)):.2f}"


def handoff_body(ticket: dict, public_url: str, reply_address: str | None = None) -> str:
    """The handoff email's text: what an agent in the helpdesk needs without opening our inbox."""
    parts = [f"{label}: {value}" for label, value in handoff_facts(ticket)]
    parts += [
        f"Ticket in the inbox: {ticket_link(public_url, ticket['id'])}",
        "",
        "Articles the bot tried:",
    ]
    parts += [f"- {article_line(a)}" for a in ticket.get("articles") or []] or ["- none"]
    parts += ["", "Conversation:", transcript_text(ticket.get("transcript") or [])]
    if reply_address:
        parts += [
            "",
            f"Replies to {reply_address} reach the customer's chat while it is open.",
        ]
    return "\n".join(parts) + "\n"


def reply_to(ticket: dict, reply_address: str | None) -> str | None:
    """Reply-To: the verified customer, and the chat's reply address when there is one."""
    verified = (ticket.get("verified") or {}).get("email")
    found = [a for a in (verified, reply_address) if a]
    return ", ".join(found) or None


def handoff_email(
    ticket: dict, sender: str, to: str, public_url: str, reply_address: str | None = None
) -> EmailMessage:
    """The first email of a ticket, sent to the team's support address."""
    return compose(
        sender,
        to,
        subject(ticket),
        handoff_body(ticket, public_url, reply_address),
        html=html_body.handoff_html(ticket, public_url, reply_address),
        message_id=thread_id(ticket, sender),
        reply_to=reply_to(ticket, reply_address),
        extra_headers={"X-Tier0-Ticket": str(ticket["id"])},
    )


def followup_email(
    ticket: dict,
    message: dict,
    sender: str,
    to: str,
    reply_address: str | None = None,
) -> EmailMessage:
    """A later message of the ticket (the customer wrote again), in the ticket's thread."""
    root = thread_id(ticket, sender)
    who = SENDER_NAME.get(message.get("sender"), "Customer")
    body = f"{transcript_text([message])}\n\n({who} wrote in the chat of ticket #{ticket['id']}.)\n"
    return compose(
        sender,
        to,
        "Re: " + subject(ticket),
        body,
        html=html_body.followup_html(ticket, message),
        reply_to=reply_to(ticket, reply_address),
        in_reply_to=root,
        references=[root],
        extra_headers={"X-Tier0-Ticket": str(ticket["id"])},
    )


def agent_notice(ticket: dict, sender: str, to: list[str], public_url: str) -> EmailMessage:
    """The short notice agents get of a new ticket: why, what, and the link."""
    reason = REASON_TEXT.get(ticket["reason"], ticket["reason"])
    after_hours = bool(ticket.get("after_hours"))
    body = (
        f"A new ticket is waiting: {reason}.\n\n"
        f"{ticket.get('summary') or ''}\n\n"
        + (
            "It came after business hours: the customer expects the answer by email.\n\n"
            if after_hours
            else ""
        )
        + f"Open it: {ticket_link(public_url, ticket['id'])}\n"
    )
    html = html_body.notice_html(ticket, public_url, reason, after_hours)
    return compose(sender, to, "New " + subject(ticket), body, automatic=True, html=html)


def answer_email(
    ticket: dict, message: dict, sender: str, team_address: str | None
) -> EmailMessage:
    """An agent's answer to an after-hours request, to the customer's email; their reply goes
    to the team's address (or the From address)."""
    body = (
        f"{message.get('text') or ''}\n\n"
        f"— Your request #{ticket['id']}: {ticket.get('summary') or ''}\n"
    )
    return compose(
        sender,
        ticket["customer_email"],
        f"Re: your request #{ticket['id']}",
        body,
        html=html_body.answer_html(ticket, message),
        reply_to=team_address,
        extra_headers={"X-Tier0-Ticket": str(ticket["id"])},
    )
