"""Messages about the products just shown ("the second one", "in blue instead", "how much is
it?"), typos in what a shopper looks for, and "see more" keeping the question's filters."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bot.dialogue.answers import Gate
from bot.dialogue.decision import decide
from bot.dialogue.followup import Topic
from bot.dialogue.products import answer_product
from bot.dialogue.references import about_the, refers_to
from bot.dialogue.turn import Turn
from tests.catalog_fixtures import DEMO_NOW
from tests.test_product_answers import Catalogue

SHOWN = ("P1705", "P1904", "P1704")
GATE = Gate(0.5, 0.3, 0.5)


@pytest.mark.parametrize(
    ("text", "products", "pick"),
    [
        ("the second one", ("P1904",), True),
        ("2", ("P1904",), True),
        ("I'll take the last one", ("P1704",), True),
        ("is the third one in stock?", ("P1704",), False),
        ("ok, that one", ("P1705",), True),
        ("are they dishwasher safe?", SHOWN, False),
        ("in blue instead", SHOWN, False),
        ("what about in large?", SHOWN, False),
        ("and the 20cm?", SHOWN, False),
        ("what about large?", SHOWN, False),
        ("the small one?", SHOWN, False),
    ],
)
def test_what_a_message_points_at(text: str, products: tuple, pick: bool) -> None:
    reference = refers_to(text, SHOWN)
    assert reference is not None and reference.products == products and reference.pick == pick


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("and the 20cm?", "do you have it in size 20cm?"),
        ("what about the 26 cm", "do you have it in size 26 cm?"),
        ("How about LARGE then?", "do you have it in size LARGE?"),
        ("ok, and what about the small one?", "do you have it in size small?"),
        ("and L/XL?", "do you have it in size L/XL?"),
        ("and the tall one?", "do you have it in size tall?"),
        ("and teh 20cm?", "do you have it in size 20cm?"),
        ("waht about the 26 cm?", "do you have it in size 26 cm?"),
        ("size xl please", "do you have it in size xl?"),
    ],
)
def test_a_size_alone_asks_whether_the_shown_come_in_it(text: str, asked: str) -> None:
    assert refers_to("and the 20cm price?", SHOWN).asked == "how much is it in size 20cm?"
    reference = refers_to(text, SHOWN, focus="P1904")
    assert reference is not None and reference.products == ("P1904",)
    assert reference.asked == asked
    # after a price question, a size alone asks the price of that size
    for before in ("how much is the vase?", "hwo much is teh vase"):
        after_price = refers_to(text, SHOWN, focus="P1904", before=before)
        assert after_price.asked == asked.replace("do you have it", "how much is it")


@pytest.mark.parametrize(
    "text",
    [
        "that's it, thanks",
        "how do I reset it?",
        "thanks",
        "where is my order 100-92466?",
        "the fourth one",
        "do you sell candles?",
        "what about returns?",
        "and the delivery?",
        "large orders",
        "and the 30 day return policy?",
        "i ordered the 20 cm one last week and it broke",
    ],
)
def test_messages_not_about_the_shown_products(text: str) -> None:
    assert refers_to(text, SHOWN) is None


def test_it_after_several_products_asks_which_and_each_button_asks_the_same_of_one() -> None:
    reference = refers_to("how much is it?", SHOWN)
    assert reference is not None and reference.which and reference.products == SHOWN
    assert refers_to("how much is it?", SHOWN[:1]).products == SHOWN[:1]  # one shown: that one
    assert about_the("how much is it?", 1) == "how much is the second one?"
    assert about_the("what's its price?", 2) == "what's the third one's price?"
    for place, product in enumerate(SHOWN):
        picked = refers_to(about_the("is it dishwasher safe?", place), SHOWN)
        assert picked is not None and picked.products == (product,) and not picked.which


@pytest.mark.model
def test_how_much_is_it_after_a_list_asks_which_then_answers_the_one_clicked(
    product_search,
) -> None:
    listed, which = talk(product_search, "what candles do you sell?", "how much is it?")
    shown = listed.says[0].meta["products"]
    assert which.outcome == "product" and which.says[0].text == "Which one do you mean?"
    buttons = which.says[0].buttons
    assert [b.title for b in buttons] == [c["title"] for c in shown]
    assert buttons[1].payload == '/ask_question{"product_question":"how much is the second one?"}'
    # the button asks that question for the customer (actions/common.py reads the entity)
    (_, _, price) = talk(
        product_search,
        "what candles do you sell?",
        "how much is it?",
        "how much is the second one?",
    )
    assert price.says[0].text.startswith(f"{shown[1]['title']} is $")


def test_after_a_pick_it_is_the_picked_one_and_ordinals_still_count_in_the_list() -> None:
    assert refers_to("how much is it?", SHOWN, focus="P1704").products == ("P1704",)
    assert refers_to("are they in stock?", SHOWN, focus="P1704").products == ("P1704",)
    assert refers_to("the first one", SHOWN, focus="P1704").products == ("P1705",)


def talk(product_search, *messages: str):
    """The plans of a conversation's turns, each turn seeing the topic the one before left."""
    knowledge, topic, plans = Catalogue(product_search), None, []
    for number, text in enumerate(messages, 1):
        plan = decide(Turn(text, number=number, topic=topic), knowledge, GATE)
        if "topic" in plan.slots:
            topic = Topic.from_slot(plan.slots["topic"])
        plans.append(plan)
    return plans


