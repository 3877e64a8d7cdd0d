"""Web app: help-centre pages are real citation targets, and the search API answers in JSON."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.model


def test_a_citation_link_lands_on_the_section_it_names(client: TestClient) -> None:
    hit = client.get("/api/search", params={"q": "reset email never arrived", "k": 1}).json()[0]
    assert hit["link"].endswith("/help/reset-password#the-reset-email-never-arrived")
    page = client.get("/help/reset-password")
    assert page.status_code == 200
    assert 'id="the-reset-email-never-arrived"' in page.text
    assert "How do I reset my password?" in page.text


def test_relative_article_links_become_help_centre_links(client: TestClient) -> None:
    page = client.get("/help/reset-password").text
    assert 'href="/help/two-factor-authentication"' in page
    assert not re.search(r'href="[^"]+\.md', page)


def test_help_index_lists_every_article(client: TestClient) -> None:
    page = client.get("/help/").text
    assert page.count('<a href="/help/') >= 32


def test_unknown_article_and_bad_queries_get_4xx_with_a_reason(client: TestClient) -> None:
    missing = client.get("/help/no-such-article")
    assert missing.status_code == 404
    # a customer who follows a stale link gets a page that names it and leads to the others
    assert "no-such-article" in missing.text and 'href="/help/"' in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    assert client.get("/api/search").status_code == 422
    assert client.get("/api/search", params={"q": "x" * 501}).status_code == 422
    assert client.get("/api/search", params={"q": "refund", "k": 0}).status_code == 422
