"""Retrieval latency and recall at 1k-1M chunks: exact (flat) search against HNSW.

The vectors are synthetic (no KB has a million chunks here), made to look like sentence
embeddings rather than uniform noise: 384-dimensional, unit length, with a low intrinsic
dimension and topical clusters. Each point is a cluster centre in a 48-dimensional latent space
plus spread, projected to 384 dimensions by a fixed random matrix, plus a little isotropic noise.
Queries are fresh points from the same process (new questions near existing chunks).
Recall@10 is measured against exact search over the same vectors. Single queries, warm, as the
bot searches (one question at a time), FAISS with its default threads.

    .venv/bin/python benchmarks/retrieval_scale.py                  # 1k, 10k, 100k, 1M
    .venv/bin/python benchmarks/retrieval_scale.py --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from bot.kb import ann  # noqa: E402

DIM, LATENT = 384, 48


def synthetic(n: int, queries: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    projection = rng.standard_normal((LATENT, DIM)).astype(np.float32) / np.sqrt(LATENT)
    centres = rng.standard_normal((max(n // 40, 10), LATENT)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        out = np.empty((count, DIM), dtype=np.float32)
        for start in range(0, count, 100_000):
            m = min(100_000, count - start)
            latent = centres[rng.integers(0, len(centres), m)]
            latent = latent + 0.8 * rng.standard_normal((m, LATENT)).astype(np.float32)
            noise = 0.08 * rng.standard_normal((m, DIM))
            block = np.ascontiguousarray(latent @ projection + noise, dtype=np.float32)
            faiss.normalize_L2(block)
            out[start : start + m] = block
        return out

    return draw(n), draw(queries)


def timed(index, queries: np.ndarray, k: int = 10) -> tuple[list[float], np.ndarray]:
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append((time.perf_counter() - start) * 1000)
        found.append(ids[0])
    return times, np.array(found)


def stats(times: list[float]) -> dict:
    p = np.percentile(times, [50, 95, 99])
    return {"p50_ms": round(p[0], 3), "p95_ms": round(p[1], 3), "p99_ms": round(p[2], 3)}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--ef", default="64,128,256", help="HNSW efSearch values to report.")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/retrieval_scale.json"
    )
    args = parser.parse_args()
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        vectors, queries = synthetic(n, args.queries)
        ids = np.arange(n, dtype=np.int64)
        flat = ann.build("flat", vectors, ids, DIM)
        timed(flat, queries[:20])  # warm-up
        flat_times, truth = timed(flat, queries)
        start = time.perf_counter()
        hnsw = ann.build("hnsw", vectors, ids, DIM)
        build_s = time.perf_counter() - start
        row = {
            "chunks": n,
            "flat": stats(flat_times),
            "hnsw_build_s": round(build_s, 1),
            "hnsw": {},
        }
        for ef in [int(e) for e in args.ef.split(",")]:
            faiss.ParameterSpace().set_index_parameter(hnsw, "efSearch", ef)
            timed(hnsw, queries[:20])
            times, found = timed(hnsw, queries)
            row["hnsw"][f"ef{ef}"] = {
                **stats(times),
                "recall_at_10": round(recall(found, truth), 4),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
        del flat, hnsw, vectors
    result = {
        "rows": rows,
        "vectors": f"synthetic: {DIM}-d unit vectors, {LATENT}-d latent clusters (see docstring)",
        "hnsw": {"m": ann.HNSW_M, "ef_construction": ann.HNSW_EF_CONSTRUCTION},
        "queries": args.queries,
        "faiss_threads": faiss.omp_get_max_threads(),
    }
    save(result, "python benchmarks/retrieval_scale.py --sizes " + args.sizes, args.out)


if __name__ == "__main__":
    main()
