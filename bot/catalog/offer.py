"""What a shopper is told about one variant: its price and stock, live from the store when it
tracks them (StoreBackend.product_availability), from the feed otherwise."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from bot.catalog.product import Item, Money
from bot.store.base import Availability, StoreBackend, StoreUnavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Offer:
    """One variant as a product card shows it."""

    item_id: str
    title: str
    link: str
    image: str
    color: str
    size: str
    availability: str
    price: Money  # what the shopper pays now
    regular_price: Money  # the price before a sale (equal to price when none)
    availability_date: dt.date | None
    source: str  # "store" (live) or "feed"

    @property
    def on_sale(self) -> bool:
        """True when the shopper pays less than the regular price."""
        return self.price.amount < self.regular_price.amount

    def to_dict(self) -> dict:
        """JSON form (what the widget's product card reads)."""
        return {
            "id": self.item_id,
            "title": self.title,
            "link": self.link,
            "image": self.image,
            "color": self.color,
            "size": self.size,
            "availability": self.availability,
            "price": str(self.price),
            "regular_price": str(self.regular_price),
            "on_sale": self.on_sale,
            "availability_date": self.availability_date.isoformat()
            if self.availability_date
            else None,
            "source": self.source,
        }


def offers(
    variants: list[Item] | tuple[Item, ...],
    store: StoreBackend | None = None,
    now: dt.datetime | None = None,
) -> list[Offer]:
    """The variants as offers; the store's live word wins where it has one."""
    live: dict[str, Availability] = {}
    if store is not None and variants:
        try:
            live = store.product_availability([v.id for v in variants])
        except StoreUnavailable as exc:
            logger.warning(f"live availability unavailable, the feed answers: {exc}")
    return [_offer(v, live.get(v.id), now) for v in variants]


def _offer(item: Item, live: Availability | None, now: dt.datetime | None) -> Offer:
    price, regular = item.current_price(now), item.price
    availability = item.availability
    restock = item.availability_date.date() if item.availability_date else None
    if live is not None:
        availability = live.availability
        currency = live.currency or item.price.currency
        if live.price is not None:
            regular = Money(live.price, currency)
            price = Money(live.sale_price, currency) if live.sale_price is not None else regular
        restock = live.availability_date if availability != "in_stock" else None
    return Offer(
        item_id=item.id,
        title=item.title,
        link=item.link,
        image=item.image_link,
        color=item.color,
        size=item.size,
        availability=availability,
        price=price,
        regular_price=regular,
        availability_date=restock if availability != "in_stock" else None,
        source="store" if live is not None else "feed",
    )
