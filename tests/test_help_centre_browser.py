"""The help centre in a real browser (Debian's chromium, driven by Playwright): searching with
suggestions from the keyboard, a vote with its reason, an article saved by a writer found a
moment later (kb_watch), and axe-core's accessibility check on every kind of help page.

The web app runs in this process on a copy of the demo articles with kb_watch on, as `make run`
runs it. axe-core comes from the axe-playwright-python package (its axe.min.js, evaluated by
Playwright, which the page's Content-Security-Policy does not apply to): nothing is fetched.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from bot.settings import Settings
from bot.stack import ROOT, free_port
from tests.conftest import DEMO_KB, write

TIMEOUT_MS = 30_000
SERIOUS = ("serious", "critical")

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError as exc:  # pragma: no cover - setup installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(f"playwright is not installed: {exc}", allow_module_level=True)

expect.set_options(timeout=TIMEOUT_MS)
pytestmark = pytest.mark.model


@dataclass
class Help:
    url: str
    kb_dir: Path


@pytest.fixture(scope="module")
def help_centre(
    demo_index: Path,
    embedder,
    onnx_export: Path,
    tmp_path_factory: pytest.TempPathFactory,  # noqa: ANN001
) -> Iterator[Help]:
    from bot.kb.search import KnowledgeBase
    from bot.web.app import create_app

    folder = tmp_path_factory.mktemp("help-browser")
    kb_dir, index = folder / "kb", folder / "index"
    shutil.copytree(DEMO_KB, kb_dir)
    shutil.copytree(demo_index, index)
    settings = Settings(
        settings_file=folder / "none.toml",
        data_dir=folder / "var",
        kb_dir=kb_dir,
        index_dir=index,
        nlu_dir=ROOT / "data" / "nlu",
        help_base_url="http://localhost:8080/help/",  # as demo_index was built: nothing to redo
        database_url=f"sqlite:///{folder / 'queue.db'}",
        cookie_secure=False,  # plain http on loopback
        rasa_url="http://127.0.0.1:9",  # no Rasa: the help centre needs none
        kb_watch=True,
        encoder_dir=onnx_export.parent,  # the live indexer's encoder, exported once per session
        widget_page_topics={"/help/track-order": "my parcel has not arrived"},
    )
    kb = KnowledgeBase(index, settings.embedding_model, embedder=embedder)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, kb=kb), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.05)
        yield Help(f"http://127.0.0.1:{port}", kb_dir)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_visitor_searches_with_suggestions_from_the_keyboard(help_centre: Help, page) -> None:  # noqa: ANN001
    page.goto(f"{help_centre.url}/help/")
    box = page.get_by_role("combobox", name="Search the help centre")
    box.press_sequentially("pasword reset", delay=30)
    options = page.get_by_role("listbox", name="Suggested articles").get_by_role("option")
    expect(options.first).to_contain_text("How do I reset my password?")
    expect(box).to_have_attribute("aria-expanded", "true")
    box.press("ArrowDown")
    expect(box).to_have_attribute("aria-activedescendant", "help-suggestion-0")
    box.press("Enter")
    expect(page).to_have_url(f"{help_centre.url}/help/reset-password")
    # the same box, without choosing a suggestion: the results page
    box = page.get_by_role("combobox", name="Search the help centre")
    box.fill("where is my parcel")
    box.press("Enter")  # no suggestion chosen: the form's own search
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “where is my parcel”")
    expect(page.locator(".results li").first.locator("mark").first).to_be_visible()


def test_a_search_with_no_good_result_offers_the_chat_with_the_question(
    help_centre: Help,
    page,  # noqa: ANN001
) -> None:
    page.goto(f"{help_centre.url}/help/search?q=quantum+chromodynamics+lecture+notes")
    expect(page.get_by_text("We couldn't find an article that answers this.")).to_be_visible()
    page.get_by_role(
        "button", name="Ask “quantum chromodynamics lecture notes” in the chat"
    ).click()
    message = page.get_by_role("textbox", name="Your message")
    expect(message).to_have_value("quantum chromodynamics lecture notes")


def test_a_visitor_votes_no_and_says_why(help_centre: Help, page) -> None:  # noqa: ANN001
    page.goto(f"{help_centre.url}/help/track-order")
    page.get_by_role("button", name="No", exact=True).click()
    expect(
        page.get_by_role("heading", name="Sorry it didn't help. What was wrong?")
    ).to_be_visible()
    page.get_by_label("Something was missing").check()
    page.get_by_label("Anything else?").fill("Nothing about parcels sent abroad")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Thanks for your feedback!")).to_be_visible()


def test_a_saved_article_is_found_a_moment_later(help_centre: Help, page) -> None:  # noqa: ANN001
    page.goto(f"{help_centre.url}/help/")
    box = page.get_by_role("combobox", name="Search the help centre")
    box.press_sequentially("gift wrap", delay=30)
    options = page.get_by_role("listbox", name="Suggested articles").get_by_role("option")
    expect(options.first).to_be_visible()  # what the help centre has before the save
    write(
        help_centre.kb_dir,
        "orders/gift-wrapping.md",
        "---\ntitle: Can you gift-wrap my order?\n---\n"
        "Yes. Choose **Gift wrap** at checkout: we wrap each item in recycled paper.\n",
    )
    # the watch publishes the article while the visitor looks; suggestions ask again
    # a bound for a stuck watch, not a speed check (benchmarks/live_article.py measures that)
    deadline = time.monotonic() + 120
    while "Can you gift-wrap my order?" not in options.first.inner_text():
        assert time.monotonic() < deadline, "the saved article never appeared"
        # the same words typed again are not asked again while their suggestions are open:
        # close them first, as a visitor pressing Escape would, so the next ones are fresh
        box.press("Escape")
        box.press("Backspace")
        box.press("p")
        page.wait_for_timeout(200)  # polling: the next suggestion request
    options.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Can you gift-wrap my order?")


def test_a_customer_searches_the_articles_from_the_widget(help_centre: Help, page) -> None:  # noqa: ANN001
    page.goto(f"{help_centre.url}/help/")
    page.get_by_role("button", name="Open chat: Northwind Goods support").click()
    page.get_by_role("button", name="Search help articles").click()
    box = page.get_by_role("searchbox", name="Search help articles")
    expect(box).to_be_focused()
    box.fill("pasword reset")  # a typing mistake, as customers make them
    box.press("Enter")
    found = page.get_by_role("list", name="Help articles found").get_by_role("link")
    expect(found.first).to_contain_text("How do I reset my password?")
    assert found.first.get_attribute("href").endswith("/help/reset-password")
    expect(page.get_by_role("status").filter(has_text="found")).to_be_visible()
    # nothing good: the search can become a question in the chat
    box.fill("quantum chromodynamics lecture notes")
    box.press("Enter")
    expect(page.get_by_text("We couldn't find an article that answers this.")).to_be_visible()
    page.get_by_role("button", name="Ask in the chat instead").click()
    message = page.get_by_role("textbox", name="Your message")
    expect(message).to_have_value("quantum chromodynamics lecture notes")
    expect(message).to_be_focused()
    expect(box).to_be_hidden()


def test_the_widget_suggests_articles_for_the_page_it_is_on(help_centre: Help, page) -> None:  # noqa: ANN001
    page.goto(f"{help_centre.url}/help/track-order")  # widget_page_topics names this page
    page.get_by_role("button", name="Open chat: Northwind Goods support").click()
    suggested = page.get_by_role("list", name="Articles for this page").get_by_role("link")
    expect(suggested.first).to_be_visible()
    titles = suggested.all_inner_texts()
    assert any("parcel" in t.lower() or "order" in t.lower() for t in titles), titles
    page.goto(f"{help_centre.url}/help/")  # no topic for this page: no suggestions
    # (the panel stays open from page to page in the tab)
    expect(page.get_by_role("log", name="Conversation")).to_contain_text("How can I help?")
    expect(page.get_by_role("list", name="Articles for this page")).to_have_count(0)


def _axe(page: Page) -> list[dict]:
    import axe_playwright_python

    source = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
    page.evaluate(source)
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/help/",
        "/help/reset-password",
        "/help/reset-password?voted=reason",
        "/help/search?q=refund",
        "/help/search?q=quantum+chromodynamics",
        "/help/no-such-article",
    ],
)
def test_help_pages_pass_axe_core_with_no_serious_violation(
    help_centre: Help,
    page,
    path: str,  # noqa: ANN001
) -> None:
    page.goto(f"{help_centre.url}{path}")
    if path == "/help/":
        box = page.get_by_role("combobox", name="Search the help centre")
        box.press_sequentially("refund", delay=30)
        expect(page.get_by_role("listbox", name="Suggested articles")).to_be_visible()
    assert _axe(page) == []
