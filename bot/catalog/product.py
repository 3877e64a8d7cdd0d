"""One feed item (a variant) and one product (the variants sharing an item_group_id)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal

AVAILABILITIES = ("in_stock", "out_of_stock", "preorder", "backorder")
# what customers can buy now, or order to be sent later
BUYABLE = ("in_stock", "preorder", "backorder")


@dataclass(frozen=True)
class Money:
    """An amount in one currency, as the feed writes it ("12.50 USD")."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(self.currency)
        text = f"{self.amount:.2f}"
        return f"{symbol}{text}" if symbol else f"{text} {self.currency}"

    def to_dict(self) -> dict:
        """JSON form: the amount as a string, so no cent is lost."""
        return {"amount": f"{self.amount:.2f}", "currency": self.currency}

    @classmethod
    def from_dict(cls, data: dict | None) -> Money | None:
        """Read the JSON form."""
        return cls(Decimal(data["amount"]), data["currency"]) if data else None


@dataclass(frozen=True)
class Detail:
    """One product_detail: a named attribute, optionally under a section."""

    name: str
    value: str
    section: str = ""


@dataclass(frozen=True)
class Item:
    """One row of the feed: a variant a shopper can buy, with its own id, price and stock."""

    id: str
    title: str
    price: Money
    availability: str
    link: str = ""
    description: str = ""
    image_link: str = ""
    sale_price: Money | None = None
    sale_start: dt.datetime | None = None
    sale_end: dt.datetime | None = None
    availability_date: dt.datetime | None = None
    item_group_id: str = ""
    color: str = ""
    size: str = ""
    material: str = ""
    pattern: str = ""
    gender: str = ""
    age_group: str = ""
    brand: str = ""
    gtin: str = ""
    mpn: str = ""
    product_type: str = ""
    details: tuple[Detail, ...] = ()
    highlights: tuple[str, ...] = ()
    shipping_weight: str = ""
    line: int = 0  # where the item starts in the feed, for reports

    def current_price(self, now: dt.datetime | None = None) -> Money:
        """The price a shopper pays now: the sale price inside its effective dates."""
        return self.sale_price if self.on_sale(now) and self.sale_price else self.price

    def on_sale(self, now: dt.datetime | None = None) -> bool:
        """True when a sale price applies at this moment."""
        if self.sale_price is None or self.sale_price.amount >= self.price.amount:
            return False
        now = now or dt.datetime.now(dt.UTC)
        if self.sale_start is not None and now < self.sale_start:
            return False
        return not (self.sale_end is not None and now >= self.sale_end)

    @property
    def buyable(self) -> bool:
        """True when it can be ordered now (in stock, preorder or backorder)."""
        return self.availability in BUYABLE

    def to_dict(self) -> dict:
        """JSON form (what a catalogue version stores): every field, in field order."""
        data = dict(self.__dict__)  # a sync turns every variant of the feed to JSON: kept quick
        for name in ("price", "sale_price"):
            if data[name] is not None:
                data[name] = data[name].to_dict()
        for name in ("sale_start", "sale_end", "availability_date"):
            if data[name] is not None:
                data[name] = data[name].isoformat()
        data["details"] = [
            {"name": d.name, "value": d.value, "section": d.section} for d in self.details
        ]
        data["highlights"] = list(self.highlights)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Item:
        """Read the JSON form."""
        values = dict(data)
        for name in ("price", "sale_price"):
            values[name] = Money.from_dict(values.get(name))
        for name in ("sale_start", "sale_end", "availability_date"):
            raw = values.get(name)
            values[name] = dt.datetime.fromisoformat(raw) if raw else None
        values["details"] = tuple(Detail(**d) for d in values.get("details", ()))
        values["highlights"] = tuple(values.get("highlights", ()))
        return cls(**values)


