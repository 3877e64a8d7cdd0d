"""Smoke versions of the evaluation pipelines: each metric on a tiny hand-checked case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.eval.calibrate import choose, evaluate_point, plot, replay, sweep, write_thresholds
from bot.eval.retrieval import (
    Query,
    QueryFileError,
    load_queries,
    score_rankings,
    write_stackfaq_kb,
)
from bot.eval.routing import load_bitext, load_oos, outcome_label, score_oos, score_routing
from bot.kb.loader import load_kb
from tests.conftest import write

ROOT = Path(__file__).resolve().parent.parent
EVAL_DATA = ROOT.parent / "shared" / "eval-data"


def test_retrieval_metrics_by_hand() -> None:
    report = score_rankings(
        [
            (Query("a", "x"), ["x", "y"]),  # rank 1
            (Query("b", "x"), ["y", "x"]),  # rank 2
            (Query("c", "x"), ["y", "z", "w", "v", "u", "x"]),  # rank 6: not in Recall@5
            (Query("d", "x"), ["y"]),  # missing
        ]
    )
    assert report.queries == 4
    assert report.recall_at_1 == pytest.approx(1 / 4)
    assert report.recall_at_5 == pytest.approx(2 / 4)
    assert report.mrr == pytest.approx((1 + 1 / 2 + 1 / 6 + 0) / 4)
    assert [m["rank"] for m in report.misses] == [2, 6, None]


def test_a_bad_query_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "hi", "article_id": "a"}\n{"query": "no id"}\n')
    with pytest.raises(QueryFileError, match=r"q.jsonl:2: expected a JSON object"):
        load_queries(path)


def test_stackfaq_threads_become_articles(tmp_path: Path) -> None:
    threads = tmp_path / "threads.json"
    threads.write_text(
        json.dumps(
            [
                {
                    "id": 0,
                    "question": 'Strike "through" text?',
                    "answers": ["Use ~~x~~.", "Or <del>"],
                },
                {"id": 7, "question": "Delete my account", "answers": ["Settings.  Then delete."]},
            ]
        )
    )
    assert write_stackfaq_kb(threads, tmp_path / "kb") == 2
    result = load_kb(tmp_path / "kb", "https://help.test/")
    articles = {a.id: a for a in result.articles}
    assert set(articles) == {"thread-0", "thread-7"}
    assert articles["thread-0"].title == 'Strike "through" text?'
    assert [s.title for s in articles["thread-0"].sections if s.title] == ["Answer 1", "Answer 2"]
    assert "Settings.\n\nThen delete." in articles["thread-7"].body


@pytest.mark.model
def test_eval_retrieval_command_on_a_tiny_kb(kb_dir: Path, tmp_path: Path) -> None:
    write(kb_dir, "ship.md", "---\ntitle: Do you ship abroad?\n---\n\nWe ship to 40 countries.\n")
    write(kb_dir, "pay.md", "---\ntitle: Which cards do you take?\n---\n\nVisa and Mastercard.\n")
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"query": "do you ship to other countries", "article_id": "ship"}\n'
        '{"query": "which cards can I pay with", "article_id": "pay"}\n'
    )
    result = CliRunner().invoke(
        app, ["eval", "retrieval", "--kb", str(kb_dir), "--queries", str(queries), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data == {"queries": 2, "recall_at_1": 1.0, "recall_at_5": 1.0, "mrr": 1.0, "misses": []}


def test_outcome_labels_follow_the_expected_file_spelling() -> None:
    assert outcome_label({"outcome": "flow", "flow": "reset_password"}) == "flow:reset_password"
    assert outcome_label({"outcome": "article", "article_id": "returns"}) == "article:returns"
    assert outcome_label({"outcome": "handoff"}) == "handoff"
    assert outcome_label(None) == "none"


EXPECTED = {"recover_password": ["flow:reset_password"], "get_refund": ["article:refunds"]}
ROUTING = [
    {"label": "recover_password", "outcome": "flow:reset_password", "score": None},
    {"label": "get_refund", "outcome": "article:refunds", "score": 0.70, "top_article": "refunds"},
    {"label": "get_refund", "outcome": "clarify", "score": 0.45, "top_article": "refunds"},
    {"label": "get_refund", "outcome": "article:returns", "score": 0.55, "top_article": "returns"},
    {"label": "unknown_intent", "outcome": "handoff", "score": None},  # not in the file: skipped
]
OOS = [
    {"text": "t", "label": "oos", "outcome": "fallback", "score": 0.30, "top_article": "returns"},
    {
        "text": "t",
        "label": "oos",
        "outcome": "article:returns",
        "score": 0.52,
        "top_article": "returns",
    },
    {"text": "t", "label": "oos", "outcome": "flow:track_order", "score": None},
    {"text": "t", "label": "oos", "outcome": "smalltalk", "score": None},
]


def test_routing_and_out_of_scope_scores_by_hand() -> None:
    report = score_routing(ROUTING, EXPECTED)
    assert report["utterances"] == 4 and report["accuracy"] == 0.5
    assert report["clarify_rate"] == 0.25
    assert report["per_intent"]["get_refund"] == {
        "accuracy": pytest.approx(1 / 3, abs=1e-4),
        "n": 3,
    }
    assert {"intent": "get_refund", "outcome": "clarify", "count": 1} in report["confusions"]
    oos = score_oos(OOS)
    assert oos["false_answer_rate"] == 0.5  # an article and a flow, out of 4
    assert oos["outcomes"] == {"fallback": 1, "article": 1, "flow": 1, "smalltalk": 1}


def test_calibration_replays_thresholds_and_keeps_false_answers_under_the_limit() -> None:
    assert replay(ROUTING[2], answer=0.40, clarify=0.30) == "article:refunds"
    assert replay(ROUTING[2], answer=0.50, clarify=0.46) == "fallback"
    assert replay(ROUTING[0], answer=0.99, clarify=0.99) == "flow:reset_password"

    # answer 0.45: both refund turns answer (one right, one wrong article); the OOS 0.52 answers
    point = evaluate_point(ROUTING, OOS, EXPECTED, answer=0.45, clarify=0.30)
    assert (point.accuracy, point.false_answer_rate) == (0.75, 0.5)
    points = sweep(ROUTING, OOS, EXPECTED)
    for p in points[::37]:  # the vectorised sweep agrees with the one-point replay
        q = evaluate_point(ROUTING, OOS, EXPECTED, p.answer, p.clarify)
        assert (p.accuracy, p.clarify_rate, p.false_answer_rate) == pytest.approx(
            (q.accuracy, q.clarify_rate, q.false_answer_rate)
        )
    # the flow that answered out of scope is 1 of 4: no threshold gets under 25 %
    assert choose(points, max_far=0.05) is None
    best = choose(points, max_far=0.25)
    assert best is not None and best.answer > 0.52 and best.false_answer_rate == 0.25
    assert best.accuracy == 0.5  # flow + the 0.70 refund answer


def test_calibration_writes_the_settings_file_and_a_plot(tmp_path: Path) -> None:
    settings = tmp_path / "bot.toml"
    settings.write_text("# ours\nweb_port = 9000\nanswer_threshold = 0.5\n")
    points = sweep(ROUTING, OOS, EXPECTED)
    best = choose(points, max_far=0.25)
    write_thresholds(settings, best)
    text = settings.read_text()
    assert "# ours" in text and "web_port = 9000" in text
    assert f"answer_threshold = {best.answer}" in text
    assert f"clarify_threshold = {best.clarify}" in text
    png = plot(points, best, tmp_path / "curve.png", 0.25)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not EVAL_DATA.exists(), reason="../shared/eval-data is not beside the project")
def test_the_public_datasets_load() -> None:
    bitext = load_bitext(EVAL_DATA / "bitext-customer-support" / "bitext_customer_support_dev.csv")
    assert len(bitext) == 3651 and bitext[0].label == "cancel_order"
    oos = load_oos(EVAL_DATA / "clinc150")
    assert sum(u.label == "oos" for u in oos) == 100
    assert len(oos) == 100 + 6 * 15 * 20  # oos_val + the val utterances of 6 foreign domains
