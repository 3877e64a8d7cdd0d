"""The demo store's catalogue, written as a Google Merchant RSS feed, the same bytes every time.

`python -m bot.catalog.demo [OUT]` writes catalog/demo-feed.xml. Every product is made from a kind
(what it is, its materials, colours and sizes, its care and a few sentences about it, all in our
own words) and a collection name; a seeded random generator decides prices, stock and sales, so
the feed changes only when this file does.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

SEED = 20261206
TODAY = dt.date(2026, 12, 1)  # the demo's "now": restock and sale dates are counted from it
STORE_URL = "http://localhost:8080"  # the web app of `bot up` serves the demo store (README)
DEFAULT_OUT = Path("catalog/demo-feed.xml")
COLLECTIONS = ["", "Harbour", "Meadow", "Alder", "Fjord", "Juniper"]


@dataclass(frozen=True)
class Kind:
    """A kind of goods: everything one product of it shares with the others of its kind."""

    name: str  # "Serving Board": the product is "<collection> <material> Serving Board"
    path: str  # product_type
    brand: str
    materials: tuple[str, ...]
    colours: tuple[str, ...]
    sizes: tuple[str, ...]
    price: tuple[int, int]  # dollars, lowest and highest of the kind
    about: str  # one or two sentences; {material} and {colour} are filled in
    care: str
    products: int  # how many collections of it the store sells
    made_in: str = "Portugal"
    material_in_title: bool = True
    weight: str = "0.5 kg"
    highlights: tuple[str, ...] = ()


KINDS = [
    Kind(
        "Serving Board",
        "Home & Garden > Kitchen > Boards",
        "Fernhill Home",
        ("Oak", "Walnut", "Acacia"),
        (),
        ("30 cm", "40 cm", "50 cm"),
        (24, 58),
        "Cut from a single plank of {material_l} and finished with food-safe oil, it carries "
        "cheese, bread or a roast from the kitchen to the table.",
        "Hand wash only; not dishwasher safe. Oil it once a month.",
        6,
        weight="1.2 kg",
        highlights=("Cut from one plank", "Food-safe oil finish"),
    ),
    Kind(
        "Chopping Board",
        "Home & Garden > Kitchen > Boards",
        "Fernhill Home",
        ("Maple", "Walnut"),
        (),
        ("Medium", "Large"),
        (35, 89),
        "An end-grain {material_l} board that is kind to knife edges and heavy enough not to "
        "slide on the counter.",
        "Hand wash only; not dishwasher safe. Oil it once a month.",
        5,
        weight="2.4 kg",
    ),
    Kind(
        "Salad Servers",
        "Home & Garden > Kitchen > Utensils",
        "Fernhill Home",
        ("Olive Wood",),
        (),
        (),
        (16, 26),
        "A pair of {material_l} servers with long handles, carved so that each one is a little "
        "different.",
        "Hand wash and dry straight away.",
        4,
        made_in="Tunisia",
    ),
    Kind(
        "Wooden Spoon Set",
        "Home & Garden > Kitchen > Utensils",
        "Fernhill Home",
        ("Beech", "Cherry"),
        (),
        (),
        (14, 28),
        "Three {material_l} spoons for stirring, tasting and scraping the pan.",
        "Hand wash; not dishwasher safe.",
        4,
    ),
    Kind(
        "Apron",
        "Home & Garden > Kitchen > Aprons",
        "Linden Table",
        ("Linen",),
        ("Natural", "Charcoal", "Rust", "Sage Green"),
        ("S/M", "L/XL"),
        (32, 48),
        "A {material_l} apron in {colour_l} with a deep front pocket and ties long enough to "
        "wrap around.",
        "Machine wash at 40°C; tumble dry low.",
        5,
    ),
    Kind(
        "Tea Towel Set",
        "Home & Garden > Kitchen > Towels",
        "Linden Table",
        ("Linen", "Cotton"),
        ("Natural", "Blue Stripe", "Red Check"),
        (),
        (12, 24),
        "Two {material_l} tea towels in {colour_l} that dry glasses without leaving lint and "
        "get softer with every wash.",
        "Machine wash at 60°C.",
        5,
    ),
    Kind(
        "Oven Mitt",
        "Home & Garden > Kitchen > Textiles",
        "Linden Table",
        ("Cotton",),
        ("Mustard", "Navy", "Natural"),
        (),
        (11, 18),
        "A quilted {material_l} oven mitt in {colour_l}, padded for hot trays.",
        "Machine wash at 40°C.",
        4,
    ),
    Kind(
        "Enamel Saucepan",
        "Home & Garden > Kitchen > Cookware",
        "Brightwick",
        ("Enamelled Steel",),
        ("White", "Red", "Blue"),
        ("16 cm", "18 cm", "20 cm"),
        (34, 62),
        "A {material_l} pan in {colour_l} with a lid, for sauces, porridge and milk; it works "
        "on gas, electric and induction hobs.",
        "Dishwasher safe; hand washing keeps the enamel bright longer.",
        4,
        material_in_title=False,
        weight="1.1 kg",
    ),
    Kind(
        "Cast Iron Skillet",
        "Home & Garden > Kitchen > Cookware",
        "Brightwick",
        ("Cast Iron",),
        (),
        ("20 cm", "26 cm", "30 cm"),
        (39, 79),
        "A pre-seasoned skillet that goes from the hob to the oven and gets better the more "
        "it is used.",
        "Hand wash, dry on the heat and wipe with oil; not dishwasher safe.",
        4,
        material_in_title=False,
        weight="2.8 kg",
        made_in="Poland",
    ),
    Kind(
        "Chef's Knife",
        "Home & Garden > Kitchen > Knives",
        "Brightwick",
        ("Carbon Steel", "Stainless Steel"),
        (),
        ("16 cm", "20 cm"),
        (49, 129),
        "A {material_l} blade with an oak handle, sharpened by hand and sent in a linen roll.",
        "Hand wash and dry at once; never in the dishwasher.",
        4,
        made_in="Japan",
    ),
    Kind(
        "Pepper Mill",
        "Home & Garden > Kitchen > Utensils",
        "Fernhill Home",
        ("Oak", "Walnut"),
        (),
        ("15 cm", "22 cm"),
        (28, 46),
        "A {material_l} mill with a ceramic grinder you set from fine to coarse.",
        "Wipe clean with a dry cloth.",
        4,
    ),
    Kind(
        "Storage Jar",
        "Home & Garden > Kitchen > Storage",
        "Brightwick",
        ("Glass",),
        (),
        ("0.5 L", "1 L", "1.5 L"),
        (9, 19),
        "A clear {material_l} jar with a beech lid and a silicone seal that keeps coffee, rice "
        "and pasta dry.",
        "The jar is dishwasher safe; wipe the lid by hand.",
        4,
        material_in_title=False,
        made_in="Czech Republic",
    ),
    Kind(
        "Table Runner",
        "Home & Garden > Table Linen > Runners",
        "Linden Table",
        ("Linen",),
        ("Natural", "Sage Green", "Forest Green", "Charcoal", "Dusty Pink"),
        ("150 cm", "180 cm", "240 cm"),
        (29, 49),
        "A stonewashed {material_l} runner in {colour_l}, with a soft hand and a slightly "
        "rumpled look that needs no ironing.",
        "Machine wash at 40°C; line dry.",
        5,
        made_in="Lithuania",
        highlights=("Stonewashed", "No ironing needed"),
    ),
    Kind(
        "Napkins (Set of 4)",
        "Home & Garden > Table Linen > Napkins",
        "Linden Table",
        ("Linen", "Cotton"),
        ("Natural", "White", "Terracotta", "Sage Green", "Navy"),
        (),
        (18, 34),
        "Four {material_l} napkins in {colour_l}, generously sized at 45 by 45 cm.",
        "Machine wash at 40°C; line dry.",
        6,
        made_in="Lithuania",
    ),
    Kind(
        "Tablecloth",
        "Home & Garden > Table Linen > Tablecloths",
        "Linden Table",
        ("Linen", "Cotton"),
        ("Natural", "White", "Blue"),
        ("140 x 180 cm", "140 x 240 cm", "Round 180 cm"),
        (45, 98),
        "A {material_l} tablecloth in {colour_l} with mitred corners and a wide hem.",
        "Machine wash at 40°C; iron while damp.",
        5,
        made_in="Lithuania",
        weight="0.9 kg",
    ),
    Kind(
        "Placemats (Set of 4)",
        "Home & Garden > Table Linen > Placemats",
        "Linden Table",
        ("Jute", "Cotton"),
        ("Natural", "Grey"),
        (),
        (16, 30),
        "Four woven {material_l} placemats in {colour_l} that protect the table from warm plates.",
        "Wipe clean; spot wash if needed.",
        4,
        made_in="India",
    ),
    Kind(
        "Taper Candles (Pair)",
        "Home & Garden > Candles > Taper Candles",
        "Oak & Ember",
        ("Beeswax",),
        ("Natural", "Ivory", "Honey"),
        ("20 cm", "25 cm", "30 cm"),
        (9, 19),
        "Two hand-dipped {material_l} tapers in {colour_l} that burn slowly, without smoke, "
        "and smell faintly of honey.",
        "Trim the wick to 5 mm; never leave a lit candle alone.",
        5,
        weight="0.2 kg",
        highlights=("Hand dipped", "Burns about 8 hours"),
    ),
    Kind(
        "Pillar Candle",
        "Home & Garden > Candles > Pillar Candles",
        "Oak & Ember",
        ("Beeswax", "Soy Wax"),
        ("Natural", "White"),
        ("7 x 10 cm", "7 x 15 cm"),
        (12, 29),
        "A {material_l} pillar in {colour_l} with a cotton wick, for a long evening at the table.",
        "Burn for at least two hours the first time so it melts evenly.",
        5,
        weight="0.6 kg",
    ),
    Kind(
        "Scented Jar Candle",
        "Home & Garden > Candles > Scented Candles",
        "Oak & Ember",
        ("Soy Wax",),
        ("Fig", "Cedar", "Sea Salt", "Lavender"),
        ("200 g", "400 g"),
        (18, 36),
        "A {material_l} candle poured into a glass jar, scented with {colour_l}; it burns "
        "clean for about 40 hours in the small size.",
        "Trim the wick before each use; keep away from draughts.",
        5,
        weight="0.5 kg",
    ),
    Kind(
        "Tealights",
        "Home & Garden > Candles > Tealights",
        "Oak & Ember",
        ("Beeswax",),
        (),
        ("Pack of 12", "Pack of 24"),
        (8, 15),
        "Tealights of pure {material_l} in recyclable aluminium cups, about four hours each.",
        "Use in a holder on a heat-proof surface.",
        3,
        weight="0.3 kg",
    ),
    Kind(
        "Candle Holder",
        "Home & Garden > Candles > Holders",
        "Oak & Ember",
        ("Brass", "Iron"),
        (),
        ("Single", "Set of 3"),
        (14, 42),
        "A {material_l} holder for taper candles, heavy at the base so it does not tip.",
        "Polish with a soft cloth.",
        4,
        made_in="India",
    ),
    Kind(
        "Mug",
        "Home & Garden > Ceramics > Mugs",
        "Saltmarsh Pottery",
        ("Stoneware",),
        ("Speckled White", "Sage Green", "Charcoal", "Ocean Blue"),
        ("250 ml", "350 ml"),
        (14, 24),
        "A thrown {material_l} mug in a {colour_l} glaze with a handle wide enough for two "
        "fingers.",
        "Dishwasher and microwave safe.",
        6,
        highlights=("Dishwasher safe", "Microwave safe"),
    ),
    Kind(
        "Dinner Plate",
        "Home & Garden > Ceramics > Plates",
        "Saltmarsh Pottery",
        ("Stoneware", "Porcelain"),
        ("Speckled White", "Sand", "Slate Grey"),
        ("27 cm",),
        (16, 28),
        "A {material_l} dinner plate in {colour_l} with a raw, unglazed rim.",
        "Dishwasher and microwave safe; not for the oven.",
        5,
        weight="0.8 kg",
    ),
    Kind(
        "Bowl",
        "Home & Garden > Ceramics > Bowls",
        "Saltmarsh Pottery",
        ("Stoneware",),
        ("Speckled White", "Sage Green", "Ocean Blue", "Sand"),
        ("14 cm", "18 cm"),
        (12, 26),
        "A deep {material_l} bowl in {colour_l} for soup, salad or a morning's porridge.",
        "Dishwasher and microwave safe.",
        5,
    ),
    Kind(
        "Serving Platter",
        "Home & Garden > Ceramics > Platters",
        "Saltmarsh Pottery",
        ("Stoneware",),
        ("Speckled White", "Slate Grey"),
        ("Medium", "Large"),
        (34, 64),
        "An oval {material_l} platter in {colour_l}, big enough for a whole fish.",
        "Dishwasher safe; oven safe up to 200°C.",
        4,
        weight="1.6 kg",
    ),
    Kind(
        "Vase",
        "Home & Garden > Ceramics > Vases",
        "Saltmarsh Pottery",
        ("Stoneware", "Porcelain"),
        ("Speckled White", "Moss Green", "Ink Blue"),
        ("Small", "Tall"),
        (22, 68),
        "A {material_l} vase in {colour_l}, watertight inside.",
        "Wash by hand.",
        5,
    ),
    Kind(
        "Teapot",
        "Home & Garden > Ceramics > Teapots",
        "Saltmarsh Pottery",
        ("Stoneware",),
        ("Speckled White", "Charcoal"),
        ("0.8 L", "1.2 L"),
        (42, 69),
        "A {material_l} teapot in {colour_l} with a steel infuser and a lid that stays put "
        "while you pour.",
        "Dishwasher safe without the infuser.",
        4,
        weight="1.0 kg",
    ),
    Kind(
        "Espresso Cups (Set of 2)",
        "Home & Garden > Ceramics > Cups",
        "Saltmarsh Pottery",
        ("Porcelain",),
        ("White", "Black"),
        (),
        (18, 26),
        "Two thick-walled {material_l} cups in {colour_l} that keep an espresso hot.",
        "Dishwasher safe.",
        4,
    ),
    Kind(
        "Tumblers (Set of 4)",
        "Home & Garden > Glassware > Tumblers",
        "Brightwick",
        ("Recycled Glass",),
        ("Clear", "Green Tint"),
        ("250 ml", "350 ml"),
        (19, 32),
        "Four mouth-blown tumblers of {material_l} in {colour_l}, each with a few small bubbles.",
        "Dishwasher safe.",
        4,
        material_in_title=False,
        made_in="Spain",
    ),
    Kind(
        "Wine Glasses (Set of 2)",
        "Home & Garden > Glassware > Wine Glasses",
        "Brightwick",
        ("Crystal Glass",),
        (),
        ("Red", "White"),
        (28, 46),
        "Two thin-rimmed glasses of lead-free {material_l}.",
        "Hand wash recommended.",
        4,
        material_in_title=False,
        made_in="Czech Republic",
    ),
    Kind(
        "Carafe",
        "Home & Garden > Glassware > Carafes",
        "Brightwick",
        ("Glass",),
        (),
        ("0.75 L", "1 L"),
        (18, 29),
        "A {material_l} carafe with a cork-lined stopper for water or wine.",
        "Dishwasher safe; the stopper by hand.",
        4,
        material_in_title=False,
    ),
    Kind(
        "Throw",
        "Home & Garden > Textiles > Throws",
        "Linden Table",
        ("Wool", "Cotton"),
        ("Oatmeal", "Forest Green", "Rust", "Charcoal"),
        ("130 x 170 cm",),
        (59, 129),
        "A woven {material_l} throw in {colour_l} with knotted fringes.",
        "Dry clean or hand wash cold.",
        5,
        weight="1.3 kg",
        made_in="Ireland",
    ),
    Kind(
        "Cushion Cover",
        "Home & Garden > Textiles > Cushions",
        "Linden Table",
        ("Linen", "Velvet"),
        ("Natural", "Sage Green", "Terracotta", "Navy"),
        ("45 x 45 cm", "50 x 50 cm"),
        (19, 35),
        "A {material_l} cushion cover in {colour_l} with a hidden zip; the pad is sold separately.",
        "Machine wash at 30°C inside out.",
        5,
    ),
    Kind(
        "Storage Basket",
        "Home & Garden > Storage > Baskets",
        "Fernhill Home",
        ("Seagrass", "Rattan"),
        (),
        ("Small", "Medium", "Large"),
        (19, 49),
        "A hand-woven {material_l} basket with two handles, for logs, blankets or toys.",
        "Brush off dust; keep dry.",
        5,
        made_in="Vietnam",
    ),
    Kind(
        "Gift Set",
        "Home & Garden > Gifts > Gift Sets",
        "Oak & Ember",
        ("Mixed",),
        (),
        (),
        (19, 45),
        "A ready-wrapped box with a card for your message inside.",
        "See each piece's care notes.",
        4,
        material_in_title=False,
    ),
]
GIFT_SETS = [
    "Candlelit Supper Gift Box (two beeswax tapers, a brass holder and four linen napkins)",
    "Morning Coffee Gift Box (two stoneware mugs and a bag of tea towels)",
    "Little Kitchen Gift Box (a beech spoon set and an olive wood salad server pair)",
    "Calm Evening Gift Box (a soy wax jar candle and a pack of beeswax tealights)",
]


def ean13(rng: random.Random) -> str:
    """A valid EAN-13 with our demo prefix and its check digit."""
    body = "509" + "".join(str(rng.randint(0, 9)) for _ in range(9))
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def slug(text: str) -> str:
    """A lowercase, hyphenated handle for a product's URL."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(part for part in out.split("-") if part)


