"""Which FAISS index a version gets: exact (flat) search, or HNSW graph search for large ones.

Below `ann_threshold` vectors a flat inner-product scan is exact and fast enough; above it, an
HNSW graph answers in well under a millisecond at a small cost in recall (benchmarks/README.md
has the measurements behind the default threshold and parameters).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

IndexType = Literal["auto", "flat", "hnsw"]
HNSW_M = 32  # graph degree
HNSW_EF_CONSTRUCTION = 100  # candidates while building
HNSW_EF_SEARCH = 128  # candidates while searching: recall@10 against exact search stays ≥ 0.95


def choose_type(requested: IndexType, vectors: int, threshold: int) -> str:
    """The index type a build of this many vectors gets."""
    if requested != "auto":
        return requested
    return "hnsw" if vectors >= threshold else "flat"


def build(kind: str, vectors: np.ndarray, ids: np.ndarray, dimension: int):
    """A FAISS index over normalised vectors (inner product = cosine), addressed by chunk id."""
    import faiss

    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "flat":
        inner = faiss.IndexFlatIP(dimension)
    else:
        raise ValueError(f"unknown index type {kind!r} (flat or hnsw)")
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
    return index


def prepare_for_search(index, manifest: dict) -> None:
    """Search-time parameters the manifest records (FAISS files do not keep all of them)."""
    if manifest.get("index_type") == "hnsw":
        import faiss

        faiss.ParameterSpace().set_index_parameter(
            index, "efSearch", int(manifest.get("hnsw", {}).get("ef_search", HNSW_EF_SEARCH))
        )
