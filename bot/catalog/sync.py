"""One catalogue sync: fetch the feed, read it, embed only what changed, publish a new version.

A feed that cannot be fetched or read, or that holds no valid item, publishes nothing: the last
good version keeps serving, and the reason goes to the log and to status.json (where `bot catalog
status` and the insights page read it). A broken item is skipped and listed with its line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.catalog.feed import FeedError, ItemProblem, parse_feed
from bot.catalog.fetch import FetchFailed, fetch
from bot.catalog.product import group
from bot.catalog.store import (
    ANN_INDEX,
    CENTROIDS,
    FORMAT_VERSION,
    PRODUCTS_DB,
    VECTORS,
    CatalogNotFound,
    CatalogVersion,
    ann_centroids,
    build_ann,
    write_products,
    write_status,
)
from bot.kb.store import MANIFEST, build_lock, publish, staging_dir

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)
MAX_PROBLEMS_KEPT = 50


class TextEncoder(Protocol):
    """What embeds product texts (bot.kb.embedder.Embedder)."""

    name: str
    dimension: int

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray: ...


class SyncFailed(RuntimeError):
    """Nothing was published; the last good catalogue keeps serving. The message says why."""


@dataclass(frozen=True)
class SyncOptions:
    """Where the feed comes from and where the catalogue goes."""

    source: str
    catalog_dir: Path
    model: str
    batch_size: int = 32
    max_bytes: int = 200_000_000
    timeout: float = 30.0
    keep_versions: int = 3
    threads: int | None = None  # torch threads for embedding (default: all cores but one)


@dataclass
class SyncReport:
    """What one sync changed."""

    source: str
    version: str | None
    products: int
    variants: int
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    embedded: int = 0
    problems: list[ItemProblem] = field(default_factory=list)
    seconds: float = 0.0
    published: bool = False
    restocked: list[str] = field(default_factory=list)  # variant ids back in stock

    def to_dict(self) -> dict:
        """JSON form."""
        data = asdict(self)
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


def sync(
    options: SyncOptions,
    encoder: TextEncoder | Callable[[], TextEncoder] | None = None,
) -> SyncReport:
    """Sync the catalogue from its feed; raises SyncFailed (and records why) when it cannot."""
    started = time.perf_counter()
    options.catalog_dir.mkdir(parents=True, exist_ok=True)
    with build_lock(options.catalog_dir):
        try:
            data = fetch(options.source, options.max_bytes, options.timeout)
            parsed = parse_feed(data)
            if not parsed.items:
                first = f"; first problem: {parsed.problems[0]}" if parsed.problems else ""
                broken = len(parsed.problems)
                raise FeedError(f"the feed has no valid item ({broken} broken){first}")
        except (FetchFailed, FeedError) as exc:
            reason = str(exc) if str(exc).startswith(options.source) else f"{options.source}: {exc}"
            logger.error(f"catalogue sync failed, the last good catalogue keeps serving: {reason}")
            write_status(
                options.catalog_dir,
                {"ok": False, "reason": reason, "source": options.source}
                | _serving(options.catalog_dir),
            )
            raise SyncFailed(reason) from exc
        report = _publish(options, data, parsed.items, encoder)
        report.problems = parsed.problems
        report.seconds = round(time.perf_counter() - started, 3)
    for problem in parsed.problems[:MAX_PROBLEMS_KEPT]:
        logger.warning(f"catalogue feed {options.source}: skipped {problem}")
    write_status(
        options.catalog_dir,
        {
            "ok": True,
            "reason": None,
            "source": options.source,
            "version": report.version,
            "products": report.products,
            "variants": report.variants,
            "added": len(report.added),
            "changed": len(report.changed),
            "removed": len(report.removed),
            "skipped": len(report.problems),
            "problems": [str(p) for p in report.problems[:MAX_PROBLEMS_KEPT]],
        },
    )
    return report


def _serving(catalog_dir: Path) -> dict:
    try:
        current = CatalogVersion(catalog_dir)
    except CatalogNotFound:
        return {"version": None}
    try:
        return {"version": current.version, "products": current.manifest.get("products")}
    finally:
        current.close()


def _publish(options: SyncOptions, data: bytes, items: list, encoder) -> SyncReport:
    import numpy as np

    products = group(items)
    digest = hashlib.sha256(data).hexdigest()
    previous_hashes: dict[str, tuple[str, str, int]] = {}
    previous_vectors = None
    previous_stock: dict[str, str] = {}
    previous_centroids = None
    try:
        previous = CatalogVersion(options.catalog_dir)
    except CatalogNotFound:
        previous = None
    model_name = _model_name(options.model)
    if previous is not None:
        try:
            if previous.manifest.get("model") == model_name:
                previous_hashes = previous.hashes()
                previous_vectors = np.asarray(previous.vectors)
            previous_stock = previous.stock()
            previous_centroids = previous.centroids()
        finally:
            previous.close()
    report = SyncReport(options.source, None, len(products), len(items))
    forms = [p.stored_form() for p in products]  # each variant's fields turned to JSON once
    stored = [form[0] for form in forms]
    hashes = [(form[1], p.embedding_hash()) for p, form in zip(products, forms, strict=True)]
    current_ids = {p.id for p in products}
    for product, (content, _) in zip(products, hashes, strict=True):
        before = previous_hashes.get(product.id)
        if before is None:
            report.added.append(product.id)
        elif before[0] != content:
            report.changed.append(product.id)
        else:
            report.unchanged += 1
    report.removed = sorted(set(previous_hashes) - current_ids)
    report.restocked = [
        v.id
        for p in products
        for v in p.variants
        if v.availability == "in_stock" and previous_stock.get(v.id, "in_stock") != "in_stock"
    ]
    unchanged = not (report.added or report.changed or report.removed)
    if previous is not None and previous_hashes and unchanged:
        report.version = previous.version  # same products, same model: the version stays
        return report
    # embed what is new or whose words changed; reuse every other vector
    reuse = {
        i: previous_hashes[p.id][2]
        for i, p in enumerate(products)
        if p.id in previous_hashes and previous_hashes[p.id][1] == hashes[i][1]
    }
    todo = [i for i in range(len(products)) if i not in reuse]
    fresh = None
    dimension = previous_vectors.shape[1] if previous_vectors is not None else None
    if todo:
        model = _encoder(encoder, options.model, options.threads)
        fresh = model.encode([products[i].embedding_text() for i in todo], options.batch_size)
        dimension = model.dimension
    vectors = np.zeros((len(products), dimension or 1), dtype=np.float32)
    if reuse:
        vectors[list(reuse)] = previous_vectors[list(reuse.values())]
    if todo:
        vectors[todo] = fresh
    report.embedded = len(todo)
    version = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    staging = staging_dir(options.catalog_dir, version)
    write_products(staging / PRODUCTS_DB, products, hashes, stored)
    np.save(staging / VECTORS, vectors)
    ann = build_ann(vectors, previous_centroids if previous_vectors is not None else None)
    if ann is not None:
        import faiss

        faiss.write_index(ann, str(staging / ANN_INDEX))
        np.save(staging / CENTROIDS, ann_centroids(ann))
    manifest = {
        "format": FORMAT_VERSION,
        "version": version,
        "model": model_name,
        "dimension": int(vectors.shape[1]),
        "products": len(products),
        "variants": len(items),
        "ann": None if ann is None else {"type": "ivf", "cells": int(ann.nlist)},
        "source": options.source,
        "feed_sha256": digest,
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
    publish(options.catalog_dir, staging, version, keep=options.keep_versions)
    report.version = version
    report.published = True
    return report


def _model_name(name: str) -> str:
    from bot.kb.embedder import canonical_model_name

    return canonical_model_name(name)


def embedding_threads() -> int:
    """Threads a sync embeds with: all cores but one, so the live bot keeps a core (on a shared
    2-core machine one thread also embeds more texts per CPU second than two that wait on
    each other)."""
    return max(1, (os.cpu_count() or 1) - 1)


def _encoder(encoder, model: str, threads: int | None = None) -> TextEncoder:
    if encoder is None:
        from bot.kb.embedder import Embedder

        return Embedder(model, threads=threads or embedding_threads())
    return encoder() if callable(encoder) and not hasattr(encoder, "encode") else encoder
