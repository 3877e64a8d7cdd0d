"""Every link a customer can follow, in an answer or in the help centre, opens its page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from bot.dialogue.answers import answer_text
from bot.kb.lint import lint_kb
from bot.kb.loader import rewrite_links
from bot.kb.search import KnowledgeBase
from tests.conftest import BASE_URL, write

HELP_BASE = "http://localhost:8080/help/"  # the demo index's help_base_url
MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HREF = re.compile(r'href="([^"]*)"')
IDS = re.compile(r'id="([^"]+)"')


class Walker:
    """Follows internal links with the test client, remembering each page's element ids."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.pages: dict[str, set[str] | None] = {}

    def ids(self, path: str) -> set[str] | None:
        if path not in self.pages:
            response = self.client.get(path, follow_redirects=False)
            self.pages[path] = (
                set(IDS.findall(response.text)) if response.status_code == 200 else None
            )
        return self.pages[path]

    def broken(self, link: str, page: str) -> str | None:
        """Why a link found on `page` does not open its target, or None when it does."""
        parts = urlsplit(link)
        if parts.scheme in ("mailto", "tel") or (parts.netloc and not link.startswith(HELP_BASE)):
            return None  # another site
        if not parts.scheme and not link.startswith(("/", "#")):
            return "relative: it would open a page of whatever site shows it"
        path = parts.path if not link.startswith(HELP_BASE) else urlsplit(link).path
        ids = self.ids(path or page)
        if ids is None:
            return f"{path} does not answer 200"
        anchor = unquote(parts.fragment)
        if anchor and anchor not in ids:
            return f"{path} has no element id '{anchor}'"
        return None


@pytest.mark.model
def test_every_link_in_every_answer_and_help_page_opens_its_page_and_section(
    kb: KnowledgeBase, client: TestClient
) -> None:
    walker = Walker(client)
    found: list[tuple[str, str, str]] = []  # (where, link, page it is on)
    for article in kb.reader.articles():
        for hit in kb.article_sections(article["id"]):
            for link in MD_LINK.findall(answer_text(hit)) + MD_LINK.findall(hit.text):
                found.append((f"answer {hit.id} › {hit.section}", link, "/"))
    pages = ["/help/"] + [f"/help/{a['id']}" for a in kb.reader.articles()]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = response.text.split("<main>", 1)[-1]
        found += [(f"page {page}", link, page) for link in HREF.findall(body)]
    problems = [
        f"{where}: {link}: {why}"
        for where, link, page in found
        if (why := walker.broken(link, page)) is not None
    ]
    assert problems == []
    # the walk did reach the links writers wrote, answers' citations and the articles' sections
    assert sum(".md" in link for _, link, _ in found) == 0
    assert sum("/help/contact-us" in link for _, link, _ in found) >= 10
    assert sum("#" in link for _, link, _ in found) >= 100


@pytest.mark.model
def test_a_writers_link_in_an_answer_is_the_articles_help_centre_address(
    kb: KnowledgeBase,
) -> None:
    charged = next(
        h for h in kb.article_sections("payment-problems") if h.section == "I was charged twice"
    )
    assert f"[contact us]({HELP_BASE}contact-us)" in charged.text
    answered = next(h for h in kb.article_sections("returns") if h.section == "After we receive it")
    assert f"[refund]({HELP_BASE}refund-policy)" in answered.text


@pytest.mark.model
def test_an_old_file_link_that_reached_a_customer_redirects_to_the_article(
    client: TestClient,
) -> None:
    moved = client.get("/help/contact-us.md", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (301, "/help/contact-us")
    assert client.get("/help/no-such-thing.md").status_code == 404


def test_relative_links_become_addresses_and_unknown_ones_text() -> None:
    urls = {"help/contact-us.md": "https://h/contact-us", "orders/cancel.md": "https://h/cancel"}
    text = (
        "[us](../help/contact-us.md#by-phone), [cancel](cancel.md), [here](#fees), "
        "[gone](missing.md), [page](contact-us), [web](https://x.test/a.md), "
        "`[code](cancel.md)`, [mail](mailto:a@b.test), [root](/help/cancel)"
    )
    assert rewrite_links(text, "orders/change.md", urls.get) == (
        "[us](https://h/contact-us#by-phone), [cancel](https://h/cancel), here, gone, page, "
        "[web](https://x.test/a.md), `[code](cancel.md)`, [mail](mailto:a@b.test), "
        "[root](/help/cancel)"
    )
    urls["orders/change.md"] = "https://h/change"
    assert rewrite_links("[here](#fees)", "orders/change.md", urls.get) == (
        "[here](https://h/change#fees)"
    )


def test_lint_names_links_that_cannot_be_followed(kb_dir: Path) -> None:
    write(kb_dir, "orders/cancel.md", "---\ntitle: Cancel\n---\n## Fees\n\nText.\n")
    write(
        kb_dir,
        "orders/change.md",
        "---\ntitle: Change\n---\nSee [fees](cancel.md#fees), [us](contact-us)\n"
        "and [gone](../help/contact-us.md).\n",
    )
    messages = [str(p).split("kb/", 1)[-1] for p in lint_kb(kb_dir, BASE_URL).problems]
    assert any(
        m.startswith("orders/change.md:4: warning: link to 'contact-us': not an article")
        for m in messages
    ), messages
    assert "orders/change.md:5: link to '../help/contact-us.md': no such article" in messages
    assert not any("cancel.md#fees" in m for m in messages)
