"""Recording turns from Rasa's tracker store and the report built on them (SQLite and PostgreSQL).

The tracker store here is a real SQLite file with Rasa's `events` table, holding events shaped as
Rasa 3.6 stores them; the queue's database is SQLite or PostgreSQL. The end-to-end check against
the real Rasa is tests/test_insights_stack.py.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    select,
)

from bot.handoff import HandoffQueue, NewTicket
from bot.insights.overview import period
from bot.insights.recorder import Recorder
from bot.insights.report import build_report, failed_questions
from bot.insights.schema import turns

rasa_events = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)


class Tracker:
    """Writes Rasa-shaped events into a tracker store's `events` table."""

    def __init__(self, path: Path) -> None:
        self.url = f"sqlite:///{path}"
        self.engine = create_engine(self.url)
        rasa_events.metadata.create_all(self.engine)
        self.clock = time.time() - 3600

    def _add(self, sender: str, kind: str, data: dict) -> None:
        self.clock += 1
        data = {"event": kind, "timestamp": self.clock, **data}
        with self.engine.begin() as conn:
            conn.execute(
                insert(rasa_events).values(
                    sender_id=sender, type_name=kind, timestamp=self.clock, data=json.dumps(data)
                )
            )

    def turn(self, sender: str, text: str, intent: str, *replies: tuple[str, dict], action=None):
        """A customer message, the actions that answered it and their messages, then listen."""
        self._add(
            sender,
            "user",
            {"text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.9}}},
        )
        self._add(sender, "action", {"name": action or "action_kb_answer"})
        for words, custom in replies:
            self._add(sender, "bot", {"text": words, "data": {"custom": custom}})
        self._add(sender, "action", {"name": "action_listen"})


def answer(article: str, section: str = "Intro") -> tuple[str, dict]:
    return (
        "Here is how.",
        {
            "outcome": "article",
            "article_id": article,
            "score": 0.8,
            "intent": "faq",
            "citation": {"id": article, "title": article.title(), "section": section},
            "feedback": True,
        },
    )


CANT = ("I can't answer that.", {"outcome": "fallback", "score": 0.1, "top_article": "returns"})


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(tmp_path / "conversations.db")


def recorder(queue: HandoffQueue, tracker: Tracker, **kw) -> Recorder:
    return Recorder(queue.engine, tracker.url, test_prefixes=["eval-", "load-"], **kw)


def rows(queue: HandoffQueue) -> list[dict]:
    with queue.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(turns).order_by(turns.c.id)).mappings()]


def report(queue: HandoffQueue, **kw) -> dict:
    since, until = period(None, None, 7)
    return build_report(queue.engine, since=since, until=until, test_prefixes=["eval-"], **kw)


def test_each_customer_message_is_recorded_once_with_what_the_bot_did(queue, tracker):
    tracker.turn("conv-answer-1", "how do returns work", "faq", answer("returns"))
    tracker.turn("conv-answer-1", "/feedback_helpful", "feedback_helpful", action="action_feedback")
    tracker.turn("conv-cant-0001", "do you do gift wrapping", "out_of_scope", CANT)
    tracker.turn(
        "conv-flow-0001",
        "track 100-9246 tara@example.com",
        "track_order",
        ("Order is shipped.", {"outcome": "flow", "flow": "track_order", "result": "found"}),
    )
    tracker.turn("eval-abcdef12", "where is my parcel", "faq", answer("shipping"))
    rec = recorder(queue, tracker)
    done = rec.record()
    assert done.turns == 5 and done.feedback == 1
    assert rec.record().turns == 0  # nothing new: nothing recorded twice
    by_text = {r["text"]: r for r in rows(queue)}
    assert by_text["how do returns work"]["outcome"] == "article"
    assert by_text["how do returns work"]["article_id"] == "returns"
    assert by_text["how do returns work"]["feedback"] == "up"
    assert by_text["/feedback_helpful"]["kind"] == "feedback"
    assert by_text["do you do gift wrapping"]["outcome"] == "fallback"
    assert by_text["do you do gift wrapping"]["top_article"] == "returns"
    flow = by_text["track 100-9246 tara@example.com"]
    assert (flow["flow"], flow["flow_result"]) == ("track_order", "found")
    assert by_text["where is my parcel"]["test"] is True
    rec.close()


