"""The attributes a shopper's question states, as filters: colour, size, material, price, stock.

"any green linen napkins under $20 in stock?" -> colour green, material linen, at most 20.00,
in stock. Colours and materials are the catalogue's own words (a store that sells "sage green"
knows "sage"), plus common colour names; sizes are what follows "size"/"in size", a letter size,
a measure (180 cm, 350 ml), or small, medium or large before a noun ("large candles"; not beside
a colour or material, where it only puts that size's variant first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from bot.catalog.text import words

COMMON_COLOURS = frozenset(
    [
        "black",
        "white",
        "grey",
        "red",
        "green",
        "blue",
        "navy",
        "pink",
        "yellow",
        "orange",
        "purple",
        "brown",
        "beige",
        "cream",
        "ivory",
        "natural",
        "gold",
        "silver",
    ]
)
SIZE_WORDS = {
    "small": "small",
    "medium": "medium",
    "large": "large",
    "xs": "xs",
    "s": "s",
    "m": "m",
    "l": "l",
    "xl": "xl",
    "xxl": "xxl",
}
AMOUNT = r"(?:\$|usd\s*|€|£)?\s*(\d+(?:[.,]\d{1,2})?)\s*(?:\$|usd|dollars?|bucks|€|euros?|£)?"
UNDER = re.compile(
    rf"\b(?:under|below|less than|cheaper than|no more than|max(?:imum)?|up to|within)\s+{AMOUNT}"
    rf"|{AMOUNT}\s+(?:or less|or under|max)\b",
    re.IGNORECASE,
)
OVER = re.compile(rf"\b(?:over|above|more than|at least|from)\s+{AMOUNT}", re.IGNORECASE)
BETWEEN = re.compile(rf"\bbetween\s+{AMOUNT}\s+and\s+{AMOUNT}", re.IGNORECASE)
IN_STOCK = re.compile(
    r"(?<!back )\b(in stock|available (?:now|today|right now)|ready to ship"
    r"|ships? (?:now|today))\b",
    re.I,
)
ASKING = re.compile(r"\s*(is|are|do|does|has|have|will|can|when)\b", re.I)
ON_SALE = re.compile(r"\b(on sale|discount(?:ed)?|reduced|on offer|deals?)\b", re.I)
# a measure: "180 cm", "350ml", "45 x 45 cm", "0.5 L"
MEASURE = r"\d+(?:[.,]\d+)?\s*(?:x\s*\d+\s*)?(?:cm|mm|ml|l|g|kg)"
SIZE_PHRASE = re.compile(
    r"\b(?:in )?size\s+([a-z0-9/]+(?:\s*(?:x)\s*\d+)?(?:\s*(?:cm|mm|ml|l|g|kg))?)"
    rf"|\b({MEASURE})\b"
    r"|\bin (?:an? )?(xs|s|m|l|xl|xxl|small|medium|large)\b",
    re.IGNORECASE,
)
# a size word before the thing it sizes ("large candles", "a small mug"), as "candles in large"
SIZE_BEFORE = re.compile(
    r"\b(small|medium|large)\s+"
    r"(?!(?:size|sizes|one|ones|amount|number|question|order|orders|enough|or|and)\b)[a-z]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Filters:
    """What a result must have; an empty filter asks for nothing."""

    colours: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    max_price: Decimal | None = None
    min_price: Decimal | None = None
    in_stock: bool = False
    on_sale: bool = False

    def relaxed(self) -> Filters:
        """The same filters without the attributes (colour, size, material, stock, sale): what a
        search falls back to when no product has them, so the answer can say which it lacks."""
        return Filters(max_price=self.max_price, min_price=self.min_price)

    @property
    def empty(self) -> bool:
        """True when nothing is asked for."""
        return self == Filters()

    def to_dict(self) -> dict:
        """JSON form (only what is set)."""
        data = {
            "colours": list(self.colours),
            "sizes": list(self.sizes),
            "materials": list(self.materials),
            "max_price": str(self.max_price) if self.max_price is not None else None,
            "min_price": str(self.min_price) if self.min_price is not None else None,
            "in_stock": self.in_stock,
            "on_sale": self.on_sale,
        }
        return {k: v for k, v in data.items() if v}

    def to_query(self) -> dict[str, str]:
        """The filters as the shop page's query parameters (what "see more" links to)."""
        data = {
            "colour": ",".join(self.colours),
            "size": ",".join(self.sizes),
            "material": ",".join(self.materials),
            "under": str(self.max_price) if self.max_price is not None else "",
            "over": str(self.min_price) if self.min_price is not None else "",
            "in_stock": "1" if self.in_stock else "",
            "on_sale": "1" if self.on_sale else "",
        }
        return {k: v for k, v in data.items() if v}

    @classmethod
    def from_query(
        cls,
        colour: str = "",
        size: str = "",
        material: str = "",
        under: Decimal | None = None,
        over: Decimal | None = None,
        in_stock: bool = False,
        on_sale: bool = False,
    ) -> Filters:
        """The filters of the shop page's query parameters."""

        def listed(value: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))

        return cls(
            colours=listed(colour),
            sizes=tuple(normalise_size(s) for s in listed(size)),
            materials=listed(material),
            max_price=under,
            min_price=over,
            in_stock=in_stock,
            on_sale=on_sale,
        )


