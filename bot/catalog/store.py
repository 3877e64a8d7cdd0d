"""The catalogue folder: immutable versions, the CURRENT pointer, and the last sync's status.

The layout and the publish are the knowledge base's (bot.kb.store): a sync writes a new version
aside (products.db, vectors.npy, manifest.json) and switches CURRENT in one rename, so a reader
keeps answering from the old version until the new one is complete. status.json, beside the
versions, says how the last sync went (and why it failed), for `bot catalog status` and insights.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from bot.catalog.product import Product
from bot.catalog.text import words
from bot.kb.store import current_version, read_manifest, version_dir

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 1
PRODUCTS_DB = "products.db"
VECTORS = "vectors.npy"
STATUS = "status.json"

SCHEMA = """
CREATE TABLE products (
    ordinal INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, hash TEXT NOT NULL,
    embed_hash TEXT NOT NULL, title TEXT NOT NULL, brand TEXT NOT NULL, type TEXT NOT NULL,
    colors TEXT NOT NULL, sizes TEXT NOT NULL, materials TEXT NOT NULL, codes TEXT NOT NULL,
    min_price REAL NOT NULL, in_stock INTEGER NOT NULL, data TEXT NOT NULL
);
"""


class CatalogNotFound(RuntimeError):
    """No catalogue has been synced into this folder yet."""


def write_products(path: Path, products: list[Product], hashes: list[tuple[str, str]]) -> None:
    """Write a version's product table: searchable columns beside each product's full JSON."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        rows = []
        for ordinal, (product, (content, embed)) in enumerate(zip(products, hashes, strict=True)):
            codes = sorted(
                {c for v in product.variants for c in (v.id, v.gtin, v.mpn) if c} | {product.id}
            )
            rows.append(
                (
                    ordinal,
                    product.id,
                    content,
                    embed,
                    product.title,
                    product.brand,
                    product.product_type,
                    json.dumps(product.values("color")),
                    json.dumps(product.values("size")),
                    json.dumps(product.values("material")),
                    json.dumps(codes),
                    # the lowest price any variant can have (a sale's dates are checked later)
                    float(min(lowest_price(v) for v in product.variants)),
                    int(product.in_stock()),
                    json.dumps(product.to_dict(), separators=(",", ":")),
                )
            )
        conn.executemany(f"INSERT INTO products VALUES ({','.join('?' * 14)})", rows)
        conn.commit()
    finally:
        conn.close()


def lowest_price(item) -> float:
    """The lowest price an item can have, its sale price whatever the dates."""
    return float(min(item.price.amount, (item.sale_price or item.price).amount))


class CatalogVersion:
    """A read-only view of one published catalogue version."""

    def __init__(self, catalog_dir: Path) -> None:
        import numpy as np

        version = current_version(catalog_dir)
        manifest = read_manifest(catalog_dir, version) if version else None
        if version is None or manifest is None:
            raise CatalogNotFound(
                f"no catalogue in {catalog_dir}/: set catalog_feed and run `bot catalog sync`"
            )
        self.catalog_dir = catalog_dir
        self.version = version
        self.manifest = manifest
        folder = version_dir(catalog_dir, version)
        self.vectors: np.ndarray = np.load(folder / VECTORS)
        uri = f"file:{(folder / PRODUCTS_DB).resolve()}?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def rows(self) -> list[tuple]:
        """(ordinal, id, title, brand, type, colors, sizes, materials, codes, min_price, in_stock)
        of every product, in ordinal order."""
        return self._db.execute(
            "SELECT ordinal, id, title, brand, type, colors, sizes, materials, codes, min_price, "
            "in_stock FROM products ORDER BY ordinal"
        ).fetchall()

    def hashes(self) -> dict[str, tuple[str, str, int]]:
        """id -> (content hash, embedding hash, ordinal) of every product."""
        return {
            r[0]: (r[1], r[2], r[3])
            for r in self._db.execute("SELECT id, hash, embed_hash, ordinal FROM products")
        }

    def products(self, ordinals: list[int]) -> dict[int, Product]:
        """Full products by ordinal."""
        if not ordinals:
            return {}
        marks = ",".join("?" * len(ordinals))
        return {
            r[0]: Product.from_dict(json.loads(r[1]))
            for r in self._db.execute(
                f"SELECT ordinal, data FROM products WHERE ordinal IN ({marks})",
                [int(o) for o in ordinals],
            )
        }

    def all_products(self) -> list[Product]:
        """Every product in feed order (for the store page and reports)."""
        return [
            Product.from_dict(json.loads(r[0]))
            for r in self._db.execute("SELECT data FROM products ORDER BY ordinal")
        ]

    def is_stale(self) -> bool:
        """True when a newer version has been published since this one was opened."""
        latest = current_version(self.catalog_dir)
        return latest is not None and latest != self.version

    def close(self) -> None:
        """Release the product table."""
        self._db.close()


def search_words(row: tuple) -> dict[str, list[str]]:
    """The words of a product row by field, for the lexical index."""
    return {
        "title": words(row[2]),
        "brand": words(row[3]),
        "type": words(row[4].replace(">", " ")),
        "attributes": words(" ".join(json.loads(row[5]) + json.loads(row[6]) + json.loads(row[7]))),
    }


def write_status(catalog_dir: Path, status: dict) -> None:
    """Record how the last sync went (replaced atomically)."""
    catalog_dir.mkdir(parents=True, exist_ok=True)
    status = {"checked_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")} | status
    temporary = catalog_dir / f".{STATUS}.tmp"
    temporary.write_text(json.dumps(status, indent=2, default=str))
    os.replace(temporary, catalog_dir / STATUS)


def read_status(catalog_dir: Path) -> dict | None:
    """The last sync's status, or None before the first sync."""
    try:
        return json.loads((catalog_dir / STATUS).read_text())
    except (FileNotFoundError, ValueError):
        return None
