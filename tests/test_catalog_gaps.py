"""Catalogue gaps in the insights: what customers asked for that we do not sell, recorded from
the bot's "we don't sell that" answers, grouped by meaning, the most asked first, on the page
and in its JSON twin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.catalog.alerts import AlertStore
from bot.handoff.auth import hash_token
from bot.insights.gaps import Question, find_catalog_gaps
from bot.insights.overview import period
from bot.insights.report import not_sold_questions
from bot.kb.search import KnowledgeBase
from bot.settings import Settings
from bot.web.app import create_app
from tests.conftest import write
from tests.test_insights import Tracker, recorder
from tests.test_restock import RUNNER

pytestmark = pytest.mark.model

TOKEN = "lead-token-0123456789"
NOT_SOLD = (
    "I'm sorry, we don't sell that. These are the closest things we have:",
    {"outcome": "product", "products": [{"id": "P0101"}], "more": None, "not_sold": True},
)
SOLD = ("Here's what I found:", {"outcome": "product", "products": [{"id": "P0101"}]})
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ASKED = [
    ("c1", "do you sell laptops?"),
    ("c2", "do you have any laptops"),
    ("c3", "i want to buy a laptop"),
    ("c4", "do you sell bicycles?"),
    ("c5", "do you have any bikes"),
    ("c6", "do you sell car tyres?"),
    ("c1", "do you sell laptops?"),  # the same customer again counts once
]


def test_requests_for_what_we_do_not_sell_are_grouped_most_asked_first(embedder) -> None:
    questions = [
        Question(c, text, START + timedelta(minutes=i), "not_sold")
        for i, (c, text) in enumerate(ASKED)
    ]
    gaps = find_catalog_gaps(questions, embedder)
    assert [g.customers for g in gaps] == [3, 2, 1]
    laptops, bikes, tyres = gaps
    assert laptops.title == "do you sell laptops?" and laptops.questions == 3
    assert set(laptops.examples) == {
        "do you sell laptops?",
        "do you have any laptops",
        "i want to buy a laptop",
    }
    assert set(bikes.examples) == {"do you sell bicycles?", "do you have any bikes"}
    assert tyres.examples == ["do you sell car tyres?"]
    assert laptops.to_dict()["last_asked"] == (START + timedelta(minutes=2)).isoformat()
    assert find_catalog_gaps([], embedder) == []


def test_the_recorder_marks_them_and_the_insights_page_lists_them(
    queue_url: str, tmp_path: Path, kb_dir: Path, builder, embedder
) -> None:
    write(
        kb_dir,
        "returns.md",
        """
        ---
        title: Returns
        id: returns
        ---
        Send it back within 30 days for a full refund.
        """,
    )
    builder(kb_dir, tmp_path / "index")
    kb = KnowledgeBase(tmp_path / "index", "all-MiniLM-L6-v2", embedder=embedder)
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    tracker = Tracker(data_dir / "conversations.db")
    for conversation, text in ASKED:
        tracker.turn(f"conv-{conversation}-0001", text, "out_of_scope", NOT_SOLD)
    tracker.turn("conv-c7-0001", "any candles?", "ask_question", SOLD)
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=data_dir,
        database_url=queue_url,
        index_dir=tmp_path / "index",
        agent_tokens={"lead": hash_token(TOKEN)},
    )
    app = create_app(settings, kb=kb)
    try:
        rec = recorder(app.state.queue, tracker)
        rec.record()
        rec.close()
        since, until = period(None, None, 7)
        asked = not_sold_questions(app.state.queue.engine, since=since, until=until)
        assert len(asked) == len(ASKED) and "any candles?" not in {q["text"] for q in asked}
        alerts = AlertStore(app.state.queue.engine)
        for email in ("ana@example.com", "bo@example.com"):
            alerts.confirm(alerts.subscribe(email, RUNNER).alert.id)
        alerts.subscribe("cy@example.com", RUNNER)
        with TestClient(app, base_url="https://testserver") as client:
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            data = client.get("/insights.json", headers=bearer).json()
            gaps = data["catalog_gaps"]
            assert [(g["title"], g["customers"]) for g in gaps] == [
                ("do you sell laptops?", 3),
                ("do you sell bicycles?", 2),
                ("do you sell car tyres?", 1),
            ]
            waiting = data["restock_alerts"]
            assert waiting["counts"]["confirmed"] == 2 and waiting["counts"]["pending"] == 1
            assert [(w["variant_id"], w["waiting"]) for w in waiting["waiting"]] == [
                ("RUN-CHAR-240", 2)
            ]
            page = client.get("/insights", headers=bearer).text
            assert "Back-in-stock alerts: what customers wait for" in page
            assert "Catalogue gaps: what customers asked for that we don't sell" in page
            assert page.index("do you sell laptops?") < page.index("do you sell bicycles?")
    finally:
        app.state.queue.close()
