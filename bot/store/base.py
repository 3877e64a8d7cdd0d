"""The one interface for accounts and orders, whichever store sits behind it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, Protocol

STATUSES = (
    "processing",
    "shipped",
    "out_for_delivery",
    "delivered",
    "delayed",
    "cancelled",
    "returned",
)
ORDER_NUMBER_PATTERN = re.compile(r"(?<![\w-])(\d{3}-\d{4})(?![\w-])")
# How customers type it: 123-4567, 123 4567, 1234567, #123-4567, 123–4567 (a dash from a phone).
LOOSE_ORDER_NUMBER = re.compile(r"(?<![\w@.-])#?(\d{3})\s?[-\u2010-\u2015\s]?\s?(\d{4})(?![\w@-])")
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

ResetOutcome = Literal["sent", "rate_limited"]
AVAILABILITIES = ("in_stock", "out_of_stock", "preorder", "backorder")
MAX_AVAILABILITY_IDS = 50


class StoreUnavailable(RuntimeError):
    """The store could not be reached or answered badly; the customer gets a human instead."""


@dataclass(frozen=True)
class Order:
    """What a customer may learn about their order once they proved it is theirs."""

    number: str
    status: str
    carrier: str | None
    tracking_url: str | None
    estimated_delivery: dt.date | None
    placed_on: dt.date
    items: int

    def to_dict(self) -> dict:
        """JSON form with ISO dates."""
        data = asdict(self)
        data["estimated_delivery"] = (
            self.estimated_delivery.isoformat() if self.estimated_delivery else None
        )
        data["placed_on"] = self.placed_on.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Order:
        """Read the JSON form (as the store's HTTP API sends it)."""
        eta = data.get("estimated_delivery")
        return cls(
            number=data["number"],
            status=data["status"],
            carrier=data.get("carrier"),
            tracking_url=data.get("tracking_url"),
            estimated_delivery=dt.date.fromisoformat(eta) if eta else None,
            placed_on=dt.date.fromisoformat(data["placed_on"]),
            items=int(data.get("items", 1)),
        )


@dataclass(frozen=True)
class Availability:
    """What the store says of one product variant right now (its id is the feed's item id).

    Anything it leaves out (None) comes from the feed instead.
    """

    item_id: str
    availability: str
    price: Decimal | None = None
    sale_price: Decimal | None = None
    currency: str | None = None
    quantity: int | None = None
    availability_date: dt.date | None = None

    def to_dict(self) -> dict:
        """JSON form: amounts as strings, the date in ISO."""
        return {
            "id": self.item_id,
            "availability": self.availability,
            "price": f"{self.price:.2f}" if self.price is not None else None,
            "sale_price": f"{self.sale_price:.2f}" if self.sale_price is not None else None,
            "currency": self.currency,
            "quantity": self.quantity,
            "availability_date": self.availability_date.isoformat()
            if self.availability_date
            else None,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Availability:
        """Read the JSON form (as the store's HTTP API sends it); ValueError when it is wrong."""
        if data.get("availability") not in AVAILABILITIES:
            raise ValueError(f"unknown availability {data.get('availability')!r}")
        try:
            price = Decimal(data["price"]) if data.get("price") is not None else None
            sale = Decimal(data["sale_price"]) if data.get("sale_price") is not None else None
        except InvalidOperation as exc:
            raise ValueError("a price that is not an amount") from exc
        date = data.get("availability_date")
        quantity = data.get("quantity")
        return cls(
            item_id=str(data["id"]),
            availability=data["availability"],
            price=price,
            sale_price=sale,
            currency=data.get("currency"),
            quantity=int(quantity) if quantity is not None else None,
            availability_date=dt.date.fromisoformat(date[:10]) if date else None,
        )


class StoreBackend(Protocol):
    """Accounts and orders. Answers never reveal whether an account or order exists."""

    def request_password_reset(self, email: str) -> ResetOutcome:
        """Send a reset link if an account has this email; 'sent' either way unless rate-limited."""
        ...

    def find_order(self, order_number: str, email: str) -> Order | None:
        """The order, only if the number exists and the email matches it; else None."""
        ...

    def product_availability(self, item_ids: list[str]) -> dict[str, Availability]:
        """Live stock and price of these variants (feed item ids); ids the store does not track
        are left out, and the feed answers for them."""
        ...


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively, without surrounding spaces."""
    return email.strip().lower()


def extract_email(text: str) -> str | None:
    """The first email address in a message, if any."""
    match = EMAIL_PATTERN.search(text or "")
    return match.group(0) if match else None


def extract_order_number(text: str) -> str | None:
    """An order number in a message, written as the store does (123-4567), if any.

    The usual ways of typing it are accepted (123 4567, 1234567, #123-4567); a number with a
    digit too many or too few is not an order number.
    """
    match = ORDER_NUMBER_PATTERN.search(text or "")
    if match:
        return match.group(1)
    loose = LOOSE_ORDER_NUMBER.search(text or "")
    return f"{loose.group(1)}-{loose.group(2)}" if loose else None


def order_numbers_in(text: str) -> list[str]:
    """Every order number in a message, in the order written, each once ("282-8129 and
    814-7821"), each read as `extract_order_number` reads one."""
    text = text or ""
    spans = [(m.start(), m.group(1)) for m in ORDER_NUMBER_PATTERN.finditer(text)]
    spans += [(m.start(), f"{m.group(1)}-{m.group(2)}") for m in LOOSE_ORDER_NUMBER.finditer(text)]
    return list(dict.fromkeys(number for _, number in sorted(spans)))


def valid_email(value: str) -> bool:
    """True for a plausible single email address."""
    return bool(EMAIL_PATTERN.fullmatch(value.strip())) if value else False


def valid_order_number(value: str) -> bool:
    """True for the store's order number format, 123-4567."""
    return bool(re.fullmatch(r"\d{3}-\d{4}", value.strip())) if value else False