def test_a_thumbs_down_goes_to_the_answer_before_it_and_typed_problems_stay_requests(
    queue, tracker
):
    tracker.turn("conv-down-0001", "how long do refunds take", "faq", answer("refunds"))
    tracker.turn(
        "conv-down-0001",
        "didn't help",
        "feedback_not_helpful",
        ("Sorry that didn't help.", {"outcome": "fallback", "article_id": "refunds"}),
        action="action_feedback",
    )
    # the NLU said feedback but the router placed it: the feedback action handed it on
    tracker._add(
        "conv-down-0001",
        "user",
        {
            "text": "i got the wrong item in my box",
            "parse_data": {"intent": {"name": "feedback_not_helpful"}},
        },
    )
    tracker._add("conv-down-0001", "action", {"name": "action_feedback"})
    tracker._add("conv-down-0001", "action", {"name": "action_kb_answer"})
    words, custom = answer("wrong-item")
    tracker._add("conv-down-0001", "bot", {"text": words, "data": {"custom": custom}})
    tracker._add("conv-down-0001", "action", {"name": "action_listen"})
    recorder(queue, tracker).record()
    by_text = {r["text"]: r for r in rows(queue)}
    assert by_text["how long do refunds take"]["feedback"] == "down"
    assert by_text["didn't help"]["kind"] == "feedback"
    assert by_text["i got the wrong item in my box"]["kind"] == "message"
    assert by_text["i got the wrong item in my box"]["outcome"] == "article"
    questions = failed_questions(
        queue.engine, since=period(None, None)[0], until=period(None, None)[1]
    )
    assert [q["kind"] for q in questions] == ["thumbs_down"]


def test_small_batches_never_split_a_turn_and_text_can_be_left_out(queue, tracker):
    for n in range(6):
        tracker.turn(f"conv-batch-{n:04d}", f"question {n}", "faq", answer("returns"), CANT)
    rec = recorder(queue, tracker, keep_text=False)
    assert rec.record(batch=7).turns == 6
    recorded = rows(queue)
    assert all(r["outcome"] == "article" and r["text"] is None for r in recorded)


def test_the_report_counts_conversations_by_how_they_ended(queue, tracker):
    tracker.turn("conv-resolved1", "how do returns work", "faq", answer("returns"))
    tracker.turn(
        "conv-resolved2",
        "where is 100-9246",
        "track_order",
        ("Shipped.", {"outcome": "flow", "flow": "track_order", "result": "found"}),
    )
    tracker.turn("conv-abandon01", "gift wrap?", "out_of_scope", CANT)
    tracker.turn("conv-downvote1", "refund time", "faq", answer("refunds"))
    tracker.turn(
        "conv-downvote1",
        "/feedback_not_helpful",
        "feedback_not_helpful",
        ("Sorry.", {"outcome": "fallback"}),
        action="action_feedback",
    )
    tracker.turn(
        "conv-handoff01",
        "i want a person",
        "request_human",
        ("Passing you on.", {"outcome": "handoff", "reason": "customer_request"}),
        action="action_handoff",
    )
    tracker.turn("conv-greeting1", "hello", "greet", ("Hi!", {"outcome": "smalltalk"}))
    tracker.turn("eval-12345678", "test traffic", "faq", answer("returns"))
    queue.create(NewTicket(conversation_id="conv-handoff01", reason="customer_request"))
    recorder(queue, tracker).record()
    data = report(queue)
    totals = data["conversations"]
    assert totals["total"] == 6
    assert (totals["resolved"], totals["abandoned"], totals["handed_off"]) == (2, 2, 1)
    assert totals["no_question"] == 1 and totals["open"] == 0
    assert totals["handed_off_by_reason"] == {"customer_request": 1}
    rates = data["rates"]
    assert rates["conversations_ended"] == 5
    assert rates["containment"] == 0.8 and rates["automated_resolution"] == 0.4
    assert rates["cant_answer"] == 1 and rates["helpful"] == 0.0
    refunds = next(a for a in data["articles"] if a["id"] == "refunds")
    assert (refunds["served"], refunds["down"]) == (1, 1)
    assert data["articles"][0]["id"] == "refunds"  # the one to rewrite first
    assert data["queue"]["waiting"] == 1
    assert sum(d["resolved"] for d in data["days"]) == 2
    with_test = report(queue, include_test=True)
    assert with_test["conversations"]["total"] == 7
    # a conversation still going is open, not abandoned
    recent = report(queue, now=dt.datetime.fromtimestamp(tracker.clock + 60, dt.UTC))
    assert recent["conversations"]["open"] >= 1


def test_purge_deletes_turns_older_than_the_retention(queue, tracker):
    tracker.turn("conv-old-00001", "how do returns work", "faq", answer("returns"))
    rec = recorder(queue, tracker)
    rec.record()
    assert rec.purge(dt.datetime.now(dt.UTC) - dt.timedelta(days=1)) == 0
    assert rec.purge(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1
    assert rows(queue) == []


AGENT_TOKEN = "lead-token-0123456789"


@pytest.fixture
def web(tmp_path: Path):
    from fastapi.testclient import TestClient

    from bot.handoff.auth import hash_token
    from bot.settings import Settings
    from bot.web.app import create_app

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    tracker = Tracker(data_dir / "conversations.db")
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=data_dir,
        index_dir=tmp_path / "no-index",
        agent_tokens={"lead": hash_token(AGENT_TOKEN)},
    )
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as client:
        yield client, tracker
    app.state.queue.close()