@dataclass(frozen=True)
class Product:
    """The variants of one product (same item_group_id, or a single item), as one result."""

    id: str
    variants: tuple[Item, ...] = field(default_factory=tuple)

    @property
    def first(self) -> Item:
        """The variant whose shared fields stand for the product."""
        return self.variants[0]

    @property
    def title(self) -> str:
        """The product's name: the words its variants' titles share, else the first title."""
        titles = [v.title for v in self.variants]
        if len(titles) == 1:
            return titles[0]
        return common_title(titles) or titles[0]

    @property
    def brand(self) -> str:
        """The brand of the first variant."""
        return self.first.brand

    @property
    def product_type(self) -> str:
        """The store's category path ("Home > Kitchen > Boards")."""
        return self.first.product_type

    @property
    def description(self) -> str:
        """The longest description among the variants (they usually share one)."""
        return max((v.description for v in self.variants), key=len, default="")

    @property
    def link(self) -> str:
        """The product page: the first variant's link."""
        return self.first.link

    def values(self, attribute: str) -> list[str]:
        """The distinct values of one attribute (color, size, material...) in variant order."""
        seen: dict[str, None] = {}
        for variant in self.variants:
            value = getattr(variant, attribute)
            if value:
                seen.setdefault(value, None)
        return list(seen)

    def material_of(self, variant: Item) -> str:
        """A variant's material: its own, else the one material its product's other variants
        state (a feed often gives it on one variant of a group only: "Linen Table Runner -
        Charcoal" is linen too); "" when they state none or several."""
        if variant.material:
            return variant.material
        stated = {v.material.casefold(): v.material for v in self.variants if v.material}
        return next(iter(stated.values())) if len(stated) == 1 else ""

    def variant_attributes(self) -> list[list[str]]:
        """[colour, size, material] of each variant, in order: what the search checks a
        question's attributes against without opening the product. The colour is its title
        when no variant of the product has one ("Natural Beeswax Pillar Candle"), the
        material as `material_of` says."""
        coloured = any(v.color for v in self.variants)
        return [
            [v.color if coloured else v.title, v.size, self.material_of(v)] for v in self.variants
        ]

    def price_range(self, now: dt.datetime | None = None) -> tuple[Money, Money]:
        """The lowest and highest price a shopper pays now across variants."""
        prices = sorted((v.current_price(now) for v in self.variants), key=lambda m: m.amount)
        return prices[0], prices[-1]

    def in_stock(self) -> bool:
        """True when any variant is in stock."""
        return any(v.availability == "in_stock" for v in self.variants)

    def content_hash(self) -> str:
        """A hash of every field of every variant: a product whose hash changed is synced again."""
        payload = json.dumps([v.to_dict() | {"line": 0} for v in self.variants], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def stored_form(self) -> tuple[str, str]:
        """The product's stored JSON (to_dict) and its content_hash, the variants' fields
        turned to JSON once for both."""
        variants = [v.to_dict() for v in self.variants]
        stored = json.dumps({"id": self.id, "variants": variants}, separators=(",", ":"))
        payload = json.dumps([v | {"line": 0} for v in variants], sort_keys=True)
        return stored, hashlib.sha256(payload.encode()).hexdigest()[:20]

    def embedding_text(self) -> str:
        """What the embedding model reads for this product: name, kind, brand and attributes."""
        parts = [self.title]
        kind = self.product_type.split(">")[-1].strip() if self.product_type else ""
        if kind:
            parts.append(kind)
        if self.brand:
            parts.append(f"by {self.brand}")
        for attribute in ("color", "material", "pattern", "size"):
            values = self.values(attribute)
            if values:
                parts.append(", ".join(values))
        parts.extend(self.first.highlights[:3])
        parts.append(first_sentence(self.description))
        return ". ".join(p for p in parts if p)

    def embedding_hash(self) -> str:
        """A hash of the embedding text: only a product whose hash changed is embedded again."""
        return hashlib.sha256(self.embedding_text().encode()).hexdigest()[:20]

    def to_dict(self) -> dict:
        """JSON form."""
        return {"id": self.id, "variants": [v.to_dict() for v in self.variants]}

    @classmethod
    def from_dict(cls, data: dict) -> Product:
        """Read the JSON form."""
        return cls(data["id"], tuple(Item.from_dict(v) for v in data["variants"]))


def first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of a description, at most `limit` characters."""
    text = " ".join(text.split())
    end = text.find(". ")
    sentence = text if end < 0 else text[: end + 1]
    return sentence[:limit]


def common_title(titles: list[str]) -> str:
    """The title words every variant title shares, in the first title's order.

    Feeds name variants "Linen Table Runner - Sage / 180 cm"; the product is "Linen Table Runner".
    """
    head = titles[0].split(" - ")[0].strip()
    if all(t.split(" - ")[0].strip() == head for t in titles):
        return head
    words = [set(t.lower().replace(",", " ").split()) for t in titles[1:]]
    kept = [w for w in titles[0].split() if all(w.lower().strip(",") in s for s in words)]
    return " ".join(kept).strip(" -,/")


def group(items: list[Item]) -> list[Product]:
    """Variants grouped into products by item_group_id, in feed order."""
    products: dict[str, list[Item]] = {}
    for item in items:
        products.setdefault(item.item_group_id or item.id, []).append(item)
    return [Product(key, tuple(variants)) for key, variants in products.items()]
