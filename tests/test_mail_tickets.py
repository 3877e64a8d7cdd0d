"""Tickets by email, read back with Python's email package as a helpdesk would: the handoff
email's headers, threading and transcript; after-hours answers to the customer; the agents'
notice; reply addresses and the inbound webhook's fields."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.handoff import HandoffQueue, NewMessage, NewTicket
from bot.mail.inbound import new_text, parse, reply_address, ticket_of
from bot.mail.mailer import TicketMailer
from bot.mail.outbox import Outbox
from bot.mail.smtp import SmtpServer
from bot.mail.worker import MailWorker
from tests.smtp_server import SmtpTestServer

SENDER = "Northwind Support <support@shop.example>"
TEAM = "help@northwind.helpdesk.example"
T0 = dt.datetime(2026, 12, 6, 7, 40, 5, tzinfo=dt.UTC)


@pytest.fixture
def server(tmp_path: Path):
    smtp = SmtpTestServer(tmp_path).start()
    yield smtp
    smtp.stop()


def mailed_queue(queue: HandoffQueue, **options) -> Outbox:
    """The queue's ticket emails go to TEAM through this outbox."""
    outbox = Outbox(queue.engine)
    queue.mail = TicketMailer(
        outbox, SENDER, "https://support.shop.example", team_address=TEAM, **options
    )
    return outbox


def ticket(queue: HandoffQueue, **fields):
    new = {
        "conversation_id": "c-mail-1",
        "reason": "complaint",
        "customer_email": "ana.silva12@example.com",
        "order_number": "123-4567",
        "verified": {"email": "ana.silva12@example.com", "order_number": "123-4567"},
        "articles": [
            {"id": "returns", "title": "Returns", "url": "/help/returns#how", "score": 0.61}
        ],
        "transcript": [
            {"sender": "customer", "text": "My parcel arrived broken", "at": T0.isoformat()},
            {
                "sender": "bot",
                "text": "Sorry to hear that.",
                "at": (T0 + dt.timedelta(seconds=2)).isoformat(),
            },
        ],
        **fields,
    }
    created, _ = queue.create(NewTicket(**new))
    return created


def text_of(message: EmailMessage) -> str:
    """The plain-text part, as a mail client shows it to an agent who reads text."""
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    """The HTML part, after checking the message is text then HTML as alternatives."""
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    return message.get_body(("html",)).get_content()