@pytest.mark.model
def test_the_second_then_its_price_then_another_colour(product_search) -> None:
    listed, second, price, stock, blue = talk(
        product_search,
        "what candles do you sell?",
        "the second one",
        "how much is it?",
        "is it in stock?",
        "in blue instead",
    )
    shown = [c["id"] for c in listed.says[0].meta["products"]]
    assert listed.outcome == "product" and len(shown) == 3
    assert second.outcome == "product" and second.says[0].meta["products"][0]["id"] == shown[1]
    title = second.says[0].meta["products"][0]["title"]
    assert second.says[0].text.startswith(f"{title} is $") and "in stock" in second.says[0].text
    assert price.says[0].text.startswith(f"{title} is $") and "stock" not in price.says[0].text
    assert stock.says[0].text == f"{title} is in stock."
    assert blue.says[0].text.startswith(f"We don't have {title} in blue. It comes in")
    # the topic keeps the list shown ("the third one" counts in it) and the one in focus
    topic = Topic.from_slot(blue.slots["topic"])
    assert list(topic.products) == shown and topic.focus == shown[1]


@pytest.mark.model
def test_a_colour_instead_for_one_product_shown(product_search) -> None:
    _, blue, white = talk(
        product_search,
        "is the linen runner available in green?",
        "in blue instead?",
        "and in natural?",
    )
    assert blue.says[0].text.startswith("We don't have Linen Table Runner in blue.")
    assert white.says[0].text.startswith("Yes, Linen Table Runner comes in Natural.")


@pytest.mark.model
def test_a_size_alone_after_a_product_answers_for_that_size(product_search) -> None:
    _, small, big, none = talk(
        product_search,
        "is the harbour cast iron skillet in stock?",
        "and the 20cm?",
        "what about the 30 cm",
        "and the 40 cm?",
    )
    for plan in (small, big, none):
        assert plan.outcome == "product", plan
    assert small.says[0].text.startswith("Yes, Harbour Cast Iron Skillet comes in 20 cm")
    assert small.says[0].meta["products"][0]["variant_title"].endswith("20 cm")
    assert big.says[0].text.startswith("Yes, Harbour Cast Iron Skillet comes in 30 cm")
    assert none.says[0].text.startswith("We don't have Harbour Cast Iron Skillet in 40 cm")
    _, large, small = talk(
        product_search, "how much is the stoneware vase?", "what about large?", "and the small one?"
    )
    assert large.says[0].text.startswith("We don't have Stoneware Vase in large. It comes in Small")
    assert small.says[0].text.startswith("Stoneware Vase in Small is $"), small.says[0].text
    _, tall, sized = talk(
        product_search, "how much is the stoneware mug?", "and the tall one?", "the 350ml one?"
    )
    assert tall.says[0].text.startswith("We don't have Stoneware Mug in tall. It comes in 250 ml")
    # the 350 ml mugs differ in price by colour: the range, of that size
    assert sized.says[0].text.startswith("Stoneware Mug in 350 ml is $"), sized.says[0].text


