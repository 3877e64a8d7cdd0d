"""Reads a Google Merchant product feed: RSS 2.0 XML with the g: namespace, or tab-separated.

What a shopper's question needs is read from each item; everything else is ignored. The XML is
parsed by defusedxml's parser: a DTD, an entity declaration or an external reference ends the
parse (no "billion laughs", no local file read through an entity). A feed that is not a feed,
that is not well formed or not in its declared encoding raises FeedError naming the line; one
broken item (no id, a price that is not an amount, an unknown availability...) is reported as an
ItemProblem with its line and id and skipped, and the others are read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot.catalog.product import AVAILABILITIES, Detail, Item, Money

G_NAMESPACE = "http://base.google.com/ns/1.0"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
OUR_NAMESPACES = ("{" + G_NAMESPACE, "{" + ATOM_NAMESPACE)
MAX_FIELD_CHARS = 10_000  # Google's longest field (description) is 5,000 characters
MAX_ITEMS = 2_000_000
CHUNK_BYTES = 1 << 16
EXTRA = "\0extra"  # a TSV row with more cells than the header
REPEATED = ("product_highlight", "product_detail", "additional_image_link")
TEXT_FIELDS = (
    "link",
    "description",
    "image_link",
    "item_group_id",
    "color",
    "size",
    "material",
    "pattern",
    "gender",
    "age_group",
    "brand",
    "gtin",
    "mpn",
    "product_type",
    "shipping_weight",
)
PRICE = re.compile(
    r"^\s*(?:(?P<pre>[A-Za-z]{3})\s*)?(?P<amount>\d{1,9}(?:[.,]\d{1,2})?)\s*(?P<post>[A-Za-z]{3})?\s*$"
)


class FeedError(ValueError):
    """The whole feed cannot be read; the message names the place and the problem."""


@dataclass(frozen=True)
class ItemProblem:
    """One item that was skipped, and why."""

    line: int
    item_id: str
    message: str

    def __str__(self) -> str:
        who = f"item {self.item_id!r}" if self.item_id else "an item without an id"
        return f"line {self.line}: {who}: {self.message}"

    def to_dict(self) -> dict:
        """JSON form."""
        return {"line": self.line, "item_id": self.item_id, "message": self.message}


@dataclass
class ParsedFeed:
    """The items read from a feed, and the items skipped with their problems."""

    items: list[Item]
    problems: list[ItemProblem]
    format: str  # "xml" or "tsv"


class _Invalid(ValueError):
    """One field of one item is not valid."""


def parse_feed(data: bytes) -> ParsedFeed:
    """Read a feed's bytes, XML or tab-separated, whichever it is."""
    head = data[:512].lstrip(b"\xef\xbb\xbf\xfe\xff\x00 \t\r\n")
    if head.startswith(b"<"):
        return parse_xml(data)
    first_line = data.split(b"\n", 1)[0]
    if b"\t" in first_line:
        return parse_tsv(data)
    raise FeedError(
        "line 1: not a product feed: expected RSS 2.0 XML (<rss ...>) with the g: namespace "
        "or a tab-separated file whose first line names the columns (id, title, price, ...)"
    )


# --- XML ---------------------------------------------------------------------------------------


class _FeedTarget:
    """Collects items from the parser's events; knows the line each item starts on."""

    def __init__(self) -> None:
        self.parser = None  # set once the parser exists: its expat object gives the line
        self.path: list[str] = []
        self.root = ""
        self.records: list[tuple[int, dict[str, list]]] = []
        self._item: dict[str, list] | None = None
        self._detail: dict[str, str] | None = None
        self._text: list[str] = []

    def _line(self) -> int:
        return self.parser.parser.CurrentLineNumber if self.parser is not None else 0

    def start(self, tag: str, attrib: dict) -> None:
        name = _LOCAL.get(tag) or _local(tag)
        if not self.path:
            self.root = name
        self.path.append(name)
        self._text = []
        if name in ITEM_TAGS and self._item is None:
            self._item = {}
            self.records.append((self._line(), self._item))
            if len(self.records) > MAX_ITEMS:
                raise FeedError(f"line {self._line()}: more than {MAX_ITEMS:,} items")
        elif name == "product_detail" and self._item is not None:
            self._detail = {}

    def data(self, text: str) -> None:
        self._text.append(text)

    def end(self, tag: str) -> None:
        path = self.path
        name = path.pop()
        if self._item is None:
            self._text = []
            return
        texts = self._text
        text = (texts[0] if len(texts) == 1 else "".join(texts)).strip()
        self._text = []
        if name in ITEM_TAGS:
            self._item = None
        elif self._detail is not None:
            if name == "product_detail":
                self._item.setdefault("product_detail", []).append(self._detail)
                self._detail = None
            else:
                self._detail[name] = text
        elif path and path[-1] in ITEM_TAGS:
            if tag[0] == "{" and not tag.startswith(OUR_NAMESPACES):
                return  # another namespace's fields are not ours
            if len(text) > MAX_FIELD_CHARS:
                text = "\0too-long"
            self._item.setdefault(name, []).append(text)

    def close(self) -> None:
        return None