def _money(value: Decimal) -> str:
    return f"{value:.2f} USD"


def products(seed: int = SEED) -> list[list[dict]]:
    """Every product as a list of variant field dicts, in feed order."""
    rng = random.Random(seed)
    out: list[list[dict]] = []
    for kind_number, kind in enumerate(KINDS, start=1):
        for index in range(kind.products):
            collection = COLLECTIONS[index % len(COLLECTIONS)]
            material = kind.materials[index % len(kind.materials)]
            if kind.name == "Gift Set":
                title = GIFT_SETS[index % len(GIFT_SETS)].split(" (")[0]
                about = GIFT_SETS[index % len(GIFT_SETS)] + ". " + kind.about
            else:
                words = [collection, material if kind.material_in_title else "", kind.name]
                title = " ".join(w for w in words if w)
                about = ""
            group_id = f"P{kind_number:02d}{index + 1:02d}"
            out.append(variants(rng, kind, title, about, material, group_id))
    return out


def variants(
    rng: random.Random, kind: Kind, title: str, about: str, material: str, group_id: str
) -> list[dict]:
    colours = list(kind.colours) or [""]
    if len(colours) > 3:
        colours = rng.sample(colours, 3)
    sizes = list(kind.sizes) or [""]
    low, high = kind.price
    base = Decimal(rng.randint(low, high)) - Decimal("0.01") if high > low else Decimal(low)
    handle = slug(title)
    gtin_rng = random.Random(f"{SEED}-{group_id}")
    stock_roll = rng.random()
    sale = rng.random() < 0.18
    sale_end = rng.choice([None, TODAY + dt.timedelta(days=rng.randint(20, 60))])
    variants = []
    for size_index, size in enumerate(sizes):
        for colour in colours:
            number = len(variants) + 1
            price = base + Decimal(size_index * rng.choice((4, 5, 6, 8, 10)))
            availability, restock = "in_stock", None
            if stock_roll < 0.08 or (stock_roll < 0.2 and rng.random() < 0.35):
                availability = "out_of_stock"
                restock = TODAY + dt.timedelta(days=rng.randint(7, 45))
            elif stock_roll > 0.95:
                availability = "preorder"
                restock = TODAY + dt.timedelta(days=rng.randint(20, 60))
            elif stock_roll > 0.92:
                availability = "backorder"
                restock = TODAY + dt.timedelta(days=rng.randint(10, 25))
            name = " / ".join(v for v in (colour, size) if v)
            description = (
                about
                or kind.about.format(
                    material_l=material.lower(), colour_l=(colour or "its natural colour").lower()
                )
            ) + f" Made in {kind.made_in}."
            details = [("Materials", "Material", material), ("Care", "Care", kind.care)]
            if size:
                details.append(("Dimensions", "Size", size))
            variant = {
                "id": f"{group_id}-{number:02d}",
                "item_group_id": group_id,
                "title": f"{title} - {name}" if name else title,
                "description": description,
                "link": f"{STORE_URL}/products/{handle}?variant={group_id}-{number:02d}",
                "image_link": f"{STORE_URL}/images/{handle}.svg",
                "price": _money(price),
                "availability": availability,
                "brand": kind.brand,
                "gtin": ean13(gtin_rng),
                "mpn": f"{slug(kind.brand)[:3].upper()}-{group_id}-{number:02d}",
                "product_type": kind.path,
                "material": "" if material == "Mixed" else material,
                "color": colour,
                "size": size,
                "shipping_weight": kind.weight,
                "condition": "new",
                "details": details,
                "highlights": list(kind.highlights),
            }
            if restock is not None:
                variant["availability_date"] = f"{restock.isoformat()}T09:00:00+00:00"
            if sale:
                off = Decimal(rng.choice((10, 15, 20, 25))) / 100
                variant["sale_price"] = _money((price * (1 - off)).quantize(Decimal("0.01")))
                start = TODAY - dt.timedelta(days=rng.randint(1, 10))
                end = f"{sale_end.isoformat()}T23:59:00+00:00" if sale_end else ""
                variant["sale_price_effective_date"] = f"{start.isoformat()}T00:00:00+00:00/{end}"
            variants.append(variant)
    return variants


