"""The router's `product` route: learnt from the writers' phrasings and the catalogue's types and
titles, and acted on by the turn's decision (the catalogue answers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.dialogue.answers import Gate, choose
from bot.dialogue.decision import decide
from bot.dialogue.knowledge import IndexKnowledge
from bot.dialogue.products import answer_product, named_product
from bot.dialogue.turn import Turn
from bot.kb.builder import BuildFailed
from bot.kb.product_phrasings import (
    MAX_TITLES,
    MAX_TYPES,
    TYPE_TEMPLATES,
    catalogue_phrasings,
    catalogue_terms,
    product_phrasings,
    service_phrasings,
    writers_phrasings,
)
from bot.kb.router import PRODUCT, NluFileError, Phrasing
from tests.catalog_fixtures import DEMO_FEED, DEMO_NOW, ROOT
from tests.conftest import DEMO_NLU, DEMO_PRODUCTS

WRITERS = ROOT / "catalog" / "phrasings.yml"
QUESTIONS = yaml.safe_load((ROOT / "tests" / "catalog_questions.yml").read_text())
GATE = Gate(0.4, 0.15, 0.5)


def test_the_writers_phrasings_and_the_catalogues_are_the_product_routes() -> None:
    writers = writers_phrasings(WRITERS)
    assert len(writers) >= 60 and all(p.label == PRODUCT for p in writers)
    made = catalogue_phrasings(catalogue_terms(None, str(DEMO_FEED)))
    texts = {p.text for p in made}
    assert {"do you sell tealights", "what mugs do you have"} <= texts
    assert any(t.startswith("how much is the ") for t in texts)
    everything = product_phrasings(WRITERS, None, str(DEMO_FEED))
    assert len(everything) == len({p.text.casefold() for p in everything})
    # the same catalogue makes the same phrasings (the router's inputs hash is stable)
    assert [p.text for p in everything] == [
        p.text for p in product_phrasings(WRITERS, None, str(DEMO_FEED))
    ]


def test_the_articles_learn_the_catalogues_kinds_in_their_phrasings_about_an_item() -> None:
    """ "My mug arrived broken" is the damaged-item article's: an article's phrasing about an
    item is learnt again with kinds of product the catalogue sells in its place (not one about
    buying it, which is the product route's)."""
    label = "article:damaged-or-wrong-item"
    written = [
        Phrasing("the item came broken", label, "question"),
        Phrasing("what do i do if something arrives broken", label, "question"),
        Phrasing("i cancelled an engraved item", "article:fees", "question"),
        Phrasing("how do I buy something from you", "article:place-order", "question"),
        Phrasing("Damaged item", label, "title"),
        Phrasing("where is my order", "intent:track_order", "nlu:nlu.yml"),
    ]
    terms = [("Stoneware Mug", "Home > Mugs"), ("Oak Board", "Home > Boards")] * 2
    terms += [("Alder Apron", "Home > Aprons")]
    made = service_phrasings(written, terms)
    assert [(p.text, p.label) for p in made] == [
        ("the board came broken", label),
        ("the mug came broken", label),
        ("what do i do if an apron arrives broken", label),
        ("what do i do if a board arrives broken", label),
        ("i cancelled an engraved mug", "article:fees"),
        ("i cancelled an engraved apron", "article:fees"),
    ]
    assert all(p.source == "catalogue:service" for p in made)
    assert service_phrasings(written, []) == []


def test_a_large_catalogue_makes_a_bounded_number_of_phrasings() -> None:
    terms = [(f"Product number {i}", f"Home > Kind {i % 500}") for i in range(100_000)]
    made = catalogue_phrasings(terms)
    assert len(made) == MAX_TYPES * len(TYPE_TEMPLATES) + MAX_TITLES


def test_a_broken_phrasings_file_names_itself(tmp_path: Path) -> None:
    broken = tmp_path / "phrasings.yml"
    broken.write_text("product:\n  - fine\n  - [unclosed\n", encoding="utf-8")
    with pytest.raises(NluFileError, match=r"phrasings.yml:\d+: invalid YAML"):
        writers_phrasings(broken)
    broken.write_text("product: just one string\n", encoding="utf-8")
    with pytest.raises(NluFileError, match="must be a list"):
        writers_phrasings(broken)
    assert writers_phrasings(tmp_path / "missing.yml") == []


@pytest.mark.model
def test_a_broken_phrasings_file_fails_the_build_before_anything_is_written(
    builder, demo_copy: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "phrasings.yml"
    broken.write_text("product: [unclosed\n", encoding="utf-8")
    with pytest.raises(BuildFailed) as failed:
        builder(demo_copy, tmp_path / "index", nlu_dir=DEMO_NLU, catalog_phrasings=broken)
    assert "phrasings.yml" in str(failed.value.problems[0])
    assert not (tmp_path / "index" / "CURRENT").exists()


@pytest.mark.model
def test_shoppers_questions_take_the_product_route(kb) -> None:
    """The product-question file routed as the bot does: most are acted on as product questions
    (the rest, SKUs, typos and unusual colours, are left to the catalogue's fallback: the
    decision still answers them, see the next test)."""
    routed = [choose(kb.route(case["question"]), GATE).outcome for case in QUESTIONS]
    assert routed.count("product") / len(routed) >= 0.80, routed
    for article, question in [
        ("delivery-times", "how long does delivery take"),
        ("product-warranty", "what's the warranty on the oak board?"),
        ("place-order", "how do i buy something"),
    ]:
        choice = choose(kb.route(question), GATE)
        assert choice.outcome == "article" and choice.top.article_id == article, question
    for outside in ("book me a flight to paris", "what's the weather like tomorrow"):
        assert choose(kb.route(outside), GATE).outcome != "product", outside


@pytest.mark.model
def test_the_decision_answers_the_product_route_from_the_catalogue(kb, product_search) -> None:
    def products(question, among=None, pick=False, named=False, routed=False):
        if named:
            return named_product(question, product_search, None, DEMO_NOW)
        return answer_product(question, product_search, None, DEMO_NOW, among, pick, routed)

    def ask(question: str, with_catalogue: bool = True):
        knowledge = IndexKnowledge(kb, None, 0.0, products if with_catalogue else None)
        return decide(Turn(question), knowledge, GATE)

    answered = 0
    for case in QUESTIONS:
        plan = ask(case["question"])
        if plan.outcome != "product":
            continue  # SKUs and barcodes offer a choice, two typo-ridden ones a refusal
        answered += 1
        cards = [c["id"] for s in plan.says for c in (s.meta or {}).get("products", [])]
        assert cards == products(case["question"]).products, case["question"]
    assert answered / len(QUESTIONS) >= 0.90
    plan = ask("do you sell laptops?")
    assert plan.outcome == "product" and plan.says[0].meta["not_sold"] is True
    assert plan.slots["last_routing"]["routes"][0]["label"] == PRODUCT
    # a message about an order or a service that names a product, or worded like shopping: no
    # product cards (the article, a choice with it, or a refusal the content-gap report counts)
    for service in (
        "my napkins are the wrong color",
        "the table runner i got has a stain on it",
        "can i exchange the apron for a bigger size",
        "my mug arrived broken",
        "do you offer gift wrapping",
    ):
        assert ask(service).outcome != "product", service
    # without a catalogue the product route is a refusal, never a made-up product
    assert ask("how much is the oak serving board?", with_catalogue=False).outcome == "cant_answer"


def test_the_fixtures_build_the_route_as_the_settings_do() -> None:
    from bot.kb.builder import options_from
    from bot.settings import Settings

    options = options_from(Settings(settings_file=Path("/nonexistent/bot.toml")))
    assert options.catalog_phrasings == Path("catalog/phrasings.yml")
    assert Path(DEMO_PRODUCTS["catalog_phrasings"]).resolve() == WRITERS


@pytest.mark.model
@pytest.mark.parametrize(
    ("question", "title", "says"),
    [
        ("how much is teh oak bord", "Oak Serving Board", " is $"),
        ("how much is teh stoneware mugg?", "Stoneware Mug", " is $"),
        ("is teh linen runer in stock", "Linen Table Runner", ""),
        ("waht candels do you sell", "Candle", "Here's what I found"),
        # a typo in the words that ask the price: they are read as spelled right
        ("hwo much is teh mugg", "Stoneware Mug", " is $"),
    ],
)
def test_a_product_question_with_two_typos_is_answered_as_with_one(
    kb, product_search, question: str, title: str, says: str
) -> None:
    """A misspelt little word ("teh") is not something asked for that the product lacks, so a
    second typo no longer turns the answer into "we don't sell that" and a refusal."""

    def products(question, among=None, pick=False, named=False, routed=False):
        if named:
            return named_product(question, product_search, None, DEMO_NOW)
        return answer_product(question, product_search, None, DEMO_NOW, among, pick, routed)

    plan = decide(Turn(question), IndexKnowledge(kb, None, 0.0, products), GATE)
    assert plan.outcome == "product", plan.says
    assert says in plan.says[0].text and "don't sell" not in plan.says[0].text
    assert title in plan.says[0].meta["products"][0]["title"]
