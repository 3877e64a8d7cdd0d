"""A seeded week of customer traffic through the real stack, then the insights report of it.

The conversations (tests/traffic.py: our own phrasings for the flows and articles, out of scope,
and topics the demo KB does not cover) go through the widget's gateway on the real Rasa, action
server and web app; the report is read from the web app's JSON twin and, for endings, built with
a clock an hour later (so none is still open). The counts must match what was sent, the uncovered
topics must come out as the top content gaps, and once an article covers one and the index is
rebuilt, that gap must show as covered.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.dialogue.answers import Gate
from bot.handoff.db import create_db_engine
from bot.insights.gaps import Question, find_gaps
from bot.insights.overview import Insights, period
from bot.insights.recorder import SETTLE_SECONDS
from bot.insights.report import build_report, failed_questions
from bot.kb.builder import BuildOptions, build_index
from bot.kb.chunker import ChunkConfig
from bot.kb.search import KnowledgeBase
from bot.stack import ROOT
from tests.conftest import DEMO_KB, DEMO_NLU
from tests.traffic import UNCOVERED, expected_summary, play, week

pytestmark = [pytest.mark.rasa, pytest.mark.model]

ARTIFACTS = ROOT / "test-artifacts"
PICKUP_ARTICLE = """---
title: Picking up your order in store
category: Orders
questions:
  - Can I collect my order from a shop?
  - Do you offer click and collect?
  - Can I pick up my parcel in person instead of delivery?
---

# Picking up your order in store

You can choose **Pick up in store** at checkout for any order. We email you when it is ready,
usually within two working days. Bring the email and a photo ID; someone else can collect it
with your email and their own ID.
"""


@pytest.fixture(scope="module")
def simulated(web_stack):
    """The week played once; each conversation's played steps, by conversation id."""
    scripts = week(seed=7)
    with ThreadPoolExecutor(max_workers=4) as pool:
        played = list(pool.map(lambda s: play(web_stack, s), scripts))
    return scripts, played


def _insights(web_stack) -> Insights:
    settings = web_stack.settings
    engine = create_db_engine(settings.queue_url)
    return Insights(
        settings, engine, lambda: KnowledgeBase(settings.index_dir, settings.embedding_model)
    )


def test_the_report_counts_what_the_customers_did(web_stack, simulated):
    scripts, played = simulated
    expected = expected_summary(scripts)
    bearer = {"Authorization": f"Bearer {web_stack.agent_token}"}
    time.sleep(SETTLE_SECONDS + 1)  # the recorder leaves the last moments for the next read
    live = httpx.get(f"{web_stack.url}/insights.json", headers=bearer, timeout=120).json()
    ours = {p[0]["conversation_id"] for p in played if p}
    # other tests share the stack: the live report holds at least this week
    assert live["conversations"]["total"] >= len(scripts)
    insights = _insights(web_stack)
    insights.record()
    since, until = period(None, None, 1)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    data = build_report(
        insights.engine,
        since=since,
        until=until,
        now=later,
        idle_minutes=30,
        test_prefixes=web_stack.settings.insights_test_prefixes,
        only=ours,
    )
    totals = data["conversations"]
    assert totals["total"] == expected["conversations"]
    for ending, count in expected["endings"].items():
        assert totals[ending] == count, (ending, totals)
    reasons = {r: n for r, n in expected["handoff_reasons"].items() if n}
    assert totals["handed_off_by_reason"] == reasons
    assert data["answers"]["up"] == expected["thumbs_up"]
    assert data["answers"]["down"] == expected["thumbs_down"]
    assert data["rates"]["cant_answer"] == expected["cant_answer"]
    assert data["rates"]["containment"] == pytest.approx(expected["containment"], abs=1e-3)


