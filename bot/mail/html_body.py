"""The HTML part of the ticket emails (beside their plain text, as multipart/alternative).

Everything in a ticket may come from the customer (the summary, the transcript, an email they
typed), so every value is escaped here and nothing else builds HTML: a customer who types
`<img src=x onerror=...>` shows as that text in the helpdesk. Links are only ours (the inbox)
or an article's http(s) address; any other scheme is shown as text. No scripts, no remote
images, inline styles only (what mail clients keep).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from bot.mail import tickets

STYLE_TABLE = "border-collapse:collapse;font:14px/1.4 sans-serif"
STYLE_LABEL = "padding:2px 12px 2px 0;color:#555;vertical-align:top;white-space:nowrap"
STYLE_CELL = "padding:2px 12px 2px 0;vertical-align:top"


def _text(value: object) -> str:
    """Untrusted text as HTML: escaped, its line breaks kept."""
    return escape(str(value or "")).replace("\r", "").replace("\n", "<br>\n")


def _link(url: str, label: str | None = None) -> str:
    """A link for an http(s) address; anything else (javascript:, data:) only as text."""
    shown = _text(label if label is not None else url)
    if urlsplit(str(url)).scheme.lower() not in ("http", "https"):
        return shown
    return f'<a href="{escape(str(url), quote=True)}">{shown}</a>'


def page(title: str, body: str) -> str:
    """A whole HTML document around body."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{_text(title)}</title></head>\n"
        f'<body style="font:14px/1.4 sans-serif;color:#222">\n{body}\n</body></html>\n'
    )


def transcript_table(lines: list[dict]) -> str:
    """The conversation as a table: time, who, what they said."""
    if not lines:
        return "<p>(no messages)</p>"
    rows = "\n".join(
        f'<tr><td style="{STYLE_LABEL}">{_text(tickets.when(line.get("at")))}</td>'
        f'<td style="{STYLE_LABEL}"><strong>'
        f"{_text(tickets.SENDER_NAME.get(line.get('sender'), line.get('sender')))}</strong></td>"
        f'<td style="{STYLE_CELL}">{_text(line.get("text"))}</td></tr>'
        for line in lines
    )
    return f'<table style="{STYLE_TABLE}">\n{rows}\n</table>'


def handoff_html(ticket: dict, public_url: str, reply_address: str | None = None) -> str:
    """The handoff email's HTML: the same facts, articles and transcript as its text."""
    link = tickets.ticket_link(public_url, ticket["id"])
    facts = "\n".join(
        f'<tr><td style="{STYLE_LABEL}">{_text(label)}</td>'
        f'<td style="{STYLE_CELL}">{_text(value)}</td></tr>'
        for label, value in tickets.handoff_facts(ticket)
    )
    facts += (
        f'\n<tr><td style="{STYLE_LABEL}">Ticket in the inbox</td>'
        f'<td style="{STYLE_CELL}">{_link(link)}</td></tr>'
    )
    articles = ticket.get("articles") or []
    tried = "\n".join(
        f"<li>{_link(str(a.get('url') or ''), str(a.get('title') or a.get('id')))}"
        f" ({_text(a.get('url'))}), score {float(a.get('score', 0)):.2f}</li>"
        for a in articles
    )
    parts = [
        f"<h2>{_text(tickets.subject(ticket))}</h2>",
        f'<table style="{STYLE_TABLE}">\n{facts}\n</table>',
        "<h3>Articles the bot tried</h3>",
        f"<ul>\n{tried}\n</ul>" if articles else "<p>none</p>",
        "<h3>Conversation</h3>",
        transcript_table(ticket.get("transcript") or []),
    ]
    if reply_address:
        parts.append(
            f"<p>Replies to {_text(reply_address)} reach the customer's chat while it is open.</p>"
        )
    return page(tickets.subject(ticket), "\n".join(parts))


def followup_html(ticket: dict, message: dict) -> str:
    """A later message of the ticket."""
    who = tickets.SENDER_NAME.get(message.get("sender"), "Customer")
    body = (
        transcript_table([message])
        + f"\n<p>({_text(who)} wrote in the chat of ticket #{int(ticket['id'])}.)</p>"
    )
    return page("Re: " + tickets.subject(ticket), body)


def notice_html(ticket: dict, public_url: str, reason: str, after_hours: bool) -> str:
    """The agents' notice of a new ticket."""
    parts = [
        f"<p>A new ticket is waiting: {_text(reason)}.</p>",
        f"<p>{_text(ticket.get('summary'))}</p>",
    ]
    if after_hours:
        parts.append(
            "<p>It came after business hours: the customer expects the answer by email.</p>"
        )
    parts.append(f"<p>Open it: {_link(tickets.ticket_link(public_url, ticket['id']))}</p>")
    return page("New " + tickets.subject(ticket), "\n".join(parts))


def answer_html(ticket: dict, message: dict) -> str:
    """An agent's answer to the customer (their text, then what request it answers)."""
    body = (
        f"<p>{_text(message.get('text'))}</p>\n<hr>\n"
        f'<p style="color:#555">Your request #{int(ticket["id"])}: '
        f"{_text(ticket.get('summary'))}</p>"
    )
    return page(f"Re: your request #{int(ticket['id'])}", body)
