"""Answers to shoppers' product questions from the demo catalogue (no Rasa: the answer path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.dialogue.products import answer_product, named_product
from bot.store.demo import DemoStore
from tests.catalog_fixtures import DEMO_NOW

pytestmark = pytest.mark.model


def ask(product_search, question: str, store=None):
    reply = answer_product(question, product_search, store, DEMO_NOW)
    return reply, reply.says[0].text, reply.says[0].meta


def test_colour_asked_gets_the_colours_it_comes_in(product_search) -> None:
    reply, text, meta = ask(product_search, "is the linen runner available in green?")
    assert reply.products[:1] == ["P1301"]
    assert text.startswith("Yes, Linen Table Runner comes in Sage Green, Forest Green.")
    assert meta["outcome"] == "product" and meta["products"][0]["availability"] == "in_stock"


def test_a_colour_it_does_not_come_in_is_said_with_the_ones_it_does(product_search) -> None:
    _, text, _ = ask(product_search, "do you have the linen table runner in purple?")
    assert text.startswith("We don't have") and "in purple. It comes in" in text


def test_a_size_it_does_not_come_in_is_said_with_the_sizes_it_does(product_search) -> None:
    _, text, _ = ask(product_search, "do you have the beeswax taper candles in large?")
    assert text.startswith("We don't have") and "in large. It comes in" in text
    assert "cm" in text.split("It comes in", 1)[1]  # its sizes, not its colours


def test_price_with_its_range_and_sale(product_search) -> None:
    _, text, meta = ask(product_search, "how much is the oak serving board?")
    assert text == "Oak Serving Board is $27.99 to $39.99, depending on the variant."
    _, sale, _ = ask(product_search, "how much is the harbour cherry wooden spoon set?")
    assert (
        sale == "Harbour Cherry Wooden Spoon Set is $18.89. It's on sale: $18.89 instead of $20.99."
    )


def test_care_and_material_are_quoted_from_the_feed(product_search) -> None:
    _, text, _ = ask(product_search, "is the stoneware mug dishwasher safe?")
    assert text == "From the product page of Stoneware Mug:\n“Care: Dishwasher and microwave safe.”"
    _, made, _ = ask(product_search, "what is the oak serving board made of?")
    assert made.endswith("“Material: Oak”")


def test_stock_and_restock_dates(product_search, tmp_path: Path) -> None:
    _, text, meta = ask(product_search, "is the harbour stoneware mug in stock?")
    assert text == "Harbour Stoneware Mug is out of stock. We expect it on Sunday 3 January."
    _, back, _ = ask(product_search, "when will the beeswax taper candles be back?")
    assert "out of stock. We expect it on" in back
    store = DemoStore(tmp_path / "store.db")
    mug = next(v for v in product_search.product("P2202").variants)
    for variant in product_search.product("P2202").variants:
        store.set_stock(variant.id, "in_stock", quantity=3)
    _, live, meta = ask(product_search, "is the harbour stoneware mug in stock?", store)
    assert live == "Harbour Stoneware Mug is in stock."
    assert meta["products"][0]["variant"] == mug.id


def test_what_we_sell_and_gifts_under_a_price(product_search) -> None:
    reply, text, meta = ask(product_search, "what candles do you sell?")
    assert text.startswith("Here's what I found:")
    assert len(meta["products"]) == 3 and meta["more"]["count"] >= 1
    assert all("Candle" in card["title"] for card in meta["products"])
    _, gifts, meta = ask(product_search, "any gifts under $20?")
    assert gifts.startswith("Here's what I found for $20 or less:")
    assert all(float(card["price"].strip("$")) <= 20 for card in meta["products"])


@pytest.mark.parametrize(
    "question", ["do you sell laptops?", "I need a bicycle helmet", "have you got dog food"]
)
def test_what_we_do_not_sell_is_said_with_the_closest(product_search, question: str) -> None:
    reply, text, meta = ask(product_search, question)
    assert not reply.known
    assert text.startswith("I'm sorry, we don't sell that. These are the closest things we have:")
    assert len(meta["products"]) == 3


@pytest.mark.parametrize(
    "question", ["do you offer gift wrapping", "is gift wrapping available", "do you wrap presents"]
)
def test_a_service_worded_like_shopping_is_not_a_product(product_search, question: str) -> None:
    """ "Gift wrapping" shares "gift" with the gift boxes: a word asked for that neither the
    product nor the catalogue has, and little of the meaning, is not that product."""
    reply, _, _ = ask(product_search, question)
    assert not reply.known


@pytest.mark.parametrize(
    ("question", "product"),
    [("teapot with infuser", "P2701"), ("cast iron pan 26 cm", "P0901")],
)
def test_a_product_described_without_a_word_of_buying(
    product_search, question: str, product: str
) -> None:
    """On the router's product route a product named plainly is answered ("infuser" is in the
    teapot's description); without the route, a long message needs a word of buying."""
    reply = answer_product(question, product_search, None, DEMO_NOW, routed=True)
    assert reply.known and reply.products[0] == product
    if len(question.split()) > 4:
        assert not answer_product(question, product_search, None, DEMO_NOW).known


