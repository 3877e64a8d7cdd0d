"""The chat widget in a real browser on the web app alone: keyboard focus and answers' links.

No Rasa here: the web app serves the store page, the widget and the help centre from the demo
index, and the browser answers the chat gateway's calls with the replies the bot would send
(`answer_text` of the section `best_section` picks), so these run in seconds. The whole stack
is tested in test_widget_browser.py. Screenshots go to test-artifacts/ (not committed).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.dialogue.answers import answer_text, article_meta
from bot.kb.search import KnowledgeBase
from bot.stack import ROOT, own_stack_settings, start_web, wait_ready

pytestmark = pytest.mark.model

ARTIFACTS = ROOT / "test-artifacts"
HELP_BASE = "http://localhost:8080/help/"  # the demo index's help_base_url
TIMEOUT_MS = 20_000
QUESTIONS = ["my card payment failed at checkout, what now?", "i think i was charged twice"]

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def web(demo_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("widget-page")
    settings = own_stack_settings(folder, index_dir=demo_index)
    server = start_web(settings, folder)
    try:
        wait_ready(server, timeout=60)
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def replies(demo_index: Path, embedder) -> dict[str, dict]:
    """The bot's message for each question, as the chat gateway passes it on."""
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    out = {}
    for question in QUESTIONS:
        vector = kb.encode(question)
        hit = kb.best_section(question, kb.route(question, vector=vector).top.article_id, vector)
        meta = {"outcome": "article", "citation": article_meta(hit), "feedback": True}
        out[question] = {"from": "bot", "text": answer_text(hit), "buttons": [], "meta": meta}
    return out


@pytest.fixture
def context(
    browser: Browser, web: str, replies: dict[str, dict], request: pytest.FixtureRequest
) -> Iterator[BrowserContext]:
    callspec = getattr(request.node, "callspec", None)
    width = callspec.params.get("width", 1100) if callspec else 1100
    viewport = {"width": width, "height": 740 if width < 480 else 800}
    context = browser.new_context(viewport=viewport)  # pages opened from links get it too
    context.set_default_timeout(TIMEOUT_MS)
    # the demo index links to the default help centre address: this test's web app serves it
    context.route(
        HELP_BASE + "**",
        lambda route: route.continue_(url=route.request.url.replace(HELP_BASE, web + "/help/")),
    )
    said: list[dict] = []

    def chat(route) -> None:
        cors = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
        if route.request.url.endswith("/api/chat/conversations"):  # the widget asks for an id
            route.fulfill(status=201, json={"conversation_id": "page-test-0001"}, headers=cors)
            return
        if route.request.method == "POST":
            text = json.loads(route.request.post_data or "{}").get("text", "")
            n = len(said)
            said.append({"id": f"u{n}", "ts": n + 1.0, "from": "user", "text": text})
            said.append({"id": f"b{n}", "ts": n + 1.5, **replies[text]})
        body = {"items": said, "cursor": len(said), "handoff": {"state": "bot"}}
        route.fulfill(json=body, headers=cors)

    context.route("**/api/chat/**", chat)
    ARTIFACTS.mkdir(exist_ok=True)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, web: str) -> Page:
    page = context.new_page()
    page.goto(web + "/")
    return page


def in_widget(page: Page) -> bool:
    """True when the keyboard focus is inside the chat widget."""
    return page.evaluate("document.activeElement === document.getElementById('tier0-chat')")


def focused_label(page: Page) -> str:
    return page.evaluate(
        "(() => { const a = document.getElementById('tier0-chat').shadowRoot.activeElement;"
        " return a ? (a.getAttribute('aria-label') || a.textContent || a.tagName) : ''; })()"
    )


def test_tab_and_shift_tab_stay_in_the_open_panel_at_360_px(page: Page) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    launcher = page.get_by_role("button", name=re.compile("Open chat"))
    launcher.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_have_attribute("aria-modal", "true")
    expect(page.get_by_label("Your message")).to_be_focused()
    seen = set()
    for _ in range(8):  # more presses than there are controls: every one comes round again
        page.keyboard.press("Tab")
        assert in_widget(page), "Tab left the chat panel for the page behind it"
        seen.add(focused_label(page))
    assert {"Close chat", "Conversation", "Talk to a human", "Your message", "Send"} <= seen
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
        assert in_widget(page), "Shift+Tab left the chat panel for the page behind it"
    page.screenshot(path=str(ARTIFACTS / "widget-focus-360.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    page.keyboard.press("Tab")  # closed, the page is the keyboard's again
    assert not in_widget(page)


def test_at_desktop_width_the_floating_panel_lets_tab_reach_the_page(page: Page) -> None:
    page.get_by_role("button", name=re.compile("Open chat")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    assert dialog.get_attribute("aria-modal") is None  # beside the page, not over it
    page.get_by_role("button", name="Send").focus()
    page.keyboard.press("Tab")
    assert not in_widget(page)


@pytest.mark.parametrize("width", [360, 1100])
def test_an_answer_shows_its_steps_and_its_links_open_the_help_centre_section(
    context: BrowserContext, page: Page, width: int
) -> None:
    assert page.viewport_size and page.viewport_size["width"] == width
    page.get_by_role("button", name=re.compile("Open chat")).click()
    box = page.get_by_label("Your message")
    box.fill(QUESTIONS[0])
    box.press("Enter")
    steps = page.locator(".log .msg.bot").last
    expect(steps.locator("li")).to_have_count(4)
    expect(steps.locator("li").first).to_contain_text("Check the card number")
    page.locator(".panel").screenshot(path=str(ARTIFACTS / f"widget-steps-{width}.png"))
    box.fill(QUESTIONS[1])
    box.press("Enter")
    answer = page.locator(".log .msg.bot").last
    expect(answer).to_contain_text("Pending amounts that did not become an order disappear")
    page.locator(".panel").screenshot(path=str(ARTIFACTS / f"widget-answer-links-{width}.png"))

    link = answer.get_by_role("link", name="contact us")
    assert link.get_attribute("href") == HELP_BASE + "contact-us"
    with context.expect_page() as opened:
        link.click()
    help_page = opened.value
    help_page.wait_for_load_state()
    expect(help_page.get_by_role("heading", level=1)).to_have_text("Contact customer service")

    citation = answer.locator(".citation a")
    expect(citation).to_have_text(
        "My payment failed or I was charged wrongly › I was charged twice"
    )
    with context.expect_page() as opened:
        citation.click()
    section = opened.value
    section.wait_for_load_state()
    assert section.url.endswith("/help/payment-problems#i-was-charged-twice")
    expect(section.locator("[id='i-was-charged-twice']")).to_be_in_viewport()
    section.screenshot(path=str(ARTIFACTS / f"help-section-from-answer-{width}.png"))
