"""Learning from misses: a person confirms where a question belongs, and the bot learns it.

Confirmations are stored with who and when and undone whole (SQLite and PostgreSQL); the router
learns them without re-embedding the articles, on a background check as every worker does; the
review queue (/review) lists the missed questions, confirms and undoes them behind the inbox's
sign-in and CSRF token; `bot kb learned export` writes them into the writers' files once.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.dialogue.answers import Gate, choose
from bot.handoff.db import create_db_engine, migrate
from bot.kb.learned import BadQuestion, BadTarget, LearnedStore, check_target
from bot.kb.learned_export import export_learned
from bot.kb.learning import LearnedRouting
from bot.kb.loader import parse_article
from bot.kb.router import INTENT, Phrasing, nlu_phrasings
from bot.kb.search import KnowledgeBase
from tests.conftest import DEMO_KB, DEMO_NLU
from tests.test_insights import CANT, Tracker, answer

GATE = Gate(0.20, 0.15, 0.50)
LAMP = "i sent back a lamp 2 weeks ago and still havent got my money back"
AGENT_TOKEN = "writer-token-0123456789"


@pytest.fixture
def store(queue_url: str) -> LearnedStore:
    engine = create_db_engine(queue_url)
    migrate(engine)
    yield LearnedStore(engine)
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> LearnedStore:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'handoff.db'}")
    migrate(engine)
    yield LearnedStore(engine)
    engine.dispose()


class CountingEncoder:
    """The real query encoder, counting what it is asked to embed."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb, self.texts = kb, []

    def __call__(self, text: str):
        self.texts.append(text)
        return self.kb.embedder.encode_query(text)


def _learning_kb(demo_index: Path, embedder, store: LearnedStore, poll: float = 3600):
    encoders = []

    def learning(kb: KnowledgeBase) -> LearnedRouting:
        encoders.append(CountingEncoder(kb))
        return LearnedRouting(store, encoders[0], poll)

    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder, learning=learning)
    return kb, encoders[0]


def test_a_confirmation_keeps_who_and_when_and_is_undone_whole(store: LearnedStore) -> None:
    assert store.version() == 0 and store.active() == []
    rows = store.confirm(
        ["Where is my  parcel?", "my card 4111 1111 1111 1111 was charged twice"],
        "flow:track_order",
        "dana",
    )
    assert [r.text for r in rows] == [
        "Where is my parcel?",
        "my card [card ending 1111] was charged twice",  # secrets never stored
    ]
    assert {r.confirmed_by for r in rows} == {"dana"} and all(r.confirmed_at for r in rows)
    assert len({r.batch for r in rows}) == 1 and store.version() == 1
    # the same question, confirmed again elsewhere, moves: one active row, the old one kept
    moved = store.confirm(["where is my parcel?"], "article:delivery-times", "sam")
    active = {r.text: r.target for r in store.active()}
    assert active == {
        "where is my parcel?": "article:delivery-times",
        "my card [card ending 1111] was charged twice": "flow:track_order",
    }
    assert store.get(rows[0].id).removed_by == "sam"
    assert store.remove(batch=moved[0].batch, by="sam") == 1
    assert store.remove(batch=moved[0].batch, by="sam") == 0  # undone once
    assert [r.text for r in store.active()] == ["my card [card ending 1111] was charged twice"]
    assert store.version() == 3
    assert len(store.recent()) == 3  # the history stays


def test_targets_and_questions_are_checked_with_reasons(store: LearnedStore) -> None:
    assert check_target(" handoff ") == "handoff"
    assert check_target("article:refund-status", ["refund-status"]) == "article:refund-status"
    with pytest.raises(BadTarget, match="no article 'nope'"):
        check_target("article:nope", ["refund-status"])
    with pytest.raises(BadTarget, match="the flows are reset_password, track_order"):
        check_target("flow:fly_me")
    with pytest.raises(BadTarget, match="article:<id>, flow:<name>"):
        store.confirm(["hello"], "somewhere", "dana")
    with pytest.raises(BadQuestion, match="empty"):
        store.confirm(["   "], "handoff", "dana")
    with pytest.raises(BadQuestion, match="at most 2000"):
        store.confirm(["x" * 2001], "handoff", "dana")
    assert store.version() == 0


def test_the_router_learns_a_confirmed_question_without_embedding_the_articles_again(
    demo_index: Path, embedder, sqlite_store: LearnedStore
) -> None:
    kb, encoder = _learning_kb(demo_index, embedder, sqlite_store)
    version = kb.reader.version
    before = choose(kb.route(LAMP), GATE)
    assert not (before.outcome == "article" and before.top.article_id == "refund-status")
    base = kb.reader.router
    sqlite_store.confirm([LAMP], "article:refund-status", "dana")
    learned = kb.router(fresh=True)
    assert encoder.texts == [LAMP]  # the one new phrasing, nothing else
    assert len(learned.phrasings) == len(base.phrasings) + 1
    assert kb.reader.version == version  # no new index version
    after = choose(kb.route(LAMP), GATE)
    assert (after.outcome, after.top.article_id) == ("article", "refund-status")
    # undone: the router is the index's again, and nothing is embedded for it
    sqlite_store.remove(batch=sqlite_store.active()[0].batch, by="dana")
    assert kb.router(fresh=True) is base
    assert encoder.texts == [LAMP]


