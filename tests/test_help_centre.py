"""The help centre as a visitor uses it: search (typos, snippets, nothing found), votes,
article pages (breadcrumbs, contents, related, description, canonical), the sitemap, drafts."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.handoff.auth import hash_token
from bot.help import record
from bot.help.record import failed_searches, vote_counts
from bot.help.search import CLOSEST_WHEN_NONE_GOOD, RELATIVE_FLOOR, Speller, highlight
from bot.settings import Settings
from tests.conftest import BASE_URL as BASE
from tests.conftest import write

pytestmark = pytest.mark.model
WRITER = "writer-token-0123456789"


def _token(page: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', page).group(1)


def _https(client: TestClient) -> TestClient:
    """A visitor of the same app over HTTPS (the visitor cookie is Secure)."""
    return TestClient(client.app, base_url="https://testserver")


def _engine(client: TestClient):  # noqa: ANN202 - the app's queue engine
    return client.app.state.help_record.engine


def _period() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)


def test_a_search_finds_the_section_that_answers_with_the_words_marked(
    client: TestClient,
) -> None:
    page = client.get("/help/search", params={"q": "reset email never arrived"})
    assert page.status_code == 200
    first = page.text.index('<ol class="results">')
    assert 'href="/help/reset-password#the-reset-email-never-arrived"' in page.text[first:]
    assert re.search(r"<mark>[Ee]mail</mark>", page.text)
    assert "couldn't find an article" not in page.text


def test_the_json_twin_gives_id_title_url_with_anchor_snippet_and_score(
    client: TestClient,
) -> None:
    found = client.get("/help/search.json", params={"q": "reset email never arrived"}).json()
    assert found["good"] is True
    best = found["results"][0]
    assert best["id"] == "reset-password"
    assert best["url"].endswith("/help/reset-password#the-reset-email-never-arrived")
    assert best["snippet"] and 0 < best["score"] <= 1
    for start, end in best["highlights"]:
        assert best["snippet"][start:end].casefold().startswith(("email", "arriv", "reset"))
    scores = [r["score"] for r in found["results"]]
    assert scores == sorted(scores, reverse=True)
    # beside a good answer only results near it: none far below the best (the JSON's scores
    # are rounded to 4 places, so the comparison allows that rounding and no more)
    assert all(s >= scores[0] * RELATIVE_FLOOR - 1e-4 for s in scores)


def test_a_typing_mistake_is_corrected_to_a_word_the_articles_use(client: TestClient) -> None:
    typed = client.get("/help/search.json", params={"q": "pasword resett"}).json()
    assert typed["searched"] == "password reset"
    assert typed["results"][0]["id"] == "reset-password"
    page = client.get("/help/search", params={"q": "pasword resett"}).text
    assert "Showing results for <strong>password reset</strong>" in page


def test_the_speller_corrects_one_edit_and_leaves_known_and_short_words() -> None:
    speller = Speller(["Track your parcel", "Refunds and returns", "refund refund"])
    assert speller.correct("refnud my parcle") == "refund my parcel"  # a swap each
    assert speller.correct("trak it") == "track it"  # a letter missing
    assert speller.correct("the xyzzy") == "the xyzzy"  # nothing close: kept as typed
    assert speller.correct("Returns") == "Returns"


def test_snippets_are_text_with_spans_so_markup_in_an_article_stays_text() -> None:
    shown, marks = highlight("Use <b>code</b> **refund** to get refunds.", {"refund"})
    assert [shown[a:b] for a, b in marks] == ["refund", "refunds"]
    assert "**" not in shown


def test_markup_in_a_search_is_shown_as_text(client: TestClient) -> None:
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    page = client.get("/help/search", params={"q": attack}).text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_search_with_no_good_result_says_so_offers_the_chat_and_is_kept(
    client: TestClient,
) -> None:
    query = "quantum chromodynamics lecture notes"
    page = client.get("/help/search", params={"q": query}).text
    assert "couldn't find an article that answers this" in page
    assert f'data-ask="{query}"' in page
    closest = client.get("/help/search.json", params={"q": query}).json()["results"]
    assert len(closest) <= CLOSEST_WHEN_NONE_GOOD  # a few, headed as the closest we have
    kept = [q for q in failed_searches(_engine(client), *_period()) if q["text"] == query]
    assert len(kept) == 1 and kept[0]["kind"] == "help_search"
    # suggestions while typing are never kept; a submitted search from the JSON twin is
    client.get("/help/search.json", params={"q": query})
    client.get("/help/search.json", params={"q": query, "record": "true"})
    kept = [q for q in failed_searches(_engine(client), *_period()) if q["text"] == query]
    assert len(kept) == 2


def test_bad_search_input_gets_a_4xx_with_a_reason(client: TestClient) -> None:
    assert client.get("/help/search.json").status_code == 422
    too_long = client.get("/help/search.json", params={"q": "x" * 501})
    assert too_long.status_code == 422 and "500" in too_long.text
    assert client.get("/help/search.json", params={"q": "refund", "k": 0}).status_code == 422
    assert client.get("/help/search").status_code == 200  # the empty form: a prompt


def test_a_visitor_votes_once_per_article_and_may_say_why(client: TestClient) -> None:
    client = _https(client)
    page = client.get("/help/track-order")
    assert "Was this article helpful?" in page.text
    before = vote_counts(_engine(client), *_period()).get("track-order", {"yes": 0, "no": 0})
    token = _token(page.text)
    yes = client.post("/help/track-order/vote", data={"token": token, "helpful": "yes"})
    assert yes.status_code == 200 and "Thanks for your feedback" in yes.text
    no = client.post("/help/track-order/vote", data={"token": token, "helpful": "no"})
    assert "What was wrong?" in no.text
    why = client.post(
        "/help/track-order/vote",
        data={"token": token, "reason": "incomplete", "comment": "No word on parcels abroad"},
    )
    assert why.status_code == 200
    after = vote_counts(_engine(client), *_period())["track-order"]
    assert (after["yes"], after["no"]) == (before["yes"], before["no"] + 1)  # one vote, changed
    # the insights show it beside the bot's 👍/👎
    report = client.app.state.insights.report(*_period(), with_gaps=False)
    track = next(a for a in report["articles"] if a["id"] == "track-order")
    assert (track["page_yes"], track["page_no"]) == (after["yes"], after["no"])


def test_a_vote_from_another_site_or_another_visitor_is_refused(client: TestClient) -> None:
    client = _https(client)
    token = _token(client.get("/help/track-order").text)
    other = _https(client)
    refused = other.post("/help/track-order/vote", data={"token": token, "helpful": "yes"})
    assert refused.status_code == 403 and "reload the page" in refused.json()["detail"]
    wrong = client.post("/help/track-order/vote", data={"token": "0" * 32, "helpful": "yes"})
    assert wrong.status_code == 403
    bad = client.post("/help/track-order/vote", data={"token": token, "helpful": "maybe"})
    assert bad.status_code == 400 and "yes" in bad.json()["detail"]


def test_votes_from_one_address_are_rate_limited(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record, "VOTES_PER_HOUR", 0)
    client = _https(client)
    token = _token(client.get("/help/returns").text)
    limited = client.post("/help/returns/vote", data={"token": token, "helpful": "yes"})
    assert limited.status_code == 429 and "Too many votes" in limited.json()["detail"]
    assert limited.headers["Retry-After"]


def test_an_article_page_has_breadcrumbs_contents_related_and_search_metadata(
    client: TestClient,
) -> None:
    page = client.get("/help/reset-password").text
    assert '<nav class="crumbs" aria-label="Breadcrumb">' in page
    assert '<li aria-current="page">How do I reset my password?</li>' in page
    assert '<nav class="toc"' in page and 'href="#the-reset-email-never-arrived"' in page
    related = page[page.index('id="related-h"') :]
    assert related.count('<li><a href="/help/') >= 3
    assert 'href="/help/reset-password"' not in related
    assert re.search(r'<meta name="description" content="[^"]{20,}">', page)
    assert '<link rel="canonical" href="http://testserver/help/reset-password">' in page
    assert 'href="/">Back to the shop</a>' in page
    assert '<script src="/static/help.js" defer>' in page and "<script>" not in page


def test_the_sitemap_lists_every_article(client: TestClient) -> None:
    sitemap = client.get("/sitemap.xml")
    assert sitemap.headers["content-type"].startswith("application/xml")
    articles = client.get("/help/").text.count('<li><a href="/help/')
    assert sitemap.text.count("<loc>http://testserver/help/") == articles + 1


def test_the_theme_colour_is_one_setting_for_help_and_shop(client: TestClient) -> None:
    assert client.get("/theme.css").text.strip() == ":root{--brand:#2f5d3a}"
    assert 'data-color="#2f5d3a"' in client.get("/").text
    assert 'data-color="#2f5d3a"' in client.get("/help/").text


def test_a_draft_is_previewed_by_signed_in_writers_only(
    kb_dir: Path,
    tmp_path: Path,
    builder,
    queue,  # noqa: ANN001 - fixtures
) -> None:
    from bot.web.app import create_app

    write(kb_dir, "gift-cards.md", "---\ntitle: Gift cards\n---\nGift cards never expire.\n")
    write(
        kb_dir,
        "store-pickup.md",
        "---\ntitle: Can I pick up my order in a store?\ndraft: true\n---\n"
        "Not yet: we are opening pickup points in spring.\n",
    )
    index = tmp_path / "index"
    report = builder(kb_dir, index)
    assert report.articles == 1
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=tmp_path / "var",
        kb_dir=kb_dir,
        index_dir=index,
        agent_tokens={"writer": hash_token(WRITER)},
    )
    with TestClient(create_app(settings, queue=queue), base_url="https://testserver") as c:
        assert c.get("/help/store-pickup").status_code == 404
        assert "store-pickup" not in c.get("/help/").text
        assert "store-pickup" not in c.get("/sitemap.xml").text
        found = c.get("/help/search.json", params={"q": "pick up in store"}).json()
        assert all(r["id"] != "store-pickup" for r in found["results"])
        form = c.get("/inbox/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        c.post("/inbox/login", data={"token": WRITER, "csrf": csrf, "next": "/inbox"})
        preview = c.get("/help/store-pickup")
        assert preview.status_code == 200 and "Preview of a draft" in preview.text
        assert 'href="/help/store-pickup"' in c.get("/help/").text


def test_pictures_beside_an_article_are_shown_served_with_cache_headers_and_linked_by_the_bot(
    client: TestClient, kb
) -> None:  # noqa: ANN001 - the module's KnowledgeBase
    page = client.get("/help/reset-password").text
    src = "/help/media/account/images/reset-email.png"
    assert re.search(rf'<img alt="The reset email: [^"]+" loading="lazy" src="{src}"', page)
    picture = client.get(src)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert "max-age=86400" in picture.headers["cache-control"] and picture.headers["etag"]
    for outside in ("account/reset-password.md", "../pyproject.toml", "account/images/none.png"):
        assert client.get(f"/help/media/{outside}").status_code == 404
    steps = next(h for h in kb.article_sections("reset-password") if "Picture" in h.text)
    assert "[Picture: The reset email:" in steps.text and f"]({src})" in steps.text
    assert steps.anchor == "reset-your-password"


def test_lint_requires_alt_text_and_the_file_beside_the_articles(kb_dir: Path) -> None:
    from bot.kb.lint import lint_kb

    (kb_dir / "images").mkdir()
    (kb_dir / "images" / "box.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    write(
        kb_dir,
        "boxes.md",
        "---\ntitle: Boxes\n---\nOur boxes.\n\n![](images/box.png)\n\n"
        "![A box](images/missing.png)\n\n![A box](images/box.png)\n",
    )
    found = [str(p) for p in lint_kb(kb_dir, BASE).problems]
    assert any(":6: image 'images/box.png' has no alt text" in p for p in found)
    assert any(":8: 'images/missing.png' is not a picture or video" in p for p in found)
    assert not any(":10:" in p for p in found)


def test_the_page_topic_is_the_longest_matching_path_prefix() -> None:
    from bot.web.help import page_topic

    topics = {"/shop": "delivery", "/shop/candles/": "candle care", "/checkout": " "}
    assert page_topic(topics, "/shop/candles/tall-taper?colour=red") == "candle care"
    assert page_topic(topics, "/shop/mugs") == "delivery"
    assert page_topic(topics, "/shopping") is None  # a prefix of the name, not of the path
    assert page_topic(topics, "/checkout") is None  # a blank topic suggests nothing
    assert page_topic({"/": "anything"}, "/any/page") == "anything"
