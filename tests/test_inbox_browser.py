"""The agent inbox in a real browser (Debian's chromium, driven by Playwright), without Rasa.

The web app runs in this process on a free port with a temporary SQLite queue; an agent signs in
through the login form as a person would. Checks: at 360 px neither the queue nor a ticket runs
off the screen, and the bot's Markdown shows formatted while nothing anyone typed runs as code.
Screenshots go to test-artifacts/ (not committed).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn

from bot.handoff import HandoffQueue, NewMessage, NewTicket
from bot.handoff.auth import hash_token
from bot.settings import Settings
from bot.stack import ROOT, free_port
from bot.web.app import create_app

ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "browser-agent-token-0123456789"
TIMEOUT_MS = 15_000
LONG_URL = "https://shop.example/orders/100-9246/tracking?" + "&".join(
    f"parameter{i}=value{i}" for i in range(12)
)
EVIL = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
BOT_ANSWER = (
    "To cancel, **go to Orders**:\n1. Open the order\n2. Choose *Cancel*\n\n"
    "See [Cancel an order](/help/cancel-order#cancel).\nStill stuck? Ask me.\n"
    f"[click](javascript:window.pwned=3) {EVIL}"
)

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Inbox:
    url: str
    queue: HandoffQueue
    ticket_id: int


def _seed(queue: HandoffQueue) -> int:
    """Tickets with what breaks narrow layouts: long URLs, long words and emails, Markdown."""
    for i in range(3):
        queue.create(
            NewTicket(
                conversation_id=f"other-{i}",
                reason="complaint" if i == 0 else "low_confidence",
                customer_email=f"customer.with.a.rather.long.address.{i}@example-store.co.uk",
                order_number=f"100-{1000 + i}",
                transcript=[{"sender": "customer", "text": f"question {i} about {LONG_URL}"}],
            )
        )
    ticket, _ = queue.create(
        NewTicket(
            conversation_id="narrow",
            reason="customer_request",
            customer_email="tara.tanaka86.with.a.very.long.mailbox.name@example-store.co.uk",
            order_number="100-9246",
            articles=[
                {"id": "track-order", "title": "Where is my order?", "url": LONG_URL, "score": 0.4}
            ],
            transcript=[
                {"sender": "customer", "text": f"my link {LONG_URL} **not bold** {EVIL}"},
                {"sender": "bot", "text": BOT_ANSWER, "at": "2026-03-02T09:00:06Z"},
                {"sender": "customer", "text": "x" * 300},
                {"sender": "customer", "text": "i want to talk to a real person"},
            ],
        )
    )
    return ticket.id


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbox]:
    folder = tmp_path_factory.mktemp("inbox-browser")
    settings = Settings(
        settings_file=folder / "none.toml",
        data_dir=folder / "var",
        database_url=f"sqlite:///{folder / 'queue.db'}",
        agent_tokens={"alice": hash_token(TOKEN)},
        cookie_secure=False,  # plain http on loopback
    )
    queue = HandoffQueue.from_url(settings.queue_url)
    ticket_id = _seed(queue)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, queue=queue), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.05)
        yield Inbox(f"http://127.0.0.1:{port}", queue, ticket_id)
    finally:
        server.should_exit = True
        thread.join(10)
        queue.close()


def _signed_in(browser: Browser, inbox: Inbox, width: int, height: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(inbox.url + "/inbox")
    page.get_by_label(re.compile("token", re.I)).fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Claim next ticket")).to_be_visible()
    return page


def _page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_at_360_px_the_queue_and_a_ticket_fit_the_screen(browser: Browser, inbox: Inbox) -> None:
    page = _signed_in(browser, inbox, 360, 740)
    try:
        expect(page.locator("#rows tr")).to_have_count(4)
        _shot(page, "inbox-360")
        assert _page_width(page) <= 360
        # the search works from a phone, and the filters it sets stay in the tabs' links
        page.get_by_label("Search").fill("100-9246")
        page.get_by_label("Reason").select_option("customer_request")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#rows tr")).to_have_count(1)
        all_tab = page.get_by_role("link", name=re.compile(r"^all \("))
        assert "q=100-9246" in all_tab.get_attribute("href")
        assert _page_width(page) <= 360
        # each cell of the stacked row says what it is
        expect(page.locator("#rows td[data-label=Summary]")).to_be_visible()

        page.get_by_role("link", name=str(inbox.ticket_id), exact=True).click()
        expect(page.get_by_role("heading", name=f"Ticket {inbox.ticket_id}")).to_be_visible()
        _shot(page, "ticket-360")
        assert _page_width(page) <= 360
        for name in ("Claim", "Resolve", "Return to bot", "Send"):
            box = page.get_by_role("button", name=name, exact=True).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, name
    finally:
        page.context.close()


def test_bot_markdown_is_formatted_and_nothing_typed_runs(browser: Browser, inbox: Inbox) -> None:
    page = _signed_in(browser, inbox, 1280, 800)
    try:
        page.goto(f"{inbox.url}/inbox/tickets/{inbox.ticket_id}")
        bot = page.locator(".msg.bot .md").first
        expect(bot.locator("strong")).to_have_text("go to Orders")
        expect(bot.locator("ol li")).to_have_count(2)
        link = bot.get_by_role("link", name="Cancel an order")
        assert link.get_attribute("href") == "/help/cancel-order#cancel"
        assert link.get_attribute("rel") == "noopener noreferrer"
        text = bot.inner_text()
        assert "**" not in text and "](" not in text.replace("[click](javascript", "")
        assert bot.locator("a[href^=javascript], img, script").count() == 0
        # the customer's words are shown as typed, never as markup
        customer = page.locator(".msg.customer").first
        expect(customer).to_contain_text("**not bold** <img src=x")
        assert page.evaluate("window.pwned") is None
        assert _page_width(page) <= 1280

        # a bot line that arrives while the page is open is rendered the same way
        inbox.queue.add_message(
            inbox.ticket_id, NewMessage(sender="bot", text=f"**Later** reply {EVIL}")
        )
        expect(page.locator(".msg.bot .md strong", has_text="Later")).to_be_visible()
        expect(page.locator(".msg.bot").last).to_contain_text("<img src=x")
        assert page.evaluate("window.pwned") is None
        _shot(page, "ticket-desktop")
    finally:
        page.context.close()
