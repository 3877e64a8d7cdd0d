"""The chat widget in a real browser (Debian's chromium, driven by Playwright) on the real stack.

Rasa, the action server and the web app run as `bot up` runs them. When CI=true a missing browser
or Playwright is a failure; elsewhere these tests are skipped with the reason.
Screenshots go to test-artifacts/ (not committed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.handoff import HandoffQueue
from bot.stack import (
    ROOT,
)
from bot.store.demo import DemoStore
from tests.conftest import WebStack

pytestmark = pytest.mark.rasa

ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 30_000

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)


expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Stack:
    url: str
    data_dir: Path
    token: str


@pytest.fixture(scope="module")
def stack(web_stack: WebStack) -> Stack:
    """The session's real stack (tests/conftest.py), shared with the conversation tests."""
    return Stack(web_stack.url, web_stack.data_dir, web_stack.agent_token)


@pytest.fixture
def page(browser: Browser, stack: Stack, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    page.goto(stack.url + "/")
    ARTIFACTS.mkdir(exist_ok=True)
    yield page
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def open_chat(page: Page) -> None:
    page.get_by_role("button", name=re.compile("Open chat")).click()
    expect(page.get_by_role("dialog")).to_be_visible()


def say(page: Page, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def bot_messages(page: Page):
    return page.locator(".log .msg.bot")


def test_a_kb_question_gets_an_answer_whose_citation_opens_the_right_section(
    page: Page, stack: Stack
) -> None:
    open_chat(page)
    say(page, "how much does express delivery cost?")
    answer = bot_messages(page).last
    citation = answer.locator(".citation a")
    expect(citation).to_have_text("What delivery options do you offer? › Options and prices")
    href = citation.get_attribute("href")
    assert href == f"{stack.url}/help/delivery-options#options-and-prices"
    expect(answer.get_by_role("button", name="Yes, this helped")).to_be_visible()
    page.locator(".panel").screenshot(path=str(ARTIFACTS / "widget-table.png"))

    article = page.context.new_page()
    article.goto(href)
    anchor = href.split("#", 1)[1]
    expect(article.locator(f"[id='{anchor}']")).to_be_visible()
    article.close()

    answer.get_by_role("button", name="Yes, this helped").click()
    expect(bot_messages(page).last).to_contain_text("Glad that helped")
    expect(page.locator(".log .msg.user").last).to_have_text(re.compile("That helped"))


def test_an_answer_gives_the_steps_and_its_links_open_help_centre_pages(
    page: Page, stack: Stack
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    open_chat(page)
    say(page, "my card payment failed at checkout, what now?")
    steps = bot_messages(page).last
    expect(steps.locator("li")).to_have_count(4)
    expect(steps.locator(".citation a")).to_have_attribute(
        "href", f"{stack.url}/help/payment-problems#my-payment-was-declined"
    )
    page.screenshot(path=str(ARTIFACTS / "widget-steps-360.png"))
    say(page, "i think i was charged twice")
    answer = bot_messages(page).last
    expect(answer).to_contain_text("Pending amounts that did not become an order disappear")
    expect(answer.locator(".citation a")).to_have_attribute(
        "href", f"{stack.url}/help/payment-problems#i-was-charged-twice"
    )
    link = answer.get_by_role("link", name="contact us")
    expect(link).to_have_attribute("href", f"{stack.url}/help/contact-us")
    with page.context.expect_page() as opened:
        link.click()
    help_page = opened.value
    help_page.wait_for_load_state()
    expect(help_page.get_by_role("heading", level=1)).to_have_text("Contact customer service")
    help_page.close()


def test_the_password_reset_flow_completes_in_the_widget(page: Page, stack: Stack) -> None:
    email = DemoStore(stack.data_dir / "demo_store.db").customer_emails(3)[1]
    open_chat(page)
    say(page, "I forgot my password")
    expect(bot_messages(page).last).to_contain_text("email")
    say(page, email)
    expect(bot_messages(page).last).to_contain_text(f"If an account exists for {email}")
    outbox = DemoStore(stack.data_dir / "demo_store.db").outbox(email)
    assert outbox and outbox[-1]["subject"] == "Reset your password"


def test_a_handoff_an_agent_resolves_and_the_history_survives_a_reload(
    page: Page, browser: Browser, stack: Stack
) -> None:
    open_chat(page)
    say(page, "do you ship to canada?")
    expect(bot_messages(page).last).to_contain_text("Canada")
    page.locator(".panel").screenshot(path=str(ARTIFACTS / "widget-citation.png"))
    page.get_by_role("button", name="Talk to a human").click()
    status = page.locator(".status")
    expect(status).to_have_text(re.compile("Waiting for an agent"))
    expect(bot_messages(page).last).to_contain_text("passing you to a person")
    expect(page.get_by_role("button", name="Talk to a human")).to_be_hidden()

    agent_context = browser.new_context()
    agent_context.set_default_timeout(TIMEOUT_MS)
    agent = agent_context.new_page()
    agent.goto(stack.url + "/inbox")
    agent.get_by_label(re.compile("token", re.I)).fill(stack.token)
    agent.get_by_role("button", name="Sign in").click()
    queue = HandoffQueue.from_url(f"sqlite:///{stack.data_dir / 'handoff.db'}")
    # the session's stack is shared: this customer's ticket is the newest that asked this
    ticket = max(queue.list(status="open", search="do you ship to canada")[0], key=lambda t: t.id)
    queue.engine.dispose()
    agent.get_by_role("link", name=str(ticket.id), exact=True).click()
    expect(agent.locator("#transcript")).to_contain_text("do you ship to canada?")
    agent.get_by_role("button", name="Claim").click()
    expect(status).to_have_text("You're chatting with demo")
    expect(page.locator(".log .note.system")).to_contain_text("demo from our support team joined")

    agent.get_by_label("Reply to the customer").fill(
        "Hi, this is **Dana**. Yes, we ship to Canada."
    )
    agent.get_by_role("button", name="Send").click()
    agent_reply = page.locator(".log .msg.agent").last
    expect(agent_reply).to_contain_text("Hi, this is Dana. Yes, we ship to Canada.")
    expect(agent_reply.locator("strong")).to_have_text("Dana")

    say(page, "thanks, and how much is it?")
    expect(agent.locator("#transcript")).to_contain_text("thanks, and how much is it?")
    agent.get_by_label("Resolution note").fill("answered shipping question")
    agent.get_by_role("button", name="Resolve").click()
    expect(bot_messages(page).last).to_contain_text("marked your request as resolved")
    expect(status).to_have_text("Assistant")
    expect(page.get_by_role("button", name="Talk to a human")).to_be_visible()
    agent_context.close()

    before = page.locator(".log .msg").all_inner_texts()
    page.reload()
    expect(page.get_by_role("dialog")).to_be_visible()  # it stays open across the reload
    expect(page.locator(".log .msg.agent")).to_contain_text("Yes, we ship to Canada.")
    expect(page.locator(".log .msg").first).to_contain_text("do you ship to canada?")
    expect(page.locator(".log .msg")).to_have_count(len(before))
    assert page.locator(".log .msg").all_inner_texts() == before


def test_markup_in_a_message_is_shown_as_text_and_never_runs(page: Page) -> None:
    attack = "<img src=x onerror=alert(1)>"
    open_chat(page)
    say(page, attack)
    expect(page.locator(".log .msg.user p").last).to_have_text(attack)
    expect(bot_messages(page)).to_have_count(1)
    assert page.locator(".log img").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_keyboard_only_at_360_px_wide(page: Page) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    launcher = page.get_by_role("button", name=re.compile("Open chat"))
    launcher.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_label("Your message")).to_be_focused()
    box = dialog.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360
    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    expect(bot_messages(page)).to_have_count(1)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(launcher).to_be_focused()
    assert page.locator(".log").get_attribute("aria-live") == "polite"


def test_an_unreachable_server_is_announced_and_the_message_goes_when_it_is_back(
    page: Page,
) -> None:
    open_chat(page)
    page.route("**/api/chat/**", lambda route: route.abort("connectionrefused"))
    say(page, "do you ship to canada?")
    expect(page.locator(".banner")).to_contain_text("Can't reach support")
    expect(page.locator(".msg.user.pending")).to_contain_text("Not sent yet")
    page.unroute("**/api/chat/**")
    expect(bot_messages(page).last).to_contain_text("Canada", timeout=40_000)
    expect(page.locator(".banner")).to_be_hidden()
    expect(page.locator(".msg.user.pending")).to_have_count(0)
