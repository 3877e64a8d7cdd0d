"""The demo store's pages from the synced catalogue: the shop (/), product pages at the paths the
feed's links give (/products/<handle>), and a drawn picture for each product (/images/...).

The web app reads the published catalogue version (no embedding model is loaded here) and follows
a newer one when a sync publishes it. Without a catalogue the shop says how to make one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from bot.catalog.offer import offers
from bot.catalog.product import Product
from bot.catalog.query import Filters
from bot.catalog.search import kinds_of, matching_variants
from bot.catalog.store import CatalogNotFound, CatalogVersion

PAGE_SIZE = 48
PALETTE = ["#b5835a", "#7d9d9c", "#c9a227", "#5b6d4f", "#8c5e58", "#46627f", "#a3a380"]


def local_path(url: str) -> str:
    """A feed link as a path on this site ('/products/oak-board?variant=1')."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "") if parts.path else "/"


def handle_of(product: Product) -> str:
    """The product's handle: the last part of its link's path."""
    return urlsplit(product.link).path.rstrip("/").rsplit("/", 1)[-1] or product.id


@dataclass
class _Shelf:
    version: CatalogVersion
    products: list[Product]
    by_handle: dict[str, Product]
    kinds: list[str]


class Shop:
    """The catalogue as the store's pages show it; reloaded when a newer version is published."""

    def __init__(self, catalog_dir: Path) -> None:
        self.catalog_dir = catalog_dir
        self._shelf: _Shelf | None = None
        self._lock = threading.Lock()

    def shelf(self) -> _Shelf | None:
        """The current catalogue, or None before the first sync."""
        with self._lock:
            if self._shelf is None or self._shelf.version.is_stale():
                try:
                    version = CatalogVersion(self.catalog_dir)
                except CatalogNotFound:
                    return None
                products = version.all_products()
                kinds = sorted({kind_of(p) for p in products if kind_of(p)})
                self._shelf = _Shelf(version, products, {handle_of(p): p for p in products}, kinds)
            return self._shelf


def kind_of(product: Product) -> str:
    """The product's kind: the last part of its product_type ('Boards')."""
    return product.product_type.split(">")[-1].strip()


def filter_words(filters: Filters) -> str:
    """The filters in words, for the page ("$20 or less · green · in stock")."""
    parts = [
        f"${filters.max_price} or less" if filters.max_price is not None else "",
        f"${filters.min_price} or more" if filters.min_price is not None else "",
        *filters.colours,
        *(f"size {s}" for s in filters.sizes),
        *filters.materials,
        "in stock" if filters.in_stock else "",
        "on sale" if filters.on_sale else "",
    ]
    return " · ".join(p for p in parts if p)


def build_router(shop: Shop, templates: Jinja2Templates, theme_color: str) -> APIRouter:
    """The store's routes (theme_color: the store's accent, the widget's colour too)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def store_page(
        request: Request,
        kind: str = Query("", max_length=100),
        page: int = Query(1, ge=1, le=10_000),
        colour: str = Query("", max_length=100),
        size: str = Query("", max_length=100),
        material: str = Query("", max_length=100),
        under: Annotated[Decimal | None, Query(ge=0, le=1_000_000)] = None,
        over: Annotated[Decimal | None, Query(ge=0, le=1_000_000)] = None,
        in_stock: bool = False,
        on_sale: bool = False,
    ) -> HTMLResponse:
        """The demo store's page, with the chat widget embedded as any site would embed it; a
        kind and the filters of a question ("see more" from the chat) narrow it."""
        shelf = shop.shelf()
        products = shelf.products if shelf else []
        now = dt.datetime.now(dt.UTC)
        if kind:
            products = [p for p in products if kind in kinds_of(p.product_type)]
        filters = Filters.from_query(colour, size, material, under, over, in_stock, on_sale)
        if not filters.empty:
            products = [p for p in products if matching_variants(p, filters, now)]
        start = (page - 1) * PAGE_SIZE
        cards = [card(p, now) for p in products[start : start + PAGE_SIZE]]
        query = {"kind": kind, **filters.to_query()} if kind else filters.to_query()
        return templates.TemplateResponse(
            request,
            "store.html",
            {
                "cards": cards,
                "kinds": shelf.kinds if shelf else [],
                "kind": kind,
                "filtered": filter_words(filters),
                "query": urlencode(query),
                "page": page,
                "pages": max(1, -(-len(products) // PAGE_SIZE)),
                "total": len(products),
                "synced": shelf is not None,
                "theme_color": theme_color,
            },
        )

    @router.get("/products/{handle}", response_class=HTMLResponse)
    def product_page(request: Request, handle: str, variant: str = "") -> HTMLResponse:
        """One product with all its variants, their prices and stock, details and care."""
        shelf = shop.shelf()
        product = shelf.by_handle.get(handle) if shelf else None
        if product is None:
            raise HTTPException(404, f"No product {handle!r} in the catalogue.")
        now = dt.datetime.now(dt.UTC)
        rows = offers(product.variants, None, now)
        return templates.TemplateResponse(
            request,
            "product.html",
            {
                "product": product,
                "card": card(product, now),
                "offers": rows,
                "selected": variant,
                "details": product.first.details,
                "highlights": product.first.highlights,
                "theme_color": theme_color,
            },
        )

    @router.get("/images/{name}.svg")
    def picture(name: str) -> Response:
        """A drawn picture for a demo product: its colour and name (the demo has no photos)."""
        shelf = shop.shelf()
        product = shelf.by_handle.get(name) if shelf else None
        if product is None:
            raise HTTPException(404, f"No picture {name!r}.")
        colour = PALETTE[int(hashlib.sha256(kind_of(product).encode()).hexdigest(), 16) % 7]
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="220" '
            f'viewBox="0 0 320 220" role="img" aria-label="{escape(product.title)}">'
            f'<rect width="320" height="220" fill="{colour}"/>'
            '<text x="160" y="118" font-family="Georgia, serif" font-size="18" fill="#fff" '
            f'text-anchor="middle">{escape(product.title[:30])}</text></svg>'
        )
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})

    return router


def card(product: Product, now: dt.datetime) -> dict:
    """What the shop's grid shows of a product."""
    low, high = product.price_range(now)
    regular = min(v.price.amount for v in product.variants)
    states = {v.availability for v in product.variants}
    return {
        "title": product.title,
        "href": local_path(product.link).split("?")[0],
        "image": local_path(product.first.image_link) if product.first.image_link else "",
        "price": str(low) if low == high else f"{low} – {high}",
        "on_sale": any(v.on_sale(now) for v in product.variants) and low.amount < regular,
        "stock": "In stock"
        if "in_stock" in states
        else "Pre-order"
        if "preorder" in states
        else "Back-order"
        if "backorder" in states
        else "Out of stock",
        "brand": product.brand,
    }