def _local(tag: str) -> str:
    name = tag.rsplit("}", 1)[-1]
    if len(_LOCAL) < 1000:  # a feed has a few dozen tags; a hostile one cannot grow this
        _LOCAL[tag] = name
    return name


_LOCAL: dict[str, str] = {}  # tag -> its local name (the parser's events repeat a few tags)
ITEM_TAGS = frozenset(["item", "entry"])


def parse_xml(data: bytes) -> ParsedFeed:
    """Read an RSS 2.0 (or Atom) Merchant feed with a parser that refuses DTDs and entities."""
    try:
        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import DefusedXMLParser
    except ImportError as exc:  # pragma: no cover - guarded import
        raise FeedError("defusedxml is not installed: run `make setup`") from exc
    target = _FeedTarget()
    parser = DefusedXMLParser(target=target, forbid_dtd=True)
    target.parser = parser
    try:
        for start in range(0, len(data), CHUNK_BYTES):
            parser.feed(data[start : start + CHUNK_BYTES])
        parser.close()
    except DefusedXmlException as exc:
        raise FeedError(
            f"line {target._line()}: refused: the feed declares a DTD or entities "
            f"({exc.__class__.__name__}); a product feed needs neither"
        ) from exc
    except SyntaxError as exc:  # ElementTree's ParseError, whichever module raised it
        line = getattr(exc, "position", (target._line(), 0))[0]
        message = str(exc).split(": line")[0]
        raise FeedError(f"line {line}: not well-formed XML ({message})") from exc
    if target.root not in ("rss", "feed"):
        raise FeedError(
            f"line 1: not a product feed: the document is <{target.root}>, expected <rss> "
            "(RSS 2.0 with the g: namespace) or <feed> (Atom)"
        )
    return _read_records(target.records, "xml")


# --- TSV ---------------------------------------------------------------------------------------


