"""The catalogue folder: immutable versions, the CURRENT pointer, and the last sync's status.

The layout and the publish are the knowledge base's (bot.kb.store): a sync writes a new version
aside (products.db, vectors.npy, manifest.json) and switches CURRENT in one rename, so a reader
keeps answering from the old version until the new one is complete. status.json, beside the
versions, says how the last sync went (and why it failed), for `bot catalog status` and insights.
"""

from __future__ import annotations

import datetime as dt
import json
import math
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
ANN_INDEX = "vectors.faiss"  # an IVF index over the vectors, for catalogues of ANN_MIN_PRODUCTS+
CENTROIDS = "centroids.npy"  # its trained cells, reused by the next sync of the same model
STATUS = "status.json"
# below this many products a search scores every product's vector (a few ms); from it on, an
# IVF index finds the closest ones (a full scan of 100,000 vectors is 150 MB read per question)
ANN_MIN_PRODUCTS = 20_000
ANN_PROBE = 24  # cells searched per question (of about √products cells: 316 at 100,000)
ANN_TRAIN_SAMPLE = 64  # training vectors per cell (k-means on a sample, 10 rounds)

SCHEMA = """
CREATE TABLE products (
    ordinal INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, hash TEXT NOT NULL,
    embed_hash TEXT NOT NULL, title TEXT NOT NULL, brand TEXT NOT NULL, type TEXT NOT NULL,
    colors TEXT NOT NULL, sizes TEXT NOT NULL, materials TEXT NOT NULL, codes TEXT NOT NULL,
    min_price REAL NOT NULL, in_stock INTEGER NOT NULL, data TEXT NOT NULL, stock TEXT,
    variants TEXT
);
"""


class CatalogNotFound(RuntimeError):
    """No catalogue has been synced into this folder yet."""


def write_products(
    path: Path, products: list[Product], hashes: list[tuple[str, str]], data: list[str]
) -> None:
    """Write a version's product table in one transaction: searchable columns beside each
    product's full JSON (`data`, as `Product.stored_form` made it)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a staging file: nothing reads it before publish
        conn.execute("PRAGMA synchronous=OFF")
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
                    data[ordinal],
                    # variant id -> availability, for the next sync's back-in-stock check
                    json.dumps({v.id: v.availability for v in product.variants}),
                    # [colour, size, material] a variant, for filtering without decoding `data`
                    json.dumps(product.variant_attributes(), separators=(",", ":")),
                )
            )
        conn.executemany(f"INSERT INTO products VALUES ({','.join('?' * 16)})", rows)
        conn.commit()
    finally:
        conn.close()


def build_ann(vectors: np.ndarray, centroids: np.ndarray | None = None):
    """An IVF index over the vectors (ids = ordinals), or None below ANN_MIN_PRODUCTS.

    `centroids`: the previous version's cells (same model), reused instead of training again,
    so a small change does not pay for k-means; trained afresh when the catalogue has grown or
    shrunk past twice or half of what they were trained for."""
    import faiss
    import numpy as np

    size, dimension = vectors.shape
    if size < ANN_MIN_PRODUCTS:
        return None
    cells = min(max(16, int(math.sqrt(size))), max(1, size // 2))
    if centroids is not None and centroids.shape[1] == dimension:
        if cells / 2 <= len(centroids) <= cells * 2:
            cells = len(centroids)
        else:
            centroids = None
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, cells, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10
    if centroids is None:
        rng = np.random.default_rng(0)
        sample = rng.choice(size, min(size, cells * ANN_TRAIN_SAMPLE), replace=False)
        index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    else:
        quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
        index.is_trained = True
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    index.nprobe = ANN_PROBE
    return index


def ann_centroids(index) -> np.ndarray:
    """The cells an IVF index was trained to."""
    import faiss

    quantizer = faiss.downcast_index(index.quantizer)
    return quantizer.reconstruct_n(0, quantizer.ntotal)


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
        self.folder = folder
        # mapped, not read: the processes that search share one copy in the page cache
        self.vectors: np.ndarray = np.load(folder / VECTORS, mmap_mode="r")
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

    def ann(self):
        """The version's IVF index (None for a catalogue below ANN_MIN_PRODUCTS; built here
        for a version a sync wrote without one)."""
        import faiss

        if len(self.vectors) < ANN_MIN_PRODUCTS:
            return None
        path = self.folder / ANN_INDEX
        if path.is_file():
            index = faiss.read_index(str(path))
            index.nprobe = ANN_PROBE
            return index
        return build_ann(self.vectors)

    def centroids(self) -> np.ndarray | None:
        """The cells of the version's IVF index, when it has one."""
        import numpy as np

        path = self.folder / CENTROIDS
        return np.load(path) if path.is_file() else None

    def stock(self) -> dict[str, str]:
        """variant id -> availability, of every variant."""
        out: dict[str, str] = {}
        try:
            for (stock,) in self._db.execute("SELECT stock FROM products"):
                out.update(json.loads(stock))
        except sqlite3.OperationalError:  # a version written before the stock column
            for product in self.all_products():
                out.update({v.id: v.availability for v in product.variants})
        return out

    def variant_attributes(self) -> list[list[list[str]]] | None:
        """[colour, size, material] of each variant of each product, in ordinal order (None for
        a version written before the column)."""
        try:
            found = self._db.execute("SELECT variants FROM products ORDER BY ordinal").fetchall()
        except sqlite3.OperationalError:
            return None
        if any(v is None for (v,) in found):
            return None
        return [json.loads(v) for (v,) in found]

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