def test_insights_need_a_signed_in_agent_and_have_a_json_twin(web):
    client, tracker = web
    tracker.turn("conv-web-00001", "how do returns work", "faq", answer("returns"))
    tracker.turn("conv-web-00002", "gift wrap?", "out_of_scope", CANT)
    page = client.get("/insights", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/inbox/login")
    assert client.get("/insights.json").status_code == 401
    assert client.get("/insights/plots/volume.png").status_code == 401
    bearer = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    data = client.get("/insights.json", headers=bearer).json()
    assert data["conversations"]["total"] == 2
    assert data["conversations"]["resolved"] == 1 and data["conversations"]["abandoned"] == 1
    plot = client.get("/insights/plots/volume.png", headers=bearer)
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    assert client.get("/insights/plots/nope.png", headers=bearer).status_code == 404
    bad = client.get("/insights.json?since=2026-02-01&until=2026-01-01", headers=bearer)
    assert bad.status_code == 422 and "since" in bad.json()["detail"]
    assert client.get("/insights.json?days=0", headers=bearer).status_code == 422


def test_a_period_without_conversations_says_so_instead_of_empty_charts(web):
    client, _ = web
    bearer = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    page = client.get("/insights", headers=bearer)
    assert page.status_code == 200
    assert "No conversations in this period." in page.text
    assert "No answers from articles in this period." in page.text
    assert "/insights/plots/" not in page.text  # no empty axes
    # the charts themselves (as `bot insights report --plot` draws them) say the same
    from bot.insights.plots import PLOTS

    data = client.get("/insights.json", headers=bearer).json()
    for draw, _ in PLOTS.values():
        assert draw(data).startswith(b"\x89PNG")


def test_the_report_command_records_prints_json_draws_and_purges(tmp_path: Path):
    from typer.testing import CliRunner

    from bot.cli import app

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    tracker = Tracker(data_dir / "conversations.db")
    tracker.turn("conv-cli-00001", "how do returns work", "faq", answer("returns"))
    tracker.turn("conv-cli-00002", "gift wrap?", "out_of_scope", CANT)
    tracker.turn("load-00000001", "benchmark turn", "faq", answer("returns"))
    env = {
        "BOT_DATA_DIR": str(data_dir),
        "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
        "BOT_INDEX_DIR": str(tmp_path / "no-index"),
    }
    runner = CliRunner()
    shown = runner.invoke(
        app, ["insights", "report", "--json", "--plot", str(tmp_path / "plots")], env=env
    )
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["conversations"]["total"] == 2  # the benchmark's conversation is left out
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "articles.png",
        "outcomes.png",
        "volume.png",
    ]
    text = runner.invoke(app, ["insights", "report", "--include-test", "--no-gaps"], env=env)
    assert text.exit_code == 0 and "Conversations: 3" in text.stdout
    bad = runner.invoke(
        app, ["insights", "report", "--since", "2026-02-01", "--until", "2026-01-01"], env=env
    )
    assert bad.exit_code == 1 and "since" in bad.output
    purged = runner.invoke(app, ["insights", "purge", "--json"], env=env)
    assert purged.exit_code == 0 and json.loads(purged.stdout)["deleted"] == 0


def test_a_thank_you_the_bot_missed_does_not_undo_what_it_resolved(queue, tracker):
    tracker.turn(
        "conv-thanks-001",
        "I forgot my password",
        "reset_password",
        ("Link sent.", {"outcome": "flow", "flow": "reset_password", "result": "sent"}),
    )
    tracker.turn("conv-thanks-001", "thanks, that's all", "thanks", CANT)
    recorder(queue, tracker).record()
    data = report(queue)
    assert data["conversations"]["resolved"] == 1 and data["conversations"]["abandoned"] == 0


def test_a_failed_catalogue_sync_is_shown_to_the_support_lead(tmp_path):
    from fastapi.testclient import TestClient

    from bot.catalog.store import write_status
    from bot.handoff.auth import hash_token
    from bot.settings import Settings
    from bot.web.app import create_app

    catalog = tmp_path / "catalog"
    write_status(
        catalog,
        {
            "ok": False,
            "reason": "feed.xml: line 3: not well-formed XML",
            "source": "feed.xml",
            "version": "v1",
        },
    )
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=tmp_path / "var",
        index_dir=tmp_path / "no-index",
        catalog_dir=catalog,
        agent_tokens={"lead": hash_token(AGENT_TOKEN)},
    )
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/insights", headers={"Authorization": f"Bearer {AGENT_TOKEN}"})
        assert "Product catalogue: last sync" in page.text
        assert "failed</strong>: feed.xml: line 3: not well-formed XML" in page.text
        assert "The last good catalogue keeps answering." in page.text
    app.state.queue.close()