def test_uncovered_topics_are_the_top_gaps_until_an_article_covers_one(
    web_stack, simulated, embedder, tmp_path: Path
):
    scripts, played = simulated
    expected = expected_summary(scripts)["uncovered_topics"]
    ours = {p[0]["conversation_id"] for p in played if p}
    insights = _insights(web_stack)
    insights.record()
    since, until = period(None, None, 1)
    settings = web_stack.settings
    gate = Gate(
        settings.answer_threshold, settings.clarify_threshold, settings.similarity_threshold
    )
    # other tests share the stack and fail on questions of their own: rank this week's alone
    questions = [
        Question(**q)
        for q in failed_questions(insights.engine, since=since, until=until)
        if q["conversation_id"] in ours
    ]
    live_kb = KnowledgeBase(settings.index_dir, "all-MiniLM-L6-v2", embedder)
    gaps = find_gaps(questions, live_kb, gate, settings.nlu_weight)
    top = gaps[: len(UNCOVERED)]
    words = {"store_pickup": "pick", "gift_wrapping": "wrap", "loyalty_points": "point"}
    # the page's list (all the stack's traffic) holds them too
    listed = insights.gaps(since, until)
    for topic in UNCOVERED:
        found = [g for g in top if any(words[topic] in e.lower() for e in g.examples)]
        assert found, (topic, [g.title for g in gaps[:6]])
        # a topic may split into more than one group, but the top one is asked by several
        assert 2 <= found[0].customers <= expected[topic] * 2, (topic, found[0])
        assert found[0].action == "write_article" and found[0].covered_by is None
        assert any(any(words[topic] in e.lower() for e in g.examples) for g in listed), topic
    # a writer adds an article for store pickup and the index is rebuilt
    kb_dir = tmp_path / "kb"
    shutil.copytree(DEMO_KB, kb_dir)
    (kb_dir / "orders" / "store-pickup.md").write_text(PICKUP_ARTICLE, encoding="utf-8")
    index = tmp_path / "index"
    options = BuildOptions(
        kb_dir=kb_dir,
        index_dir=index,
        base_url=f"{web_stack.url}/help/",
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=DEMO_NLU,
    )
    build_index(options, embedder_factory=lambda name: embedder)
    rebuilt = find_gaps(
        questions, KnowledgeBase(index, "all-MiniLM-L6-v2", embedder), gate, settings.nlu_weight
    )
    pickup = [g for g in rebuilt if any("pick" in e.lower() for e in g.examples)]
    assert pickup, [g.title for g in rebuilt]
    # answered by the new article now, or (not sure enough to answer it outright: the gate's
    # middle) the advice is to add these phrasings to it
    top = pickup[0]
    if top.covered_by is None:
        assert top.action == "add_phrasings", top
        assert top.closest_article["id"].endswith("store-pickup"), top
    else:
        assert top.covered_by["id"].endswith("store-pickup"), top
    wrapping = [g for g in rebuilt if any("wrap" in e.lower() for e in g.examples)]
    assert wrapping and wrapping[0].covered_by is None


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (360, 740)])
def test_the_insights_page_for_a_signed_in_lead(browser, web_stack, simulated, width, height):
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(web_stack.url + "/insights")
    page.get_by_label(re.compile("token", re.I)).fill(web_stack.agent_token)  # no token, no page
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Insights", exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name=re.compile("rates that matter"))).to_be_visible()
    expect(page.get_by_text("Containment", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Content gaps"))).to_be_visible()
    # polled with evaluate (the page's CSP forbids the eval that wait_for_function uses)
    loaded = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
    deadline = time.monotonic() + 60
    while not page.evaluate(loaded):
        assert time.monotonic() < deadline, "the charts did not load"
        page.wait_for_timeout(100)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    with page.expect_download() as download:
        page.get_by_role("link", name="Download a draft article").first.click()
    draft = Path(download.value.path()).read_text(encoding="utf-8")
    assert draft.startswith("---") and "title:" in draft and "questions:" in draft
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"insights-{width}.png"), full_page=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"insights-{width}-top.png"))
    context.close()
