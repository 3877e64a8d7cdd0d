"""The Content-Security-Policy in a real browser (Debian's chromium, driven by Playwright): every
page works under it and chromium reports no violation.

The inbox, a ticket, the insights, a help article and the API docs run on a web app in this
process (no Rasa); the store page with the widget open and answering runs on the real stack
(`web_stack`, shared with the other browser tests). A violation is caught twice: the page's
`securitypolicyviolation` events (listened for before any script of the page runs) and
chromium's console messages. Screenshots go to test-artifacts/ (not committed).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from bot.handoff import HandoffQueue, NewTicket
from bot.handoff.auth import hash_token
from bot.settings import Settings
from bot.stack import ROOT, free_port
from bot.web.app import create_app
from tests.conftest import WebStack

ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "csp-agent-token-0123456789"
TIMEOUT_MS = 30_000
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile);
});
"""

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Web:
    url: str
    ticket_id: int


@pytest.fixture(scope="module")
def web(demo_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    folder = tmp_path_factory.mktemp("csp-browser")
    settings = Settings(
        settings_file=folder / "none.toml",
        data_dir=folder / "var",
        index_dir=demo_index,
        database_url=f"sqlite:///{folder / 'queue.db'}",
        agent_tokens={"alice": hash_token(TOKEN)},
        cookie_secure=False,  # plain http on loopback
        rasa_url="http://127.0.0.1:9",  # no Rasa: the insights record nothing new
    )
    queue = HandoffQueue.from_url(settings.queue_url)
    ticket, _ = queue.create(
        NewTicket(
            conversation_id="csp-1",
            reason="complaint",
            customer_email="ana@example.com",
            transcript=[
                {"sender": "customer", "text": "my parcel is wet"},
                {"sender": "bot", "text": "Sorry! **See** [Returns](/help/returns)."},
            ],
        )
    )
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
        yield Web(f"http://127.0.0.1:{port}", ticket.id)
    finally:
        server.should_exit = True
        thread.join(10)
        queue.close()


class Watched:
    """A page whose CSP violations and console errors are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def violations(self) -> list[str]:
        events = self.page.evaluate("window.__csp || []")
        said = [m for m in self.console if "Content Security Policy" in m or "pageerror" in m]
        return events + said


def _watched(browser: Browser, width: int = 1100, height: int = 800) -> Watched:
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(LISTEN)
    return Watched(context.new_page())


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_inbox_a_ticket_the_insights_and_the_help_centre_run_under_the_policy(
    browser: Browser, web: Web
) -> None:
    watched = _watched(browser)
    page = watched.page
    try:
        page.goto(web.url + "/inbox")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        _shot(page, "csp-sign-in")
        page.get_by_label(re.compile("token", re.I)).fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Claim next ticket")).to_be_visible()
        # the styles came from /static: the header is dark, the table white
        header = page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor")
        assert header == "rgb(36, 52, 71)"
        # the queue's script refreshes the rows (the first refresh after 4 s)
        with page.expect_response(re.compile(r"/inbox\.json")):
            pass
        _shot(page, "csp-inbox")

        page.get_by_role("link", name=str(web.ticket_id), exact=True).click()
        expect(page.get_by_role("heading", name=f"Ticket {web.ticket_id}")).to_be_visible()
        expect(page.locator(".msg.bot .md strong", has_text="See")).to_be_visible()
        with page.expect_response(re.compile(rf"/inbox/tickets/{web.ticket_id}\.json")):
            pass  # the ticket's script polls for new lines
        page.get_by_role("button", name="Claim").click()
        expect(page.get_by_text("alice", exact=True).first).to_be_visible()
        page.get_by_label("Reply to the customer").fill("Hello, I'm on it.")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".msg.agent").last).to_contain_text("Hello, I'm on it.")
        _shot(page, "csp-ticket")

        page.get_by_role("link", name="Insights").click()
        expect(page.get_by_role("heading", name="Insights", exact=True)).to_be_visible()
        cards = page.locator(".cards").evaluate("e => getComputedStyle(e).display")
        assert cards == "grid"  # insights.css applied
        _shot(page, "csp-insights")

        page.goto(web.url + "/help/")
        expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
        page.locator("main a").first.click()
        expect(page.locator("article h1")).to_be_visible()
        _shot(page, "csp-help-article")
        assert watched.violations() == []
    finally:
        page.context.close()


def test_the_api_docs_render_from_this_origin_only(browser: Browser, web: Web) -> None:
    watched = _watched(browser)
    page = watched.page
    elsewhere: list[str] = []
    own = (web.url, "data:", f"blob:{web.url}")  # ReDoc runs a worker from a blob of its own
    page.on(
        "request",
        lambda r: None if r.url.startswith(own) else elsewhere.append(r.url),
    )
    try:
        page.goto(web.url + "/docs")
        expect(page.get_by_text("/api/tickets/{ticket_id}/take-over").first).to_be_visible()
        _shot(page, "csp-docs")
        page.goto(web.url + "/redoc")
        expect(page.get_by_text("Take Over").first).to_be_attached()
        _shot(page, "csp-redoc")
        # Swagger UI and ReDoc set inline styles (their policy allows style, never script)
        assert watched.violations() == [] and elsewhere == []
    finally:
        page.context.close()


@pytest.mark.rasa
def test_the_store_page_with_the_widget_answering_runs_under_the_policy(
    browser: Browser, web_stack: WebStack
) -> None:
    watched = _watched(browser)
    page = watched.page
    try:
        page.goto(web_stack.url + "/")
        policy = page.evaluate("fetch('/').then(r => r.headers.get('content-security-policy'))")
        assert "'unsafe-inline'" not in policy
        page.get_by_role("button", name=re.compile("Open chat")).click()
        expect(page.get_by_role("dialog")).to_be_visible()
        # the widget's own styles (a constructed stylesheet in its shadow root) apply
        launcher_gone = page.get_by_role("button", name=re.compile("Open chat")).is_hidden()
        assert launcher_gone
        send = page.locator("#tier0-chat").evaluate(
            "h => getComputedStyle(h.shadowRoot.querySelector('.send')).backgroundColor"
        )
        assert send == "rgb(47, 93, 58)"  # data-color="#2f5d3a"
        box = page.get_by_label("Your message")
        box.fill("how much does express delivery cost?")
        box.press("Enter")
        expect(page.locator(".log .msg.bot").last).to_contain_text("Source:")
        _shot(page, "csp-store-widget")
        assert watched.violations() == []
    finally:
        page.context.close()