def test_a_learned_phrasing_the_files_already_have_is_not_counted_twice(
    demo_index: Path, embedder
) -> None:
    kb = KnowledgeBase(demo_index, "all-MiniLM-L6-v2", embedder=embedder)
    router = kb.reader.router
    known = next(p for p in router.phrasings if p.source == "question")
    shouted = "  " + known.text.upper().replace(" ", "  ") + " "
    vector = embedder.encode_query(shouted)
    assert router.with_phrasings([Phrasing(shouted, known.label, "learned")], vector) is router
    # the same words for another label: the person's confirmation replaces the file's
    other = next(label for label in router.labels if label != known.label)
    moved = router.with_phrasings([Phrasing(shouted, other, "learned")], vector)
    same = [
        p for p in moved.phrasings if p.text.casefold().split() == known.text.casefold().split()
    ]
    assert [(p.label, p.source) for p in same] == [(other, "learned")]
    assert len(moved.phrasings) == len(router.phrasings)


def test_every_worker_picks_a_confirmation_up_in_the_background(
    demo_index: Path, embedder, sqlite_store: LearnedStore
) -> None:
    kb, _ = _learning_kb(demo_index, embedder, sqlite_store, poll=0.05)
    base = kb.reader.router
    kb.router(fresh=True)
    sqlite_store.confirm([LAMP], "article:refund-status", "dana")
    deadline = time.monotonic() + 120
    while len(kb.router().phrasings) == len(base.phrasings):  # a turn never waits for it
        assert time.monotonic() < deadline, "the confirmation never reached the router"
        time.sleep(0.05)
    assert choose(kb.route(LAMP), GATE).top.article_id == "refund-status"


def test_export_writes_confirmed_questions_into_the_files_once(
    tmp_path: Path, sqlite_store: LearnedStore
) -> None:
    kb_dir, nlu_dir = tmp_path / "kb", tmp_path / "nlu"
    shutil.copytree(DEMO_KB, kb_dir)
    shutil.copytree(DEMO_NLU, nlu_dir)
    path = next(kb_dir.rglob("refund-status.md"))
    base_url = "http://localhost:8080/help/"
    article, _ = parse_article(path, kb_dir, base_url)
    existing = article.questions[0]
    sqlite_store.confirm([LAMP, existing.upper()], "article:refund-status", "dana")
    sqlite_store.confirm(["put me through to somebody real"], "handoff", "dana")
    sqlite_store.confirm(["what's the weather in paris"], "out_of_scope", "dana")
    sqlite_store.confirm(["has my parcel left yet"], "flow:track_order", "dana")
    sqlite_store.confirm(["gift wrapping for a birthday"], "new_article", "dana")

    dry = export_learned(sqlite_store, kb_dir, nlu_dir, base_url, dry_run=True)
    assert (
        len(dry.written) == 4
        and (kb_dir / path.relative_to(kb_dir)).read_text()
        == (DEMO_KB / path.relative_to(kb_dir)).read_text()
    )
    done = export_learned(sqlite_store, kb_dir, nlu_dir, base_url)
    assert sorted(w["text"] for w in done.written) == sorted(
        [LAMP, "put me through to somebody real", "what's the weather in paris"]
        + ["has my parcel left yet"]
    )
    assert [a["text"] for a in done.already] == [existing.upper()]
    article, problems = parse_article(path, kb_dir, base_url)
    assert article.questions[-1] == LAMP and not [p for p in problems if p.severity == "error"]
    examples = {(p.label, p.text) for p in nlu_phrasings(nlu_dir)}
    assert (INTENT + "request_human", "put me through to somebody real") in examples
    assert (INTENT + "out_of_scope", "what's the weather in paris") in examples
    assert (INTENT + "track_order", "has my parcel left yet") in examples
    assert all(r.exported_at for r in sqlite_store.active() if r.target != "new_article")
    again = export_learned(sqlite_store, kb_dir, nlu_dir, base_url)
    assert again.written == [] and len(again.already) == 5