@pytest.mark.model
def test_a_reference_long_after_the_products_is_a_new_question(product_search) -> None:
    plans = talk(product_search, "what candles do you sell?", "hm", "ok", "how much is it?")
    assert plans[-1].outcome == "cant_answer"


@pytest.mark.model
@pytest.mark.parametrize(
    ("question", "kind"),
    [("do you sell candels?", "Candle"), ("any muggs?", "Mug"), ("linen napkns", "Napkins")],
)
def test_a_typo_in_what_is_looked_for_still_finds_it(product_search, question, kind) -> None:
    reply = answer_product(question, product_search, None, DEMO_NOW)
    assert reply.known, reply.says[0].text
    assert all(kind in card["title"] for card in reply.says[0].meta["products"])


@pytest.mark.model
def test_a_clear_shopping_question_for_what_we_do_not_sell_says_so(product_search) -> None:
    [plan] = talk(product_search, "do you sell laptops?")
    assert plan.outcome == "product"
    assert plan.says[0].text.startswith("I'm sorry, we don't sell that.")
    assert len(plan.says[0].meta["products"]) == 3
    # not a question about buying: a refusal as before (out-of-scope answers stay rare)
    [plan] = talk(product_search, "what's the weather on mars")
    assert plan.outcome == "cant_answer"


@pytest.mark.model
@pytest.mark.parametrize(
    ("question", "query"),
    [
        ("any mugs under $20?", {"kind": ["Mugs"], "under": ["20"]}),
        ("what candles do you sell under $20?", {"kind": ["Candles"], "under": ["20"]}),
        ("any gifts under $20?", {"under": ["20"]}),
        ("which mugs are in stock?", {"kind": ["Mugs"], "in_stock": ["1"]}),
        (
            "green tablecloths under $50",
            {"kind": ["Table Linen"], "colour": ["green"], "under": ["50"]},
        ),
    ],
)
def test_see_more_keeps_the_filters(product_search, question: str, query: dict) -> None:
    reply = answer_product(question, product_search, None, DEMO_NOW)
    more = reply.says[0].meta["more"]
    assert more is not None and more["text"] == f"See {more['count']} more"
    assert parse_qs(urlsplit(more["link"]).query) == query
    kind = query.get("kind", [""])[0]
    from bot.catalog.query import Filters

    listed = product_search.count(reply_filters(product_search, question), kind)
    assert more["count"] == listed - len(reply.says[0].meta["products"])
    assert Filters.from_query(under=None).empty


def reply_filters(product_search, question: str):
    return product_search.search(question, now=DEMO_NOW).filters


@pytest.mark.model
@pytest.mark.parametrize(
    ("question", "start"),
    [
        ("blue candles in stock", "We don't have "),
        ("do you have purple mugs?", "We don't have Stoneware Mug in purple. It comes in"),
    ],
)
def test_a_kind_we_sell_in_a_colour_we_do_not_is_not_we_dont_sell_that(
    product_search, question: str, start: str
) -> None:
    reply = answer_product(question, product_search, None, DEMO_NOW)
    assert reply.known and reply.says[0].text.startswith(start), reply.says[0].text
    assert " in blue." in reply.says[0].text or "purple" in question
