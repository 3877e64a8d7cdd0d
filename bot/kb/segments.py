"""A live save's version: the last full build's files hard-linked, plus a delta of its own.

A full build writes every chunk row and vector of the KB into a version (its base segment). A
save published by the live indexer (bot.kb.live) does not: the new version's folder gets hard
links to the base's files (FAISS index, chunk store, vectors: no copy) and a delta segment
with the rows and vectors of the articles saved since the base, and the manifest's
`segments` names the base, the delta's articles and the base's articles it masks (changed or
removed since). IndexReader merges the two. A save then writes what changed since the base,
not the KB; once the delta holds more than DELTA_MAX_SHARE of the articles (at least
DELTA_MIN_ARTICLES), the next save writes a full version again, as `bot kb build` always does.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.kb import ann
from bot.kb.store import (
    CHUNKS_DB,
    DELTA_DB,
    DELTA_IDS,
    DELTA_VECTORS,
    FAISS_FILE,
    IDS,
    VECTORS,
    base_id,
    version_dir,
    write_chunk_store,
)

if TYPE_CHECKING:
    import numpy as np

DELTA_MIN_ARTICLES = 64
DELTA_MAX_SHARE = 0.05
BASE_FILES = (FAISS_FILE, CHUNKS_DB, IDS, VECTORS)


@dataclass(frozen=True)
class Delta:
    """What a save's version holds besides its base (the manifest's `segments`)."""

    base: str
    masked: frozenset[str]  # base articles that no longer serve from the base
    articles: frozenset[str]  # articles served from the delta
    kept: frozenset[str]  # of those, the ones carried over from the previous delta

    def record(self) -> dict:
        """The manifest's `segments`."""
        return {"base": self.base, "masked": sorted(self.masked), "delta": sorted(self.articles)}


def full_record(version: str) -> dict:
    """The `segments` of a full build: its own base, nothing masked, no delta."""
    return {"base": version, "masked": [], "delta": []}


def plan_delta(
    previous: dict | None,
    changed: set[str],
    removed: set[str],
    articles: int,
    index_type: str,
) -> Delta | None:
    """The delta a save's version gets on the previous version's base, or None when it should
    be written in full (no base, another index type, or a delta grown past its share)."""
    if previous is None or previous.get("index_type", "flat") != index_type:
        return None
    segments = previous.get("segments") or {}
    before = set(segments.get("delta", []))
    masked = set(segments.get("masked", []))
    in_base = masked | (set(previous["articles"]) - before)
    kept = before - removed - changed
    delta = kept | changed
    if len(delta) > max(DELTA_MIN_ARTICLES, int(DELTA_MAX_SHARE * articles)):
        return None
    return Delta(
        base_id(previous),
        frozenset(masked | ((changed | removed) & in_base)),
        frozenset(delta),
        frozenset(kept),
    )


def link_base(previous_folder: Path, staging: Path) -> None:
    """The base's files in the new version: hard links (no copy; they are never written)."""
    for name in BASE_FILES:
        os.link(previous_folder / name, staging / name)


def stage_delta(
    index_dir: Path,
    previous: dict,
    delta: Delta,
    staging: Path,
    new_ids: np.ndarray,
    new_vectors: np.ndarray,
) -> sqlite3.Connection:
    """Start the delta in staging: the base linked, the previous delta's kept articles' rows
    and vectors carried over, the new ids and vectors appended (the caller inserts the new
    rows into the returned chunk store and closes it)."""
    import numpy as np

    folder = version_dir(index_dir, previous["version"])
    link_base(folder, staging)
    db = write_chunk_store(staging / DELTA_DB)
    ids = [np.asarray(new_ids, dtype=np.int64)]
    vectors = [np.asarray(new_vectors, dtype=np.float32)]
    if delta.kept:
        db.execute("ATTACH DATABASE ? AS old", (str(folder / DELTA_DB),))
        marks = ",".join("?" * len(delta.kept))
        kept = sorted(delta.kept)
        db.execute(f"INSERT INTO articles SELECT * FROM old.articles WHERE id IN ({marks})", kept)
        db.execute(
            f"INSERT INTO chunks SELECT * FROM old.chunks WHERE article_id IN ({marks})", kept
        )
        db.commit()
        db.execute("DETACH DATABASE old")
        old_ids = np.load(folder / DELTA_IDS)
        rows = np.flatnonzero(np.isin(old_ids, [r[0] for r in db.execute("SELECT id FROM chunks")]))
        ids.insert(0, old_ids[rows])
        vectors.insert(0, np.load(folder / DELTA_VECTORS)[rows])
    all_ids = np.concatenate(ids)
    dimension = int(previous["dimension"])
    all_vectors = np.vstack([v.reshape(-1, dimension) for v in vectors])
    _check_ids(folder, delta, all_ids)
    np.save(staging / DELTA_IDS, all_ids)
    np.save(staging / DELTA_VECTORS, all_vectors)
    return db


def _check_ids(folder: Path, delta: Delta, ids: np.ndarray) -> None:
    """No chunk id twice among those served (as a full build checks)."""
    import numpy as np

    if len(set(ids.tolist())) != len(ids):
        raise RuntimeError("chunk id collision; rebuild from scratch with `rm -r index/versions`")
    base = sqlite3.connect(f"file:{(folder / CHUNKS_DB).resolve()}?mode=ro", uri=True)
    try:
        marks = ",".join("?" * len(delta.masked))
        masked = {
            r[0]
            for r in base.execute(
                f"SELECT id FROM chunks WHERE article_id IN ({marks})", sorted(delta.masked)
            )
        }
    finally:
        base.close()
    clash = set(np.asarray(ids)[np.isin(ids, np.load(folder / IDS))].tolist()) - masked
    if clash:
        raise RuntimeError("chunk id collision; rebuild from scratch with `rm -r index/versions`")


def delta_sections(
    index_dir: Path, previous: dict, delta: Delta, changed: set[str], removed: set[str]
) -> int:
    """Section chunks served by the new version: the previous count, less the changed and
    removed articles' sections as they were, plus the delta's new ones (counted by the
    caller in its chunk store: pass them as `changed`'s rows already inserted)."""
    folder = version_dir(index_dir, previous["version"])
    before = set((previous.get("segments") or {}).get("delta", []))
    gone = (changed | removed) & set(previous["articles"])
    count = int(previous["counts"]["chunks"])
    for name, ids in ((DELTA_DB, gone & before), (CHUNKS_DB, gone - before)):
        if not ids:
            continue
        db = sqlite3.connect(f"file:{(folder / name).resolve()}?mode=ro", uri=True)
        try:
            marks = ",".join("?" * len(ids))
            count -= db.execute(
                f"SELECT count(*) FROM chunks WHERE kind = 'section' AND article_id IN ({marks})",
                sorted(ids),
            ).fetchone()[0]
        finally:
            db.close()
    return count


def manifest_hnsw(index_type: str) -> dict:
    """The manifest's `hnsw` record for an index of this type."""
    if index_type != "hnsw":
        return {}
    return {
        "hnsw": {
            "m": ann.HNSW_M,
            "ef_construction": ann.HNSW_EF_CONSTRUCTION,
            "ef_search": ann.HNSW_EF_SEARCH,
        }
    }


def dumps(manifest: dict) -> str:
    """The manifest as written: compact (at 10,000 articles an indented one is several MB)."""
    return json.dumps(manifest, separators=(",", ":")) + "\n"