@dataclass
class Vocabulary:
    """The catalogue's words: colours, materials and every searchable word (for compounds)."""

    colours: set[str] = field(default_factory=set)
    materials: set[str] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)
    colour_phrases: set[tuple[str, ...]] = field(default_factory=set)  # ("forest", "green")


@dataclass(frozen=True)
class Parsed:
    """A question read for search: its text, its words (compounds joined), its filters."""

    text: str  # the question without its price phrases (what the embedding model reads)
    words: list[str]  # its words, "bees wax" joined into the catalogue's "beeswax"
    filters: Filters


def join_compounds(tokens: list[str], known: set[str]) -> list[str]:
    """Two neighbouring words the catalogue writes as one ("bees wax", "place mats") joined."""
    out: list[str] = []
    index = 0
    while index < len(tokens):
        if index + 1 < len(tokens) and tokens[index] + tokens[index + 1] in known:
            out.append(tokens[index] + tokens[index + 1])
            index += 2
            continue
        out.append(tokens[index])
        index += 1
    return out


def _amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def parse(question: str, vocabulary: Vocabulary) -> Parsed:
    """The question's text, words and the filters it states."""
    text = question
    max_price = min_price = None
    match = BETWEEN.search(text)
    if match:
        low, high = _amount(match.group(1)), _amount(match.group(2))
        min_price, max_price = min(low, high), max(low, high)
        text = text.replace(match.group(0), " ")
    match = UNDER.search(text)
    if match:
        max_price = _amount(match.group(1) or match.group(2))
        text = text.replace(match.group(0), " ")
    match = OVER.search(text)
    if match and not re.match(r"\bfrom\s+\d+\s*(?:cm|ml|mm)", match.group(0)):
        min_price = _amount(match.group(1))
        text = text.replace(match.group(0), " ")
    # "is the mug in stock?" asks about the mug; "any mugs in stock?" asks for the ones in stock
    in_stock = bool(IN_STOCK.search(text)) and not ASKING.match(question)
    on_sale = bool(ON_SALE.search(text))
    sizes = []
    for found in SIZE_PHRASE.finditer(text):
        value = next(g for g in found.groups() if g)
        sizes.append(normalise_size(value))
    before_noun = [normalise_size(found.group(1)) for found in SIZE_BEFORE.finditer(text)]
    tokens = join_compounds(words(text), vocabulary.terms)
    colours = colour_phrases(tokens, vocabulary)
    used = {w for c in colours for w in c.split()}
    materials = [t for t in tokens if t in vocabulary.materials and t not in used]
    if not colours and not materials:
        # "large candles" asks for the large ones; in "small enamel milk pan blue" with a colour
        # too, "small" describes the pan (a small blue vase would fit both): it only orders
        sizes += before_noun
    filters = Filters(
        colours=tuple(dict.fromkeys(colours)),
        sizes=tuple(dict.fromkeys(sizes)),
        materials=tuple(dict.fromkeys(materials)),
        max_price=max_price,
        min_price=min_price,
        in_stock=in_stock,
        on_sale=on_sale,
    )
    return Parsed(" ".join(text.split()), tokens, filters)


def colour_phrases(tokens: list[str], vocabulary: Vocabulary) -> list[str]:
    """The colours a question names: the catalogue's own names first ("forest green", not
    "forest" and "green"), then single colour words."""
    found: list[str] = []
    used: set[int] = set()
    for phrase in sorted(vocabulary.colour_phrases, key=len, reverse=True):
        size = len(phrase)
        if size < 2:
            continue
        for start in range(len(tokens) - size + 1):
            span = set(range(start, start + size))
            if tuple(tokens[start : start + size]) == phrase and not span & used:
                found.append(" ".join(phrase))
                used |= span
    for position, token in enumerate(tokens):
        if position not in used and (token in vocabulary.colours or token in COMMON_COLOURS):
            found.append(token)
    return list(dict.fromkeys(found))


def colour_matches(asked: str, colour_words: set[str]) -> bool:
    """True when every word of an asked colour is in a variant's colour ("green": "Sage Green")."""
    return all(word in colour_words for word in asked.split())


def normalise_size(value: str) -> str:
    """A size as compared: lowercase, no spaces ("180 CM" -> "180cm", "Medium" -> "medium")."""
    return re.sub(r"\s+", "", value.lower())


def size_matches(asked: str, size: str) -> bool:
    """True when a variant's size is the one asked for ("m" matches "S/M" and "Medium")."""
    have = normalise_size(size)
    if not have:
        return False
    if asked == have:
        return True
    if any(c.isdigit() for c in asked):  # "180cm" is the measure of "Round 180 cm"
        return re.search(rf"(?<![\d.]){re.escape(asked)}$", have) is not None
    parts = set(re.split(r"[/,]", have))
    if asked in parts:
        return True
    letters = {"s": "small", "m": "medium", "l": "large"}
    # "medium" is the M of "S/M"
    return letters.get(asked) == have or any(asked == letters.get(part) for part in parts)
