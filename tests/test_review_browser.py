"""The review queue in a real browser (Debian's chromium, Playwright) on the real stack.

A customer asks in the widget something the bot does not answer from the right article; a writer
signs in, finds the question in /review, confirms where it belongs, undoes it, confirms it again;
and the bot answers the same question from that article a moment later, without a rebuild.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.stack import ROOT
from tests.conftest import WebStack

pytestmark = pytest.mark.rasa

ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 30_000
# our own words; the demo KB's refund-status article has nothing like them
QUESTION = "posted the floor lamp back to you a fortnight ago and the money still isnt here"
ARTICLE = "Where is my refund?"

try:
    from playwright.sync_api import Browser, BrowserContext, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def _open(browser: Browser, contexts: list, url: str) -> Page:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    contexts.append(context)
    page = context.new_page()
    page.goto(url)
    return page


def _ask(page: Page, text: str):
    """The customer types a question in the widget; the bot's reply to it."""
    before = page.locator(".log .msg.bot").count()
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")
    expect(page.locator(".log .msg.bot")).to_have_count(before + 1)
    return page.locator(".log .msg.bot").last


def _group(page: Page):
    """The review queue's group holding the customer's question (recorded a moment ago)."""
    deadline = time.monotonic() + 60
    while True:
        group = page.locator("li.gap").filter(has_text=QUESTION)
        if group.count():
            return group.first
        assert time.monotonic() < deadline, "the question never reached the review queue"
        time.sleep(0.5)  # the recorder leaves the newest two seconds for its next read
        page.reload()


def _learned(stack: WebStack) -> None:
    """Wait until the bot answers the question from the article (a fresh test conversation
    each time: the action server's workers pick the confirmation up within seconds)."""
    deadline = time.monotonic() + 90
    with httpx.Client(base_url=stack.url, timeout=30) as http:
        while True:
            said = http.post(
                f"/api/chat/{_conversation(http)}/messages", json={"text": QUESTION}
            ).json()
            metas = [i.get("meta") or {} for i in said["items"] if i["from"] == "bot"]
            if any(
                m.get("outcome") == "article" and m.get("article_id") == "refund-status"
                for m in metas
            ):
                return
            assert time.monotonic() < deadline, f"never learned: {metas}"
            time.sleep(0.5)


def _conversation(http: httpx.Client) -> str:
    """A new conversation id, made by the server as the widget asks for one."""
    response = http.post("/api/chat/conversations")
    response.raise_for_status()
    return response.json()["conversation_id"]


def _confirm(page: Page) -> None:
    group = _group(page)
    group.get_by_role("combobox").select_option(label=ARTICLE)
    group.get_by_role("button", name="Confirm all").click()
    expect(page.locator(".done")).to_contain_text(f"as {ARTICLE}")


def test_a_writer_confirms_undoes_and_the_bot_answers_right_afterwards(
    browser: Browser, contexts: list, web_stack: WebStack
) -> None:
    customer = _open(browser, contexts, web_stack.url + "/")
    customer.get_by_role("button", name=re.compile("Open chat")).click()
    first = _ask(customer, QUESTION)
    expect(first).not_to_contain_text(f"Source: {ARTICLE}")

    writer = _open(browser, contexts, web_stack.url + "/review?days=1")
    expect(writer).to_have_url(re.compile(r"/inbox/login"))
    writer.get_by_label(re.compile("token", re.I)).fill(web_stack.agent_token)
    writer.get_by_role("button", name="Sign in").click()
    expect(writer.get_by_role("heading", name="Review queue")).to_be_visible()

    _confirm(writer)
    recent = writer.locator("table.recent tbody tr").first
    expect(recent).to_contain_text(QUESTION)
    expect(recent).to_contain_text(ARTICLE)
    writer.locator(".done").get_by_role("button", name="Undo").click()
    expect(writer.locator("table.recent tbody tr").first).to_have_class("undone")
    expect(writer.locator("li.gap").filter(has_text=QUESTION)).to_have_count(1)

    _confirm(writer)
    ARTIFACTS.mkdir(exist_ok=True)
    writer.screenshot(path=str(ARTIFACTS / "review-queue.png"), full_page=True)
    expect(writer.locator("li.gap").filter(has_text=QUESTION)).to_have_count(0)

    _learned(web_stack)
    answer = _ask(customer, QUESTION)
    expect(answer.locator(".citation a")).to_contain_text(ARTICLE)
    customer.screenshot(path=str(ARTIFACTS / "review-learned-answer.png"))
