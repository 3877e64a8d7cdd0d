"""Smoke versions of the evaluation pipelines: each metric on a tiny hand-checked case."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.eval.calibrate import (
    choose,
    evaluate_point,
    plot,
    replay,
    replay_turn,
    sweep,
    write_thresholds,
)
from bot.eval.retrieval import (
    Query,
    QueryFileError,
    load_queries,
    score_rankings,
    write_stackfaq_kb,
)
from bot.eval.routing import (
    BANKING_STORE,
    load_banking,
    load_bitext,
    load_oos,
    outcome_label,
    score_oos,
    score_routing,
)
from bot.eval.routing import offered as offered_options
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


def routed(label: str, outcome: str, top: str, p: float, nearest: float) -> dict:
    """A recorded first turn whose router put `top` first with probability p."""
    routes = [{"label": top, "probability": p, "nearest": nearest, "phrasing": "x"}]
    return {"text": "t", "label": label, "outcome": outcome, "routing": {"routes": routes}}


ROUTING = [
    routed("recover_password", "flow:reset_password", "intent:reset_password", 0.90, 0.80),
    routed("get_refund", "article:refunds", "article:refunds", 0.70, 0.70),
    routed("get_refund", "clarify", "article:refunds", 0.45, 0.60),
    routed("get_refund", "article:returns", "article:returns", 0.55, 0.50),
    {"label": "unknown_intent", "outcome": "handoff"},  # not in the file: skipped
]
CHOICES = [
    {
        "text": "t",
        "label": "recover_password",
        "outcome": "clarify",
        "routing": {
            "routes": [
                {"label": "article:returns", "probability": 0.35, "nearest": 0.7},
                {"label": "intent:greet", "probability": 0.3, "nearest": 0.7},
                {"label": "intent:reset_password", "probability": 0.25, "nearest": 0.7},
            ]
        },
    },
    routed("get_refund", "clarify", "article:returns", 0.40, 0.60),
]
OOS = [
    routed("oos", "fallback", "article:returns", 0.30, 0.35),
    routed("oos", "article:returns", "article:returns", 0.52, 0.45),
    routed("oos", "flow:track_order", "intent:track_order", 0.60, 0.50),
    routed("oos", "smalltalk", "intent:greet", 0.80, 0.90),
]


def test_routing_and_out_of_scope_scores_by_hand() -> None:
    report = score_routing(ROUTING, EXPECTED)
    assert report["utterances"] == 4 and report["accuracy"] == 0.5
    assert report["clarify_rate"] == 0.25
    assert report["per_intent"]["get_refund"] == {
        "accuracy": pytest.approx(1 / 3, abs=1e-4),
        "reached_in_two": pytest.approx(1 / 3, abs=1e-4),  # the choice offered no options
        "wrong_answer_rate": pytest.approx(1 / 3, abs=1e-4),  # article:returns
        "clarify_rate": pytest.approx(1 / 3, abs=1e-4),
        "refusal_rate": 0.0,
        "n": 3,
    }
    assert report["wrong_answer_rate"] == 0.25 and report["refusal_rate"] == 0.0
    assert {"intent": "get_refund", "outcome": "clarify", "count": 1} in report["confusions"]
    oos = score_oos(OOS)
    assert oos["false_answer_rate"] == 0.5  # an article and a flow, out of 4
    assert oos["outcomes"] == {"fallback": 1, "article": 1, "flow": 1, "smalltalk": 1}
    assert oos["choice_rate"] == 0.0


def test_reached_in_two_counts_the_right_one_among_the_choices_offered() -> None:
    offered = {"outcome": "clarify", "options": ["article:returns", "article:refunds"]}
    missed = {"outcome": "clarify", "options": ["article:returns"]}
    records = [{"label": "get_refund", "text": "t", **r} for r in (offered, missed)]
    report = score_routing(records, EXPECTED)
    assert report["accuracy"] == 0.0 and report["reached_in_two"] == 0.5
    assert report["clarify_rate"] == 1.0 and report["wrong_answer_rate"] == 0.0
    oos = score_oos([{"label": "oos", "text": "t", **missed}, {**OOS[0]}])
    assert oos["choice_rate"] == 0.5 and oos["by_source"]["clinc"]["choice_rate"] == 0.5
    # a live turn's metadata names its choices as router labels: flows read as outcomes
    meta = {"outcome": "clarify", "options": [{"label": "intent:track_order"}, {"id": "returns"}]}
    assert offered_options(meta) == ["flow:track_order", "article:returns"]


def test_calibration_replays_the_gate_and_keeps_false_answers_under_the_limit() -> None:
    assert replay(ROUTING[2], answer=0.40, clarify=0.30, similarity=0) == "article:refunds"
    assert replay(ROUTING[2], answer=0.50, clarify=0.30, similarity=0) == "clarify"
    assert replay(ROUTING[2], answer=0.50, clarify=0.46, similarity=0) == "fallback"
    assert replay(ROUTING[2], answer=0.40, clarify=0.30, similarity=0.65) == "fallback"
    assert replay(ROUTING[0], answer=0.85, clarify=0.5, similarity=0) == "flow:reset_password"
    # a flow the gate is not sure of is offered as a choice, as an article is
    assert replay(ROUTING[0], answer=0.95, clarify=0.5, similarity=0) == "clarify"
    assert replay({"label": "x", "outcome": "smalltalk"}, 0.9, 0.9, 0.9) == "smalltalk"

    # answer 0.45: every refund turn answers (one with the wrong article); out of scope, the
    # 0.52 article and the 0.60 flow answer, the 0.30 one is only offered
    point = evaluate_point(ROUTING, OOS, EXPECTED, answer=0.45, clarify=0.30, similarity=0)
    assert (point.accuracy, point.false_answer_rate) == (0.75, 0.5)
    assert point.wrong_answer_rate == 0.25  # the 0.55 turn answered with article:returns
    points = sweep(ROUTING + CHOICES, OOS, EXPECTED)
    for p in points[::37]:  # the vectorised sweep agrees with the one-point replay
        q = evaluate_point(ROUTING + CHOICES, OOS, EXPECTED, p.answer, p.clarify, p.similarity)
        assert p.to_dict() == q.to_dict()
    # only the similarity gate refuses both out-of-scope answers (nearest 0.45 and 0.50) while
    # keeping the three right in-scope answers (nearest 0.60 and more): 0.55 or 0.60; the wrong
    # in-scope answer (nearest 0.50) goes with them
    best = choose(sweep(ROUTING, OOS, EXPECTED), max_far=0.03, max_wrong=0.03)
    assert best is not None and best.false_answer_rate == 0 and best.accuracy == 0.75
    assert best.wrong_answer_rate == 0 and best.similarity in (0.55, 0.6) and best.answer <= 0.45


def test_the_replayed_gate_offers_the_plausible_articles_and_flows_of_the_top_three() -> None:
    record = CHOICES[0]
    turn = replay_turn(record, answer=0.5, clarify=0.2, similarity=0)
    assert turn["outcome"] == "clarify"
    assert turn["options"] == ["article:returns", "flow:reset_password"]  # greet is not offered
    assert replay_turn(record, answer=0.5, clarify=0.3, similarity=0)["options"] == [
        "article:returns"
    ]
    point = evaluate_point(CHOICES, OOS, EXPECTED, answer=0.5, clarify=0.2, similarity=0)
    assert point.accuracy == 0.0 and point.reached_in_two == 0.5 and point.clarify_rate == 1.0


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
    assert f"similarity_threshold = {best.similarity}" in text
    png = plot(points, best, tmp_path / "curve.png", 0.25)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not EVAL_DATA.exists(), reason="../shared/eval-data is not beside the project")
def test_the_public_datasets_load() -> None:
    bitext = load_bitext(EVAL_DATA / "bitext-customer-support" / "bitext_customer_support_dev.csv")
    assert len(bitext) == 3651 and bitext[0].label == "cancel_order"
    oos = load_oos(EVAL_DATA / "clinc150")
    assert sum(u.label == "oos" for u in oos) == 100
    assert len(oos) == 100 + 6 * 15 * 20  # oos_val + the val utterances of 6 foreign domains
    store = load_banking(EVAL_DATA / "banking77" / "train.csv", store=True)
    assert {u.label for u in store} == set(BANKING_STORE) and len(store) > 1000
    near = load_banking(EVAL_DATA / "banking77" / "train.csv", store=False)
    assert all(u.label.startswith("banking77:") for u in near) and len(near) > 2000
    assert not {u.text for u in store} & {u.text for u in near}


def test_an_evaluation_stack_never_sees_the_bots_environment(monkeypatch, tmp_path) -> None:
    from bot.settings import Settings
    from bot.stack.env import child_env
    from bot.stack.evaluation import evaluation_settings
    from bot.stack.plan import Tokens, action_server_spec, rasa_spec

    monkeypatch.setenv("BOT_ACTION_URL", "http://production.example:5055/webhook")
    bot = Settings(settings_file=tmp_path / "none.toml")
    assert bot.action_url == "http://production.example:5055/webhook"
    own = evaluation_settings(bot, tmp_path / "eval")
    assert own.action_url is None
    rasa = rasa_spec(own, tmp_path / "model.tar.gz", tmp_path, Tokens("rasa", "action"))
    for spec in (action_server_spec(own, tmp_path), rasa):
        assert "BOT_ACTION_URL" not in child_env(spec.env), spec.name
    assert "production.example" not in rasa.files[0].text  # Rasa's endpoints.yml
    assert os.environ["BOT_ACTION_URL"] == "http://production.example:5055/webhook"