def test_the_cli_learns_lists_and_removes(demo_index: Path, tmp_path: Path) -> None:
    from bot.cli import app

    env = {
        "BOT_DATA_DIR": str(tmp_path / "var"),
        "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
        "BOT_INDEX_DIR": str(demo_index),
    }
    runner = CliRunner()
    wrong = runner.invoke(app, ["kb", "learn", "where is it", "--to", "article:nope"], env=env)
    assert wrong.exit_code == 1 and "no article 'nope'" in wrong.output
    learned = runner.invoke(
        app,
        ["kb", "learn", LAMP, "--to", "article:refund-status", "--by", "dana", "--json"],
        env=env,
    )
    assert learned.exit_code == 0, learned.output
    listed = runner.invoke(app, ["kb", "learned", "list", "--json"], env=env)
    rows = __import__("json").loads(listed.output)
    assert [(r["text"], r["target"], r["confirmed_by"]) for r in rows] == [
        (LAMP, "article:refund-status", "dana")
    ]
    assert runner.invoke(app, ["kb", "learned", "remove", "99"], env=env).exit_code == 1
    removed = runner.invoke(app, ["kb", "learned", "remove", str(rows[0]["id"])], env=env)
    assert removed.exit_code == 0 and "removed 1" in removed.output
    assert runner.invoke(app, ["kb", "learned", "list", "--json"], env=env).output.strip() == "[]"


@pytest.fixture
def web(tmp_path: Path, kb: KnowledgeBase):
    from bot.handoff.auth import hash_token
    from bot.settings import Settings
    from bot.web.app import create_app

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    tracker = Tracker(data_dir / "conversations.db")
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=data_dir,
        index_dir=kb.index_dir,
        agent_tokens={"writer": hash_token(AGENT_TOKEN)},
    )
    app = create_app(settings, kb=kb)
    with TestClient(app, base_url="https://testserver") as client:
        yield client, tracker
    app.state.queue.close()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_the_review_queue_confirms_and_undoes_behind_the_sign_in(web) -> None:
    client, tracker = web
    tracker.turn("conv-review-0001", LAMP, "ask_question", CANT)
    tracker.turn("conv-review-0002", "sent my lamp back weeks ago, still no refund", "faq", CANT)
    tracker.turn("conv-review-0003", "how do returns work", "faq", answer("start-return"))
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/inbox/login?next=%2Freview"
    assert client.get("/review.json").status_code == 401
    bearer = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    data = client.get("/review.json", headers=bearer).json()
    asked = {e for g in data["groups"] for e in g["examples"]}
    assert LAMP in asked and "how do returns work" not in asked  # answered: not a miss
    group = next(g for g in data["groups"] if LAMP in g["examples"])
    assert 1 <= len(group["suggestions"]) <= 3
    assert {"article:refund-status", "handoff", "out_of_scope"} <= {
        t["target"] for t in data["targets"]
    }
    # the forms need the session and its CSRF token
    form = {"target": "article:refund-status", "question": [LAMP], "key": group["key"]}
    assert client.post("/review/confirm", data=form).status_code == 401
    login = client.get("/inbox/login?next=/review")
    client.post(
        "/inbox/login",
        data={"token": AGENT_TOKEN, "csrf": _csrf(login.text), "next": "/review"},
    )
    page = client.get("/review")
    assert page.status_code == 200 and "Review queue" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    csrf = _csrf(page.text)
    assert client.post("/review/confirm", data={**form, "csrf": "forged"}).status_code == 403
    bad = client.post("/review/confirm", data={**form, "csrf": csrf, "target": "article:nope"})
    assert bad.status_code == 422 and "no article 'nope'" in bad.json()["detail"]
    done = client.post("/review/confirm", data={**form, "csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and "done=" in done.headers["location"]
    shown = client.get(done.headers["location"])
    assert "Confirmed 1 question as" in shown.text and "Undo" in shown.text
    data = client.get("/review.json").json()
    assert LAMP not in {e for g in data["groups"] for e in g["examples"]}
    assert [(r["text"], r["target"], r["confirmed_by"]) for r in data["recent"]] == [
        (LAMP, "article:refund-status", "writer")
    ]
    batch = data["recent"][0]["batch"]
    undone = client.post("/review/undo", data={"batch": batch, "csrf": csrf})
    assert undone.status_code == 200
    data = client.get("/review.json").json()
    assert LAMP in {e for g in data["groups"] for e in g["examples"]}
    assert data["recent"][0]["removed_by"] == "writer"
    gone = client.post("/review/undo", data={"batch": "0" * 32, "csrf": csrf})
    assert gone.status_code == 404
    # a new article: the ticked questions are kept with a draft to download
    marked = client.post(
        "/review/confirm",
        data={**form, "csrf": csrf, "target": "new_article"},
        follow_redirects=False,
    )
    shown = client.get(marked.headers["location"])
    row = client.get("/review.json").json()["recent"][0]
    assert row["target"] == "new_article" and row["has_draft"]
    draft = client.get(f"/review/drafts/{row['id']}.md")
    assert draft.status_code == 200 and LAMP in draft.text and draft.text.startswith("---")
