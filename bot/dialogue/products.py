"""Answers to product questions from the catalogue: price, stock, colours and sizes, what it is
made of and how to care for it (quoted from the feed, never made up), what we sell, gifts under a
price, when something is back, and "we don't sell that" with the closest things we do.

`answer_product(question, search, store, now)` is pure apart from the search and the store's live
availability: it returns the messages (text for every channel, product cards in `meta` for the
widget) and the products it talked about (for "that one" next turn and the handoff ticket).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.catalog.offer import Offer, offers
from bot.catalog.product import Product
from bot.catalog.query import Filters, colour_matches
from bot.catalog.search import ProductHit, ProductSearch, SearchResult
from bot.catalog.text import STOP, words
from bot.dialogue import replies
from bot.dialogue.plan import Button, Say
from bot.dialogue.restock import DIGIT_UNIT, NOTIFY, chosen, named_choices
from bot.store.base import StoreBackend

MAX_CARDS = 3
# Below both, the best product is not what the shopper asked for (calibrated on the question file
# and on things the demo store does not sell; figures in benchmarks/README.md)
KNOWN_LEXICAL = 0.34
KNOWN_SEMANTIC = 0.5
MIN_SEMANTIC = 0.25

PRICE = re.compile(r"\b(how much|price|cost|costs|pricing|expensive|cheap)\b", re.I)
# Signs that a message is about buying something; without one, a long message that only shares a
# word with a product ("book me a table for two tonight") is not a product question.
SHOPPING = re.compile(
    r"\b(sell|selling|sold|buy|shop|have|got|stock|price|cost|how much|looking for|show me|any|"
    r"colou?rs?|sizes?|available|range|products?|items?)\b",
    re.I,
)
# A question that can only be about buying something: "do you sell X?" is answered "we don't sell
# that" (with the closest things we have) rather than "I can't answer that".
CLEARLY_SHOPPING = re.compile(
    r"\b(?:do|does)\s+(?:you|u|y'?all|the (?:store|shop)|your (?:store|shop))\s+"
    r"(?:\w+\s+)?(?:sell|stock|carry)\b|"
    r"\b(?:do\s+you\s+have|have\s+you\s+got)\s+any\s+(?!idea|info|news|update|way|time|plan)\w+"
    r"|\bwhere\s+can\s+i\s+buy\b|\bi\s+(?:want|need|would\s+like|'?d\s+like)\s+to\s+buy\b",
    re.I,
)
# Words that frame a product question rather than name what it asks for ("how much", "in stock")
FRAME = frozenset(
    words(
        "how much price cost stock available availability size colour color when will back "
        "safe sale have sell buy get got looking show need want"
    )
)
MAX_RELAXED_WORDS = 8  # "blue candles in stock": retried without the colour to say we have none
NAMED_WORDS = 2  # words of a product's title that name it beside another question
SHORT = 4  # a message of this many words or fewer may be a product's name on its own
# The words around the product in "please let me know when X is back in stock" (not X)
ALERT_WORDS = re.compile(
    r"^\W*(?:please\s+)?(?:can you\s+|could you\s+)?"
    r"(?:tell|let|notify|email|e-mail|text|message|ping|alert|inform)\s+me(?:\s+know)?\s+"
    r"(?:when|if|once|as soon as)\s+"
    r"|(?:\s+(?:is|are|gets?|comes?)|'s|’s)\s+(?:back(?:\s+in\s+stock)?|in\s+stock|restocked|available|in)"
    r"(?:\s+again)?\W*$",
    re.IGNORECASE,
)
RESTOCK = re.compile(
    r"\b(back in stock|be back|come back|restock|when will .* (?:be )?available)\b", re.I
)
STOCK = re.compile(r"\b(in stock|available|availability|sold out|do you have|have you got)\b", re.I)
DETAIL = re.compile(
    r"\b(made of|made from|material|dishwasher|microwave|oven|wash|washing|care|clean|safe|"
    r"dimensions?|how big|weight|where .* made|made in)\b",
    re.I,
)
DETAIL_NAMES = {
    "material": ("Material",),
    "made of": ("Material",),
    "made from": ("Material",),
    "made in": (),
}


@dataclass(frozen=True)
class ProductReply:
    """What to say about products, and which ones were talked about."""

    says: tuple[Say, ...]
    products: list[str] = field(default_factory=list)  # product ids, best first
    known: bool = True  # False: we do not sell what was asked; the closest were offered
    # the one product shown has a variant out of stock: what "tell me when it's back" is about
    # ({"product", "title", "link"}, the alert's "variant", "variant_title", "label" and
    # "availability" when it is clear; with several variants "choices" out, "asked" ids and
    # "in_stock" ones: bot.dialogue.restock)
    restock: dict | None = None
    # words of the question that neither the best product nor the catalogue has ("wrong" in
    # "my napkins are the wrong color"): asked about something besides the product
    unnamed: tuple[str, ...] = ()


def answer_product(
    question: str,
    search: ProductSearch,
    store: StoreBackend | None = None,
    now: dt.datetime | None = None,
    among: Sequence[str] | None = None,
    pick: bool = False,
    routed: bool = False,
) -> ProductReply:
    """The answer to one product question; `among`: about these products only (the ones just
    shown that "the second one" or "in blue instead" points at), `pick`: one was chosen and
    nothing more asked ("that one"): its price and stock; `routed`: the router read the message
    as a product question, so a product it clearly describes ("cast iron pan 26 cm") needs no
    word of buying around it."""
    now = now or dt.datetime.now(dt.UTC)
    question = search.respelled(question)  # "hwo much is teh mug?" asks a price
    restock = wants_restock(question)
    # "notify me when the sage runner is back": the product is searched without the alert's words
    searched = (ALERT_WORDS.sub(" ", question).strip() or question) if restock else question
    result = search.search(
        searched, limit=MAX_CARDS, now=now, prefer_in_stock=not restock, among=among
    )
    result = _asked_variant_first(result, question)
    if among is not None and result.hits:
        return _about_shown(question, result, store, now, pick, restock)
    if not result.hits:
        limit = result.filters.max_price
        text = replies.PRODUCT_NONE_UNDER.format(limit=f"${limit}") if limit else None
        return ProductReply(
            (
                Say(
                    text or replies.PRODUCT_NOT_SOLD,
                    meta=replies.meta(
                        "product", products=[], more=None, **({} if limit else {"not_sold": True})
                    ),
                ),
            ),
            [],
            False,
        )
    unnamed = tuple(_unnamed(question, result.hits[0], search, result.filters))
    reply = _about_found(question, result, search, store, now, restock, routed, unnamed)
    return replace(reply, unnamed=unnamed)


def _about_found(
    question: str,
    result: SearchResult,
    search: ProductSearch,
    store: StoreBackend | None,
    now: dt.datetime,
    restock: bool,
    routed: bool,
    unnamed: tuple[str, ...],
) -> ProductReply:
    """The answer once the search found products: what was asked of the best, the list, or
    "we don't sell that" when the best is not what was asked for (`unnamed`: the question's
    words that neither the best nor the catalogue has)."""
    best = result.hits[0]
    browsing = result.filters.max_price is not None  # "anything under $20?": any product will do
    # one shared word ("set", "wine") and nothing of the meaning is not a product question
    unrelated = best.semantic < MIN_SEMANTIC
    weak = _weak(best, unnamed)
    if not best.exact and ((weak and not browsing) or unrelated):
        plain = _without_attributes(question, result, search, now, restock)
        if plain is not None:  # "blue candles": we sell candles, none in blue
            return _not_in(plain.hits[0], plain, store, now)
        return _cards(replies.PRODUCT_NOT_SOLD, result, store, now, known=False)
    if result.relaxed:
        return _not_in(best, result, store, now)
    if restock:
        return _single(_restock(best, store, now, question), best, result, store, now, question)
    if DETAIL.search(question):
        return _single(_detail(best.product, question), best, result, store, now)
    if PRICE.search(question):
        return _single(_price(best, store, now), best, result, store, now)
    if STOCK.search(question) and _one_product(result):
        if result.filters.colours or result.filters.sizes:
            return _single(_yes_in(best, store, now), best, result, store, now)
        return _single(_stock(best, store, now), best, result, store, now)
    if (
        not browsing
        and len(question.split()) > SHORT
        and not SHOPPING.search(question)
        and not (routed and _described(best))
    ):
        return _cards(replies.PRODUCT_NOT_SOLD, result, store, now, known=False)
    limit = result.filters.max_price
    intro = replies.PRODUCT_LIST_UNDER.format(limit=f"${limit}") if limit else replies.PRODUCT_LIST
    return _cards(intro, result, store, now, search=search)


def _weak(hit: ProductHit, unnamed: Sequence[str]) -> bool:
    """The product is not what was asked for: little of the meaning, and few of the words or a
    word asked for that neither it nor the catalogue has (`unnamed`: "do you offer gift
    wrapping")."""
    if hit.semantic >= KNOWN_SEMANTIC:
        return False
    return hit.lexical < KNOWN_LEXICAL or bool(unnamed)


def _unnamed(question: str, hit: ProductHit, search: ProductSearch, asked: Filters) -> list[str]:
    """The words of the question, beyond how it is framed, that neither the catalogue's words
    nor the product's own text have: what was asked for that the product is not ("gift
    *wrapping*" and a gift box; "teapot with infuser" has none, its description says infuser)."""
    product = hit.product
    text = " ".join(
        [product.title, product.description, *product.first.highlights]
        + [d.value for d in product.first.details]
    )
    has = set(words(text))
    # a colour, size or material asked for is a filter: "purple mugs" are mugs, none in purple
    has.update(
        w for value in (*asked.colours, *asked.sizes, *asked.materials) for w in words(value)
    )
    return [
        w
        for w in dict.fromkeys(words(question))
        if w not in FRAME and not w.isdigit() and not search.asks_nothing(w)
        if w not in has and not search.knows(w)
    ]


def _described(hit: ProductHit) -> bool:
    """The product fits the message both by its words and by their meaning: a shopper naming
    it, not a question about something else that shares a word with it ("do you offer gift
    wrapping" and the gift box)."""
    return hit.lexical >= KNOWN_LEXICAL and hit.semantic >= KNOWN_SEMANTIC


def _without_attributes(
    question: str, result: SearchResult, search: ProductSearch, now: dt.datetime, restock: bool
) -> SearchResult | None:
    """The search again without the asked colour, size, material or stock, when that finds
    what was asked for clearly (the result marked relaxed, for "we don't have it in blue")."""
    relaxed = result.filters.relaxed()
    if relaxed == result.filters or len(question.split()) > MAX_RELAXED_WORDS:
        return None  # a longer message naming a colour by chance is not asking for one
    plain = search.search(
        question, limit=MAX_CARDS, filters=relaxed, now=now, prefer_in_stock=not restock
    )
    if not plain.hits:
        return None
    best = plain.hits[0]
    unnamed = _unnamed(question, best, search, result.filters)
    if best.semantic < MIN_SEMANTIC or _weak(best, unnamed):
        return None
    title = set(words(best.product.title))
    if any(w in title for c in result.filters.colours for w in c.split()):
        return None  # "pepper" was the pepper mill, not a colour asked for
    return SearchResult(question, result.filters, plain.hits, plain.more, relaxed=True)


def _about_shown(
    question: str,
    result: SearchResult,
    store: StoreBackend | None,
    now: dt.datetime,
    pick: bool,
    restock: bool,
) -> ProductReply:
    """A question about products just shown: they were named then, so no "we don't sell
    that" here; what was asked of them, or for a pick its price and stock."""
    best = result.hits[0]
    one = len(result.hits) == 1
    if result.relaxed:
        return _not_in(best, result, store, now)
    if restock:
        return _single(_restock(best, store, now, question), best, result, store, now, question)
    if DETAIL.search(question):
        return _single(_detail(best.product, question), best, result, store, now)
    if PRICE.search(question) and (one or pick):
        return _single(_price(best, store, now), best, result, store, now)
    if (result.filters.colours or result.filters.sizes) and one:
        return _single(_yes_in(best, store, now), best, result, store, now)
    if STOCK.search(question) and one:
        return _single(_stock(best, store, now), best, result, store, now)
    if one:
        text = f"{_price(best, store, now)} {_stock(best, store, now)}"
        return _single(text, best, result, store, now)
    return _cards(replies.PRODUCT_LIST, result, store, now)


def named_product(
    question: str,
    search: ProductSearch,
    store: StoreBackend | None = None,
    now: dt.datetime | None = None,
) -> ProductReply | None:
    """The one product a question about something else names ("what's the warranty on the oak
    board?"): its card, price and stock, to show beside the article's answer. None unless the
    question names a product by at least two words of its title (a kind alone, "my candle
    arrived broken", names none) and one product fits those words best."""
    now = now or dt.datetime.now(dt.UTC)
    result = search.search(question, limit=MAX_CARDS, now=now)
    asked = set(words(question))
    fits = []
    for hit in result.hits:
        title = [w for w in dict.fromkeys(words(hit.product.title)) if w not in STOP]
        named = sum(w in asked for w in title)
        if named >= NAMED_WORDS or (title and named == len(title)):
            fits.append((named / len(title), named, hit))
    if not fits:
        return None
    fits.sort(key=lambda f: (-f[0], -f[1]))
    if len(fits) > 1 and fits[1][:2] == fits[0][:2]:
        return None  # two products fit the words as well: which one is not ours to guess
    best = fits[0][2]
    text = f"{_price(best, store, now)} {_stock(best, store, now)}"
    return _single(text, best, result, store, now)


def _asked_variant_first(result: SearchResult, question: str) -> SearchResult:
    """Each product's variants with the size the question names first ("is the large walnut
    board in stock?": the Large one's card, stock and alert), the longest size named winning
    ("extra large" over "large")."""
    asked = set(words(question))

    def named(variant) -> int:
        size = set(words(variant.size or ""))
        return len(size) if size and size <= asked else 0

    hits = []
    for hit in result.hits:
        ordered = tuple(sorted(hit.variants, key=lambda v: -named(v)))  # stable: else as found
        hits.append(hit if ordered == tuple(hit.variants) else replace(hit, variants=ordered))
    return replace(result, hits=hits)


def wants_restock(question: str) -> bool:
    """ "When will X be back?", or "notify me when it's back" (the alert's words)."""
    return bool(RESTOCK.search(question) or NOTIFY.search(question))


def about_products(question: str) -> bool:
    """Whether a message shows any sign of being about the shop's goods (buying, price,
    stock, what something is made of), whatever the NLU called it."""
    return wants_restock(question) or any(
        p.search(question) for p in (SHOPPING, PRICE, STOCK, DETAIL)
    )


def clearly_shopping(question: str) -> bool:
    """Whether a question can only be about buying something ("do you sell laptops?")."""
    return bool(CLEARLY_SHOPPING.search(question))


def _one_product(result: SearchResult) -> bool:
    """The question names one product (it stands clearly above the next)."""
    hits = result.hits
    return len(hits) == 1 or hits[0].exact or hits[0].score - hits[1].score > 0.02


def _variant_words(offer: Offer, product: Product) -> str:
    words = [w for w in (offer.color, offer.size) if w]
    return f" in {' / '.join(words)}" if words and len(product.variants) > 1 else ""


def _price(hit: ProductHit, store: StoreBackend | None, now: dt.datetime) -> str:
    rows = offers(hit.variants, store, now)
    prices = sorted({o.price.amount for o in rows})
    low = min(rows, key=lambda o: o.price.amount)
    high = max(rows, key=lambda o: o.price.amount)
    title = hit.product.title
    if len(prices) == 1:
        text = replies.PRODUCT_PRICE.format(
            title=title
            + (_variant_words(low, hit.product) if len(rows) == 1 else _shared(rows, hit.product)),
            price=low.price,
        )
    else:
        text = replies.PRODUCT_PRICE_RANGE.format(
            title=title + _shared(rows, hit.product), low=low.price, high=high.price
        )
    on_sale = [o for o in rows if o.on_sale]
    if on_sale and len(prices) == 1:
        text += replies.PRODUCT_SALE.format(
            price=on_sale[0].price, regular=on_sale[0].regular_price
        )
    return text


def _shared(rows: list[Offer], product: Product) -> str:
    """ " in Small" when the variants priced are all of one size (or colour) of several: the
    small vases in three colours after "and the small one?"."""
    words = [
        values.pop()
        for attribute in ("color", "size")
        if len(values := {getattr(o, attribute) for o in rows}) == 1
        and len(product.values(attribute)) > 1
    ]
    return f" in {' / '.join(w for w in words if w)}" if any(words) else ""


def _stock(hit: ProductHit, store: StoreBackend | None, now: dt.datetime) -> str:
    rows = offers(hit.variants, store, now)
    states = {o.availability for o in rows}
    if len(states) == 1:
        offer = rows[0]
        variant = _variant_words(offer, hit.product) if len(rows) == 1 else ""
        return _state(hit.product.title, variant, offer)
    lines = [_state(hit.product.title, _variant_words(o, hit.product), o) for o in rows[:6]]
    return " ".join(lines)


def _state(title: str, variant: str, offer: Offer) -> str:
    text = replies.PRODUCT_STOCK.format(
        title=title, variant=variant, state=replies.PRODUCT_AVAILABILITY[offer.availability]
    )
    if offer.availability != "in_stock":
        text += (
            replies.PRODUCT_EXPECTED.format(date=replies.product_date(offer.availability_date))
            if offer.availability_date
            else replies.PRODUCT_NO_DATE
        )
    return text


def _yes_in(hit: ProductHit, store: StoreBackend | None, now: dt.datetime) -> str:
    """ "Do you have X in green?": yes, in the variants that match, with their stock."""
    rows = offers(hit.variants, store, now)
    asked_colour = bool(search_filters_colour(hit))
    names = list(
        dict.fromkeys(
            o.color if asked_colour and o.color else " / ".join(w for w in (o.color, o.size) if w)
            for o in rows
        )
    )
    text = replies.PRODUCT_YES_IN.format(title=hit.product.title, choices=", ".join(names[:6]))
    return text + " " + _stock(hit, store, now)


def search_filters_colour(hit: ProductHit) -> bool:
    """True when the matching variants differ from the product's by colour only."""
    return {v.color for v in hit.variants} != {v.color for v in hit.product.variants}


def _restock(
    hit: ProductHit, store: StoreBackend | None, now: dt.datetime, question: str = ""
) -> str:
    """ "When will X be back?": it is here now (all of it, or the variant named), or the stock."""
    rows = offers(hit.variants, store, now)
    if all(o.availability == "in_stock" for o in rows):
        variant = _variant_words(rows[0], hit.product) if len(rows) == 1 else ""
        link = rows[0].link or hit.product.link
        return replies.PRODUCT_BACK_NOW.format(title=hit.product.title, variant=variant, link=link)
    named_in_stock = rows[0].availability == "in_stock" and question
    if named_in_stock and _restock_offer(hit, rows, question) is None:
        # the variant named is first (_asked_variant_first), and it is in stock
        return replies.PRODUCT_BACK_NOW.format(
            title=hit.product.title,
            variant=_variant_words(rows[0], hit.product),
            link=rows[0].link or hit.product.link,
        )
    return _stock(hit, store, now)


def _detail(product: Product, question: str) -> str:
    """Quote what the feed says; nothing else."""
    asked = question.lower()
    quotes: list[str] = []
    for detail in product.first.details:
        name = f"{detail.section} {detail.name}".lower()
        about_material = any(w in asked for w in ("made of", "made from", "material"))
        if (about_material and "material" in name) or (
            not about_material and "material" not in name and "size" not in name
        ):
            quotes.append(f"{detail.name}: {detail.value}")
    description = product.description
    if "made in" in asked or "where" in asked:
        quotes = [s for s in re.split(r"(?<=\.)\s+", description) if "Made in" in s]
    if not quotes:
        return replies.PRODUCT_NO_DETAIL.format(title=product.title)
    body = "\n".join(replies.PRODUCT_QUOTED.format(text=q) for q in quotes)
    return replies.PRODUCT_QUOTE.format(title=product.title) + "\n" + body


def _not_in(hit: ProductHit, result: SearchResult, store, now) -> ProductReply:
    product_materials = {m.lower() for m in hit.product.values("material")}
    has = [set(words(v.color)) for v in hit.product.variants]
    colours = [c for c in result.filters.colours if not any(colour_matches(c, w) for w in has)]
    # a measure as the feed writes it ("40cm" compared, "40 cm" said)
    sizes = [DIGIT_UNIT.sub(" ", s) for s in result.filters.sizes]
    materials = [m for m in result.filters.materials if m not in product_materials]
    asked = ", ".join(colours + sizes + materials)
    # what it does come in, of the kind asked about first: sizes for "in large", colours for red
    missing = [
        a for a, named in (("color", colours), ("size", sizes), ("material", materials)) if named
    ]
    choices = []
    for attribute in (*missing, "color", "size", "material"):
        values = hit.product.values(attribute)
        if len(values) > 1 or (values and attribute in (*missing, "color")):
            choices = values
            break
    text = replies.PRODUCT_NOT_IN.format(
        title=hit.product.title, asked=asked or "that", choices=", ".join(choices) or "one version"
    )
    return _single(text, hit, result, store, now)


def _single(
    text: str, hit: ProductHit, result: SearchResult, store, now, question: str = ""
) -> ProductReply:
    """One product's card; when a variant of it shown is not in stock, with the offer of an
    email when it is back (for the one out, or the one `question` names; several out and none
    named: the alert asks which). A variant named that is in stock offers none."""
    card = _card(hit, store, now)
    restock = _restock_offer(hit, _every_variant(hit, store, now), question)
    if restock is None:
        return ProductReply(
            (Say(text, meta=replies.meta("product", products=[card], more=None)),),
            [hit.product.id],
        )
    availability = restock.get("availability") or restock["choices"][0]["availability"]
    said = Say(
        text,
        buttons=(Button(replies.restock_button(availability), replies.RESTOCK_PAYLOAD),),
        meta=replies.meta("product", products=[card], more=None, restock=True),
    )
    return ProductReply((said,), [hit.product.id], restock=restock)


def _every_variant(hit: ProductHit, store, now) -> list[Offer]:
    """Every variant of the product, those the question asked about (shown) first."""
    shown = {v.id for v in hit.variants}
    rest = [v for v in hit.product.variants if v.id not in shown]
    return offers([*hit.variants, *rest], store, now)


def _restock_offer(hit: ProductHit, rows: list[Offer], question: str) -> dict | None:
    """What "tell me when it's back" is about: the product's variants out of stock (`choices`,
    those asked about in `asked`), those in stock (`in_stock`: "the 30 cm is in stock now"),
    and the alert's variant when it is clear (the only one asked about that is out, or the one
    the question names); None when those asked about are all in stock, or the question names
    one in stock."""
    product = hit.product
    asked = {v.id for v in hit.variants}
    kinds = [
        (kind, attribute)
        for kind, attribute in (("colour", "color"), ("size", "size"))
        if len({getattr(v, attribute) for v in product.variants}) > 1
    ]

    def choice(row: Offer) -> dict:
        parts = [getattr(row, attribute) for _, attribute in kinds]
        label = " / ".join(p for p in parts if p)
        return {
            "variant": row.item_id,
            "variant_title": row.title,
            # variants alike in colour and size (a material, a scent) go by their titles
            "label": label or (row.title if len(product.variants) > 1 else ""),
            "link": row.link or product.link,
            "availability": row.availability,  # preorder or backorder: "in stock", not "back"
        }

    out = [choice(r) for r in rows if r.availability != "in_stock"]
    shown_out = [c for c in out if c["variant"] in asked]
    if not shown_out:
        return None
    offer: dict = {"product": product.id, "title": product.title, "link": product.link}
    if len(rows) > 1:
        offer["choices"] = out
        offer["asked"] = [c["variant"] for c in shown_out]
        offer["in_stock"] = [choice(r) for r in rows if r.availability == "in_stock"]
        offer["kinds"] = [kind for kind, _ in kinds]
    named = named_choices(question, out + offer.get("in_stock", [])) if question else []
    named_out = [c for c in named if c in out]
    if named and not named_out:
        return None  # "is the 30 cm back?": it is in stock, no alert
    if len(named_out) == 1 or len(shown_out) == 1:
        return chosen(offer, (named_out or shown_out)[0])
    return offer


def _cards(
    intro: str,
    result: SearchResult,
    store,
    now,
    known: bool = True,
    search: ProductSearch | None = None,
) -> ProductReply:
    """A list of cards; with `search`, a "see more" link to the rest of that kind on the shop's
    page, with the question's filters (price, colour, size, material, stock, sale)."""
    cards = [_card(h, store, now) for h in result.hits[:MAX_CARDS]]
    lines = [intro] + [
        f"- [{c['title']}]({c['link']}): {c['price']}, {c['availability_text']}" for c in cards
    ]
    more = see_more(result, search) if search is not None else None
    return ProductReply(
        (
            Say(
                "\n".join(lines),
                meta=replies.meta(
                    "product", products=cards, more=more, **({} if known else {"not_sold": True})
                ),
            ),
        ),
        [h.product.id for h in result.hits[:MAX_CARDS]],
        known,
    )


def see_more(result: SearchResult, search: ProductSearch) -> dict | None:
    """ "See N more": the shop's page of the kind the shown products share, filtered as the
    question was, and how many more it lists than were shown (None when it lists no more)."""
    if not result.more or not result.hits:
        return None
    shown = result.hits[:MAX_CARDS]
    kind = search.common_kind([h.product for h in shown])
    count = search.count(result.filters, kind) - len(shown)
    if count <= 0:
        return None
    return {
        "count": count,
        "text": replies.PRODUCT_SEE_MORE.format(count=count),
        "link": more_link(result.filters, kind),
    }


def _card(hit: ProductHit, store, now) -> dict:
    """A product card: the variant asked about (the first that matched) and the product."""
    rows = offers(hit.variants, store, now)
    shown = rows[0]
    low = min(rows, key=lambda o: o.price.amount)
    state = replies.PRODUCT_AVAILABILITY[shown.availability]
    if shown.availability != "in_stock" and shown.availability_date:
        state = replies.PRODUCT_CARD_EXPECTED.format(
            state=state, date=replies.product_date(shown.availability_date)
        )
    return {
        "id": hit.product.id,
        "variant": shown.item_id,
        "title": hit.product.title,
        "variant_title": shown.title,
        "link": shown.link or hit.product.link,
        "image": shown.image,
        "price": str(low.price),
        "regular_price": str(low.regular_price) if low.on_sale else None,
        "availability": shown.availability,
        "availability_text": state,
    }


def more_link(filters: Filters, kind: str = "") -> str:
    """The shop's page of a kind ("" all) with a question's filters ("/?kind=Mugs&under=20")."""
    from urllib.parse import urlencode

    query = {"kind": kind, **filters.to_query()} if kind else filters.to_query()
    return f"/?{urlencode(query)}" if query else "/"