def render(groups: list[list[dict]]) -> str:
    """The feed's XML text."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">',
        "<channel>",
        "<title>Fernhill &amp; Co. demo store</title>",
        f"<link>{STORE_URL}</link>",
        "<description>Kitchen, table linen, candles and ceramics (demo catalogue)</description>",
    ]
    for variants in groups:
        for v in variants:
            lines.append("<item>")
            for key, value in v.items():
                if key == "details":
                    for section, name, text in value:
                        lines.append(
                            "  <g:product_detail>"
                            f"<g:section_name>{escape(section)}</g:section_name>"
                            f"<g:attribute_name>{escape(name)}</g:attribute_name>"
                            f"<g:attribute_value>{escape(text)}</g:attribute_value>"
                            "</g:product_detail>"
                        )
                elif key == "highlights":
                    lines.extend(
                        f"  <g:product_highlight>{escape(h)}</g:product_highlight>" for h in value
                    )
                elif value:
                    tag = key if key in ("title", "description", "link") else f"g:{key}"
                    lines.append(f"  <{tag}>{escape(str(value))}</{tag}>")
            lines.append("</item>")
    lines += ["</channel>", "</rss>", ""]
    return "\n".join(lines)


def write(out: Path = DEFAULT_OUT, seed: int = SEED) -> tuple[int, int]:
    """Write the demo feed; returns (products, variants)."""
    groups = products(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(groups), encoding="utf-8")
    return len(groups), sum(len(g) for g in groups)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    made, variants = write(target)
    print(f"{target}: {made} products, {variants} variants")
