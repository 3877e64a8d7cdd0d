"""Reading the Merchant feed: both formats, variants, sale dates, broken and hostile input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.catalog import demo
from bot.catalog.feed import FeedError, parse_feed
from bot.catalog.fetch import FetchFailed, fetch
from bot.catalog.product import group

SAMPLES = Path(__file__).parent / "catalog"
DEC_1 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_xml_feed_reads_every_field_a_shopper_asks_about() -> None:
    feed = parse_feed((SAMPLES / "sample-feed.xml").read_bytes())
    assert feed.format == "xml"
    sage = next(i for i in feed.items if i.id == "RUN-SAGE-180")
    assert sage.title == "Linen Table Runner - Sage Green / 180 cm"
    assert sage.description == "Stonewashed linen runner & soft to the touch."
    assert str(sage.price) == "$39.00" and sage.price.amount == Decimal("39.00")
    assert sage.availability == "in_stock"  # the older spelling with a space
    assert (sage.color, sage.size, sage.material, sage.brand) == (
        "Sage Green",
        "180 cm",
        "Linen",
        "Linden Table",
    )
    assert sage.gtin == "5090000000017"
    assert sage.product_type == "Home & Garden > Table Linen > Runners"
    assert sage.details[0].section == "Care"
    assert sage.details[0].value == "Machine wash at 40°C"
    assert sage.highlights == ("No ironing needed",)
    assert sage.shipping_weight == "0.4 kg"
    charcoal = next(i for i in feed.items if i.id == "RUN-CHAR-240")
    assert charcoal.price.amount == Decimal("45.00")  # "USD 45.00" is read too
    assert charcoal.availability_date == dt.datetime(2027, 1, 15, tzinfo=dt.UTC)


def test_sale_price_applies_only_inside_its_dates() -> None:
    feed = parse_feed((SAMPLES / "sample-feed.xml").read_bytes())
    sage = next(i for i in feed.items if i.id == "RUN-SAGE-180")
    assert sage.on_sale(DEC_1)
    assert str(sage.current_price(DEC_1)) == "$29.25"
    after = dt.datetime(2027, 1, 2, tzinfo=dt.UTC)
    assert not sage.on_sale(after)
    assert str(sage.current_price(after)) == "$39.00"
    before = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
    assert str(sage.current_price(before)) == "$39.00"


def test_variants_are_grouped_into_one_product() -> None:
    feed = parse_feed((SAMPLES / "sample-feed.xml").read_bytes())
    products = {p.id: p for p in group(feed.items)}
    runner = products["RUN"]
    assert [v.id for v in runner.variants] == ["RUN-SAGE-180", "RUN-CHAR-240"]
    assert runner.title == "Linen Table Runner"
    assert runner.values("color") == ["Sage Green", "Charcoal"]
    assert runner.in_stock()
    assert products["MUG-1"].first.availability == "preorder"


def test_broken_items_are_reported_with_line_and_id_and_skipped() -> None:
    feed = parse_feed((SAMPLES / "sample-feed.xml").read_bytes())
    assert {i.id for i in feed.items} == {"RUN-SAGE-180", "RUN-CHAR-240", "MUG-1"}
    problems = {p.item_id: p for p in feed.problems}
    assert "not an amount" in problems["BAD-PRICE"].message
    assert problems["BAD-PRICE"].line == 51  # where its <item> starts
    assert "no id" in problems[""].message
    assert "maybe" in problems["BAD-STOCK"].message
    assert "same id" in problems["MUG-1"].message
    assert str(problems["BAD-PRICE"]).startswith("line 51: item 'BAD-PRICE'")


def test_tab_separated_feed() -> None:
    feed = parse_feed((SAMPLES / "sample-feed.tsv").read_bytes())
    assert feed.format == "tsv"
    assert [i.id for i in feed.items] == ["NAP-NAT", "NAP-NAVY"]
    natural = feed.items[0]
    assert natural.on_sale(dt.datetime(2026, 11, 15, tzinfo=dt.UTC))
    assert not natural.on_sale(DEC_1)
    assert [(d.section, d.name, d.value) for d in natural.details] == [
        ("Care", "Washing", "Machine wash at 40°C"),
        ("", "Made in", "Lithuania"),
    ]
    assert feed.items[1].availability == "backorder"
    [problem] = feed.problems
    assert (problem.line, problem.item_id) == (5, "NAP-BAD")
    assert "sale_price_effective_date" in problem.message


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&lol4;</g:id></item></channel></rss>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item>
<g:id>X</g:id><title>&secret;</title>
<g:price>1 USD</g:price><g:availability>in_stock</g:availability>
</item></channel></rss>
"""


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "external"])
def test_hostile_xml_is_refused(hostile: bytes) -> None:
    with pytest.raises(FeedError, match="refused"):
        parse_feed(hostile)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html><body>Not found</body></html>", "not a product feed"),
        (b"just some text\nwithout tabs", "not a product feed"),
        (b'<?xml version="1.0"?><rss><channel><item><g:id>1</g:id>', "not well-formed"),
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n<rss><channel><title>caf\xe9</title>'
            "</channel></rss>".encode("latin-1"),
            "line 2: not well-formed",
        ),
        ("id\ttitle\tprice\n1\tcaf\xe9\t1 USD\n".encode("latin-1"), "line 2: .* not UTF-8"),
        (b"name\tcost\nmug\t3\n", "needs at least the columns id and price"),
    ],
    ids=["html", "text", "truncated", "xml-encoding", "tsv-encoding", "tsv-header"],
)
def test_a_feed_that_is_not_a_feed_names_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(data)


def test_fetch_refuses_a_feed_over_the_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "feed.xml"
    big.write_bytes(b" " * 5000)
    with pytest.raises(FetchFailed, match="more than catalog_max_bytes"):
        fetch(str(big), max_bytes=4000)
    with pytest.raises(FetchFailed, match="no such file"):
        fetch(str(tmp_path / "missing.xml"), max_bytes=4000)


def test_demo_feed_is_the_generators_output_and_big_enough() -> None:
    committed = (Path(__file__).parent.parent / "catalog" / "demo-feed.xml").read_text()
    assert committed == demo.render(demo.products()), (
        "catalog/demo-feed.xml differs from bot/catalog/demo.py: run `python -m bot.catalog.demo`"
    )
    feed = parse_feed(committed.encode())
    assert feed.problems == []
    products = group(feed.items)
    assert len(products) >= 150 and len(feed.items) >= 400
    kinds = {i.availability for i in feed.items}
    assert kinds >= {"in_stock", "out_of_stock", "preorder"}
    assert all(i.availability_date for i in feed.items if i.availability == "out_of_stock")
    assert sum(1 for i in feed.items if i.on_sale(DEC_1)) >= 40