class Catalogue:
    """A knowledge base whose articles answer nothing, with the demo catalogue behind it."""

    def __init__(self, product_search, out_of_scope: bool = False) -> None:
        self.product_search = product_search
        self.out_of_scope = out_of_scope

    def route(self, question: str):
        from bot.kb.router import ARTICLE, INTENT, Route, Routing

        if self.out_of_scope:  # the router knows no product: it may call one out of scope
            return Routing([Route(INTENT + "out_of_scope", 0.9, 0.6, "a phrasing")])
        return Routing([Route(ARTICLE + "returns", 0.2, 0.1, "a phrasing")])

    def sections(self, question: str, article_ids, avoid=None):
        return []

    def search(self, question: str, k: int):
        return []

    def products(self, question: str, among=None, pick: bool = False, routed: bool = False):
        return answer_product(question, self.product_search, None, DEMO_NOW, among, pick, routed)


def test_a_product_question_no_article_answers_gets_product_cards(product_search) -> None:
    from bot.dialogue.answers import Gate
    from bot.dialogue.decision import decide
    from bot.dialogue.turn import Turn

    gate = Gate(0.5, 0.3, 0.5)
    plan = decide(Turn("is the stoneware mug dishwasher safe?"), Catalogue(product_search), gate)
    assert plan.outcome == "product"
    assert plan.says[0].text.endswith("“Care: Dishwasher and microwave safe.”")
    assert plan.says[0].meta["products"][0]["title"] == "Stoneware Mug"
    # something we do not sell stays a refusal: out-of-scope answers stay as rare as before
    refused = decide(Turn("what's the weather on mars"), Catalogue(product_search), gate)
    assert refused.outcome == "cant_answer"
    out_of_scope = Catalogue(product_search, out_of_scope=True)
    plan = decide(Turn("how much is the oak serving board?"), out_of_scope, gate)
    assert plan.outcome == "product" and plan.says[0].text.startswith("Oak Serving Board is")
    assert decide(Turn("what's the weather on mars"), out_of_scope, gate).outcome == "cant_answer"


def test_a_policy_question_about_a_product_gets_the_article_with_the_product(
    kb, product_search
) -> None:
    """ "What's the warranty on the oak board?": the warranty article answers, and the board it
    names comes with its card; a question that names only a kind ("my candle arrived broken")
    or no product gets the article alone."""
    from bot.dialogue.answers import Gate
    from bot.dialogue.decision import decide
    from bot.dialogue.knowledge import IndexKnowledge
    from bot.dialogue.turn import Turn

    def products(question, among=None, pick=False, named=False, routed=False):
        if named:
            return named_product(question, product_search, None, DEMO_NOW)
        return answer_product(question, product_search, None, DEMO_NOW, among, pick, routed)

    gate = Gate(0.4, 0.15, 0.5)

    def ask(question: str):
        return decide(Turn(question), IndexKnowledge(kb, None, 0.0, products), gate)

    plan = ask("what's the warranty on the oak board?")
    assert plan.outcome == "article" and plan.says[0].meta["article_id"] == "product-warranty"
    assert [p["title"] for p in plan.says[1].meta["products"]] == ["Oak Serving Board"]
    assert plan.says[1].text.startswith("Oak Serving Board")
    plan = ask("do you ship the linen table runner to canada?")
    assert plan.says[0].meta["article_id"] == "international-shipping", plan
    assert plan.says[1].meta["products"][0]["title"] == "Linen Table Runner"
    for question in ("my candle arrived broken", "how do i return an item?"):
        plan = ask(question)
        assert plan.outcome == "article" and len(plan.says) == 1, question