def parse_tsv(data: bytes) -> ParsedFeed:
    """Read the tab-separated variant: a header row of field names, one item per row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FeedError(
            f"line {line}: the file is not UTF-8 (byte {data[exc.start]:#04x} at offset "
            f"{exc.start}); export the feed as UTF-8"
        ) from exc
    rows = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        header = [_local(h.strip().lower().removeprefix("g:")) for h in next(rows)]
    except StopIteration as exc:
        raise FeedError("line 1: the file is empty") from exc
    if "id" not in header or "price" not in header:
        raise FeedError(
            "line 1: not a product feed: the header row needs at least the columns id and price "
            f"(found {', '.join(h for h in header[:8] if h) or 'none'})"
        )
    records: list[tuple[int, dict[str, list]]] = []
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        record: dict[str, list] = {}
        for name, cell in zip(header, row, strict=False):
            value = cell.strip()
            if not name or not value:
                continue
            if len(value) > MAX_FIELD_CHARS:
                value = "\0too-long"
            if name == "product_detail":
                record.setdefault(name, []).extend(_tsv_details(value))
            else:
                record.setdefault(name, []).append(value)
        if len(row) > len(header):
            record[EXTRA] = [str(len(row) - len(header))]
        records.append((number, record))
        if len(records) > MAX_ITEMS:
            raise FeedError(f"line {number}: more than {MAX_ITEMS:,} items")
    return _read_records(records, "tsv")


def _tsv_details(value: str) -> list[dict[str, str]]:
    """product_detail in a text feed: section:attribute:value, several separated by commas."""
    out = []
    for part in value.split(","):
        pieces = [p.strip() for p in part.split(":", 2)]
        if len(pieces) == 3:
            out.append(
                {
                    "section_name": pieces[0],
                    "attribute_name": pieces[1],
                    "attribute_value": pieces[2],
                }
            )
        elif len(pieces) == 2:
            out.append({"attribute_name": pieces[0], "attribute_value": pieces[1]})
    return out


# --- one item ----------------------------------------------------------------------------------


def _read_records(records: Iterable[tuple[int, dict[str, list]]], kind: str) -> ParsedFeed:
    items: list[Item] = []
    problems: list[ItemProblem] = []
    seen: set[str] = set()
    for line, record in records:
        item_id = _one(record, "id")
        try:
            item = _item(record, line)
        except _Invalid as exc:
            problems.append(ItemProblem(line, item_id, str(exc)))
            continue
        if item.id in seen:
            problems.append(ItemProblem(line, item.id, "the same id as an earlier item"))
            continue
        seen.add(item.id)
        items.append(item)
    return ParsedFeed(items, problems, kind)


def _one(record: dict[str, list], name: str) -> str:
    values = record.get(name) or [""]
    value = values[0]
    if isinstance(value, str) and value == "\0too-long":
        raise _Invalid(f"{name} is longer than {MAX_FIELD_CHARS:,} characters")
    return value if isinstance(value, str) else ""


def _item(record: dict[str, list], line: int) -> Item:
    if EXTRA in record:
        raise _Invalid(f"{record[EXTRA][0]} more cells than the header has columns")
    item_id = _one(record, "id")
    if not item_id:
        raise _Invalid("no id")
    title = _one(record, "title")
    if not title:
        raise _Invalid("no title")
    price = parse_price(_one(record, "price"), "price")
    sale_text = _one(record, "sale_price")
    sale = parse_price(sale_text, "sale_price") if sale_text else None
    if sale is not None and sale.currency != price.currency:
        raise _Invalid(f"sale_price is in {sale.currency} but price is in {price.currency}")
    start, end = parse_period(_one(record, "sale_price_effective_date"))
    availability = parse_availability(_one(record, "availability"))
    restock_text = _one(record, "availability_date")
    restock = parse_datetime(restock_text, "availability_date") if restock_text else None
    texts = {name: _one(record, name) for name in TEXT_FIELDS}
    details = tuple(
        Detail(
            name=d.get("attribute_name", "").strip(),
            value=d.get("attribute_value", "").strip(),
            section=d.get("section_name", "").strip(),
        )
        for d in record.get("product_detail", [])
        if isinstance(d, dict) and d.get("attribute_name") and d.get("attribute_value")
    )
    highlights = tuple(h for h in record.get("product_highlight", []) if isinstance(h, str) and h)
    return Item(
        id=item_id,
        title=title,
        price=price,
        availability=availability,
        sale_price=sale,
        sale_start=start,
        sale_end=end,
        availability_date=restock,
        details=details,
        highlights=highlights,
        line=line,
        **texts,
    )


def parse_price(text: str, name: str = "price") -> Money:
    """'12.50 USD' (or 'USD 12.50') as Money; anything else is a problem naming the field."""
    if not text:
        raise _Invalid(f"no {name}")
    match = PRICE.match(text)
    currency = match and (match.group("post") or match.group("pre"))
    if not match or not currency:
        raise _Invalid(f"{name} {text[:40]!r} is not an amount with a currency, e.g. '12.50 USD'")
    try:
        amount = Decimal(match.group("amount").replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only digits
        raise _Invalid(f"{name} {text[:40]!r} is not an amount") from exc
    return Money(amount, currency.upper())


def parse_availability(text: str) -> str:
    """in_stock, out_of_stock, preorder or backorder (the older spelling with spaces too)."""
    value = text.strip().lower().replace(" ", "_").replace("-", "_")
    if value == "available_for_order":
        value = "preorder"
    if value not in AVAILABILITIES:
        raise _Invalid(
            f"availability {text[:40]!r} is not one of {', '.join(AVAILABILITIES)}"
            if text
            else "no availability"
        )
    return value


def parse_datetime(text: str, name: str) -> dt.datetime:
    """An ISO 8601 date or date and time; without a zone it is read as UTC."""
    value = text.strip()
    if re.fullmatch(r".*[+-]\d{4}", value) and "T" in value:
        value = value[:-2] + ":" + value[-2:]  # +0100 as +01:00
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _Invalid(f"{name} {text[:40]!r} is not an ISO 8601 date") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_period(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """sale_price_effective_date: 'start/end' in ISO 8601; empty means always."""
    if not text:
        return None, None
    if "/" not in text:
        raise _Invalid(f"sale_price_effective_date {text[:60]!r} is not 'start/end'")
    first, last = text.split("/", 1)
    start = parse_datetime(first, "sale_price_effective_date") if first.strip() else None
    end = parse_datetime(last, "sale_price_effective_date") if last.strip() else None
    if start and end and end <= start:
        raise _Invalid("sale_price_effective_date ends before it starts")
    return start, end
