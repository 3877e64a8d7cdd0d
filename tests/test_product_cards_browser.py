"""Product cards in the widget, in chromium, at desktop width and on a 360 px phone: picture,
name, price, the asked variant's availability, one link per card, reachable by keyboard."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from bot.stack import ROOT
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


@pytest.fixture(params=[(1100, 800), (360, 740)], ids=["desktop", "phone"])
def page(browser: Browser, web_stack: WebStack, request: pytest.FixtureRequest) -> Iterator[Page]:
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(web_stack.url + "/")
    ARTIFACTS.mkdir(exist_ok=True)
    yield page
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    context.close()


def test_a_product_question_gets_cards_a_keyboard_reaches(page: Page) -> None:
    page.get_by_role("button", name=re.compile("Open chat")).click()
    box = page.get_by_label("Your message")
    box.fill("is the stoneware mug dishwasher safe?")
    box.press("Enter")
    cards = page.get_by_role("list", name="Products").last
    expect(cards).to_be_visible(timeout=TIMEOUT_MS)
    link = cards.get_by_role("link").first
    expect(link).to_contain_text("Stoneware Mug")
    expect(link).to_contain_text("$")
    expect(link).to_contain_text("in stock")
    assert "/products/stoneware-mug" in (link.get_attribute("href") or "")
    expect(page.locator(".log .msg.bot").last).to_contain_text("Dishwasher and microwave safe")
    # the cards fit the widget: nothing wider than the viewport
    width = page.evaluate("window.innerWidth")
    box_right = cards.bounding_box()
    assert box_right is not None and box_right["x"] + box_right["width"] <= width + 1
    link.focus()
    expect(link).to_be_focused()
