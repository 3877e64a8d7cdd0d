"""A few of the conversation scripts (tests/conversations) typed into the widget in chromium.

The same scripts as tests/test_conversations.py, but as a customer sees them: typed into the chat
panel of the demo store page, on a phone-sized screen for one. Only what the customer can see is
checked (the text of the bot's messages); screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import re

import pytest

from bot.stack import ROOT
from tests.conftest import WebStack
from tests.test_conversations import CONVERSATIONS, fill

pytestmark = pytest.mark.rasa

ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 30_000
IN_THE_BROWSER = {
    "after a password reset tracking asks for the order's email": (1100, 800),
    "one sentence with everything as a second message": (360, 740),
    "a wrong email then the right one retries the lookup": (360, 740),
    "never mind with a question stops the reset and answers it": (1100, 800),
    # an article's guide clicked through in the chat, on a desktop and on a phone
    "a guide clicked through to an answer cites its article": (1100, 800),
    "a guide clicked through to a person hands off with the path taken": (360, 740),
    "a guide's choices typed as numbers and words, and back": (360, 740),
}

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)


def _bot_texts(page: Page) -> list[str]:
    return page.locator(".log .msg.bot").all_inner_texts()


def _turn(page: Page, send) -> str:
    """Do one customer action; the text of the bot messages it brought."""
    before = len(_bot_texts(page))
    send()
    expect(page.locator(".log .msg.bot")).not_to_have_count(before, timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)  # a turn's messages arrive together; let them all render
    return "\n".join(_bot_texts(page)[before:])


@pytest.mark.parametrize(
    "conversation",
    [c for c in CONVERSATIONS if c.values[0]["name"] in IN_THE_BROWSER],
)
def test_conversation_in_the_widget(
    conversation, browser: Browser, web_stack: WebStack, store_data: dict
) -> None:
    data = store_data
    name = conversation["name"]
    width, height = IN_THE_BROWSER[name]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(web_stack.url + "/")
        page.get_by_role("button", name=re.compile("Open chat")).click()
        expect(page.get_by_role("dialog")).to_be_visible()
        for number, step in enumerate(conversation["steps"]):
            if "ticket" in step:
                continue  # the ticket is the agent's side: tests/test_conversations.py checks it
            if "click" in step:
                button = page.get_by_role("button", name=step["click"]).last
                shown = _turn(page, button.click)
            else:
                said = fill(step["say"], data, name)
                box = page.get_by_label("Your message")

                def type_it(box=box, said=said) -> None:
                    box.fill(said)
                    box.press("Enter")

                shown = _turn(page, type_it)
            expected = step.get("bot", {})
            for phrase in expected.get("says", []):
                assert fill(phrase, data, name).lower() in shown.lower(), (number, shown)
            for phrase in expected.get("not_says", []):
                assert fill(phrase, data, name).lower() not in shown.lower(), (number, shown)
            # markup never reaches the customer as raw Markdown
            assert "**" not in shown and "](" not in shown, shown
        ARTIFACTS.mkdir(exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        page.screenshot(path=str(ARTIFACTS / f"conversation-{slug}.png"))
    finally:
        context.close()


def test_a_help_centre_guide_that_ends_with_a_person_asks_for_one_in_the_chat(
    browser: Browser, web_stack: WebStack
) -> None:
    """The password-reset guide walked on its help page to "a person can check your account":
    "Ask a person in the chat" opens the widget and asks for one at once, the message naming
    the article and the answers chosen (the ticket's first words for the agent), not the guide's
    first question again (which the bot would answer with the guide)."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(web_stack.url + "/help/reset-password")
        page.get_by_role("link", name="No, it isn't there").click()
        page.get_by_role("link", name="Yes, it was right").click()
        page.get_by_role("button", name="Ask a person in the chat").locator("visible=true").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        said = page.locator(".log .msg.user").last
        expect(said).to_contain_text("the troubleshooting steps in “How do I reset my password?”")
        expect(said).to_contain_text("No, it isn't there → Yes, it was right")
        # the reply to it (after the panel's greeting): a person, whenever it arrives
        expect(page.locator(".log .msg.bot").last).to_contain_text(re.compile("person|team", re.I))
        shown = "\n".join(_bot_texts(page))
        assert "spam" not in shown.lower(), shown  # not the guide again
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "help-guide-asks-for-a-person.png"))
    finally:
        context.close()
