"""After hours in the widget, in chromium: a customer in Paris opens the chat while the team is
away (tests/conftest.py's after_hours_stack: today and tomorrow are holidays in New York).

The widget says nobody is there and when they are back, in the customer's own time; asking for
a person opens a request, a mistyped email is asked about, and the answer is promised by email.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo

import pytest

from bot.handoff import HandoffQueue
from bot.stack import ROOT
from tests.conftest import AFTER_HOURS_ZONE, WebStack

pytestmark = pytest.mark.rasa

ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 30_000
CUSTOMER_ZONE = "Europe/Paris"

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)


def back_in_paris() -> str:
    """9 AM in New York the day after tomorrow, as a clock in Paris ('3:00 PM')."""
    return f"{_back():%I:%M %p}".lstrip("0")


def back_day() -> str:
    """How Paris names that day: 'tomorrow' when Paris is already a day ahead of New York (from
    6 PM there), else 'on' (a weekday and date follow)."""
    today = dt.datetime.now(ZoneInfo(CUSTOMER_ZONE)).date()
    return "tomorrow" if _back().date() == today + dt.timedelta(days=1) else "on"


def _back() -> dt.datetime:
    team = ZoneInfo(AFTER_HOURS_ZONE)
    day = dt.datetime.now(team).date() + dt.timedelta(days=2)
    return dt.datetime.combine(day, dt.time(9), tzinfo=team).astimezone(ZoneInfo(CUSTOMER_ZONE))


def say(page: Page, text: str) -> None:
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")


def test_after_hours_the_widget_says_so_and_the_answer_is_promised_by_email(
    browser: Browser, after_hours_stack: WebStack
) -> None:
    stack = after_hours_stack
    context = browser.new_context(viewport={"width": 360, "height": 740}, timezone_id=CUSTOMER_ZONE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    bot = page.locator(".log .msg.bot")
    try:
        page.goto(stack.url + "/")
        page.get_by_role("button", name=re.compile("Open chat")).click()
        expect(page.get_by_role("dialog")).to_be_visible()
        # nobody is there now, and when they are back is in the customer's time
        line = page.locator("#t0-avail")
        expect(line).to_be_visible()
        expect(line).to_contain_text(f"Our team is away; back {back_day()}")
        expect(line).to_contain_text(f"at {back_in_paris()} (your time)")
        expect(page.locator(".panel")).to_have_attribute("data-available", "no")

        page.get_by_role("button", name="Talk to a human").click()
        away = bot.last
        expect(away).to_contain_text(f"Our team is away right now; they're back {back_day()}")
        expect(away).to_contain_text(f"{back_in_paris()} (your time)")
        expect(away).to_contain_text("What email address should they answer you at?")
        assert "queue" not in away.inner_text() and "shortly" not in away.inner_text()
        expect(page.locator(".status")).to_have_text("Our team will answer by email")
        expect(page.get_by_role("button", name="Talk to a human")).to_be_hidden()

        say(page, "noor.haddad@gmial")  # not an address yet
        expect(bot.last).to_contain_text("doesn't look like an email address")
        say(page, "noor.haddad@gmial.com")
        expect(bot.last).to_contain_text("Did you mean noor.haddad@gmail.com?")
        bot.last.get_by_role("button", name="Yes, noor.haddad@gmail.com").click()
        expect(bot.last).to_contain_text("by email at noor.haddad@gmail.com")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-after-hours-360.png"))
    finally:
        context.close()

    queue = HandoffQueue.from_url(f"sqlite:///{stack.data_dir / 'handoff.db'}")
    try:
        tickets = queue.list(status="open", search="noor.haddad@gmail.com")[0]
        assert [(t.after_hours, t.customer_email) for t in tickets] == [
            (True, "noor.haddad@gmail.com")
        ]
    finally:
        queue.engine.dispose()