class Markup(HTMLParser):
    """The elements, links and text of an HTML part, as a mail client would read them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.handlers: list[str] = []
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.add(tag)
        self.links += [v for k, v in attrs if k == "href"]
        self.handlers += [k for k, _ in attrs if k.startswith("on")]

    def handle_data(self, data: str) -> None:
        self.text += data


def worker(outbox: Outbox, server: SmtpTestServer) -> MailWorker:
    return MailWorker(outbox, SmtpServer.from_url(server.url()), SENDER)


def test_a_handoff_email_reads_as_a_helpdesk_ticket_and_later_messages_thread_under_it(
    queue: HandoffQueue, server: SmtpTestServer
) -> None:
    outbox = mailed_queue(queue)
    created = ticket(queue)
    queue.add_message(created.id, NewMessage(sender="customer", text="Are you there?"))
    assert worker(outbox, server).run_once().sent == 2
    first, second = (r.message for r in server.received)
    assert first["To"] == TEAM and first["From"] == SENDER
    assert first["Subject"].startswith(f"[Ticket #{created.id}] Complaint: ")
    assert "broken" in first["Subject"]
    assert first["Reply-To"] == "ana.silva12@example.com"  # verified by the store
    assert first["X-Tier0-Ticket"] == str(created.id)
    assert first["Auto-Submitted"] is None  # a helpdesk must make it a ticket, not drop it
    body = text_of(first)
    assert "[2026-12-06 07:40:05 UTC] Customer: My parcel arrived broken" in body
    assert "[2026-12-06 07:40:07 UTC] Bot: Sorry to hear that." in body
    assert "ana.silva12@example.com (verified with the store)" in body
    assert "123-4567 (verified with the store)" in body
    assert "- Returns (/help/returns#how), score 0.61" in body
    assert f"https://support.shop.example/inbox/tickets/{created.id}" in body
    # the follow-up threads under the first email
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]
    assert second["Subject"] == "Re: " + first["Subject"]
    assert "Customer: Are you there?" in text_of(second)
    # the ticket's email is queued once, whatever retries the action server makes
    again, was_new = queue.create(NewTicket(conversation_id="c-mail-1", reason="complaint"))
    assert not was_new and again.id == created.id
    assert outbox.counts()["sent"] == 2 and outbox.counts()["queued"] == 0


def test_the_handoff_email_has_an_html_part_where_the_customers_markup_is_only_text(
    queue: HandoffQueue, server: SmtpTestServer
) -> None:
    outbox = mailed_queue(queue)
    queue.mail.agent_addresses = ["kim@shop.example"]
    attack = '<script>alert(1)</script><img src=x onerror="alert(2)"> & "quotes"'
    created = ticket(
        queue,
        transcript=[
            {"sender": "customer", "text": f"line one\n{attack}", "at": T0.isoformat()},
        ],
        articles=[
            {"id": "r", "title": "<b>Returns</b>", "url": "https://x.example/r", "score": 0.5},
            {"id": "evil", "title": "Evil", "url": "javascript:alert(3)", "score": 0.4},
        ],
    )
    queue.add_message(created.id, NewMessage(sender="customer", text=attack))
    assert worker(outbox, server).run_once().sent == 3
    for got in server.received:
        # read back from the bytes the server received, as a helpdesk's parser would
        html = html_of(got.message)
        markup = Markup(html)
        assert not markup.tags & {"script", "img", "iframe", "b"} and not markup.handlers
        assert all(link.startswith("https://") for link in markup.links), markup.links
    handoff, notice, followup = (r.message for r in server.received)
    markup = Markup(html_of(handoff))
    assert attack in markup.text  # shown as the customer typed it
    assert "&lt;script&gt;" in html_of(handoff) and "<script" not in html_of(handoff)
    assert "line one" in markup.text and "2026-12-06 07:40:05 UTC" in markup.text
    assert "ana.silva12@example.com (verified with the store)" in markup.text
    assert markup.links == [
        f"https://support.shop.example/inbox/tickets/{created.id}",
        "https://x.example/r",
    ]  # the javascript: article is text, not a link
    assert "<b>Returns</b>" in markup.text and "javascript:alert(3)" in markup.text
    # the plain text is the text itself, unescaped
    assert attack in text_of(handoff) and "&lt;" not in text_of(handoff)
    assert notice["To"] == "kim@shop.example"
    assert f"/inbox/tickets/{created.id}" in Markup(html_of(notice)).links[0]
    assert attack in Markup(html_of(followup)).text
    assert followup["In-Reply-To"] == handoff["Message-ID"]


def test_an_unverified_customer_is_not_the_reply_to_but_the_chat_reply_address_is(
    queue: HandoffQueue, server: SmtpTestServer
) -> None:
    outbox = mailed_queue(queue, inbound=("k" * 32, "reply.shop.example"))
    created = ticket(queue, verified=None, customer_email="someone@example.com")
    worker(outbox, server).run_once()
    [got] = (r.message for r in server.received)
    address = reply_address("k" * 32, "reply.shop.example", created.id)
    assert got["Reply-To"] == address
    assert "someone@example.com (given by the customer, not verified)" in text_of(got)
    assert ticket_of("k" * 32, "reply.shop.example", f"Team <{address}>") == created.id
    forged = address.replace(f"reply+{created.id}.", f"reply+{created.id + 1}.")
    assert ticket_of("k" * 32, "reply.shop.example", forged) is None


def test_after_hours_the_customers_email_and_the_agents_answer_go_by_email(
    queue: HandoffQueue, server: SmtpTestServer
) -> None:
    outbox = mailed_queue(queue)
    created = ticket(queue, verified=None, customer_email=None, after_hours=True)
    assert created.after_hours
    queue.set_contact_email(created.id, "maya.patel7@example.com")
    queue.add_message(created.id, NewMessage(sender="agent", text="We'll send a new one."), "kim")
    worker(outbox, server).run_once()
    handoff, noted, answer = (r for r in server.received)
    assert "after business hours" in text_of(handoff.message)
    assert "answer by email at maya.patel7@example.com" in text_of(noted.message)
    assert noted.message["In-Reply-To"] == handoff.message["Message-ID"]
    assert answer.recipients == ["maya.patel7@example.com"]
    assert answer.message["Reply-To"] == TEAM
    assert "We'll send a new one." in text_of(answer.message)


def test_agents_are_told_of_new_tickets_for_the_reasons_they_chose(
    queue: HandoffQueue, server: SmtpTestServer
) -> None:
    outbox = Outbox(queue.engine)
    queue.mail = TicketMailer(
        outbox, SENDER, "https://support.shop.example",
        agent_addresses=["kim@shop.example"], agent_reasons=["complaint"],
    )  # fmt: skip
    ticket(queue)
    ticket(queue, conversation_id="c-mail-2", reason="low_confidence")
    worker(outbox, server).run_once()
    [notice] = server.received
    assert notice.recipients == ["kim@shop.example"]
    assert notice.message["Subject"].startswith("New [Ticket #")


def test_inbound_fields_of_the_common_services_are_read() -> None:
    mailgun = parse(
        {"recipient": "reply+3.abc@x", "sender": "kim@shop.example", "stripped-text": "Hi!"}
    )
    assert (mailgun.recipients, mailgun.sender, mailgun.text) == (
        "reply+3.abc@x",
        "kim@shop.example",
        "Hi!",
    )
    postmark = parse(
        {
            "OriginalRecipient": "r@x",
            "From": "Kim <kim@shop.example>",
            "TextBody": "Done.\n\nOn Mon, Kim wrote:\n> old",
        }
    )
    assert postmark.text == "Done." and postmark.sender == "kim@shop.example"
    assert new_text("Yes\n-- \nKim\nSupport") == "Yes"
    with pytest.raises(ValueError, match="no recipient"):
        parse({"text": "hello"})
    with pytest.raises(ValueError, match="no text"):
        parse({"to": "r@x", "text": "> only quoted"})
