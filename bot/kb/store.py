"""The index folder on disk: immutable versions, an atomic CURRENT pointer, and a reader."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.kb import ann
from bot.kb.router import Router, RouterUnreadable

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 2
CURRENT = "CURRENT"
VERSIONS = "versions"
MANIFEST = "manifest.json"
VECTORS = "vectors.npy"
IDS = "ids.npy"
FAISS_FILE = "faiss.index"
PARSE_CACHE = "parse-cache.pickle"  # in the index folder, beside versions/
CHUNKS_DB = "chunks.db"
# the delta segment of a version published by a live save (IndexReader)
DELTA_DB = "delta.db"
DELTA_IDS = "delta-ids.npy"
DELTA_VECTORS = "delta-vectors.npy"

SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, url TEXT NOT NULL, path TEXT NOT NULL,
    category TEXT NOT NULL, tags TEXT NOT NULL, updated TEXT, hash TEXT NOT NULL,
    words INTEGER NOT NULL, chunks INTEGER NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,
    section TEXT NOT NULL, anchor TEXT NOT NULL, heading_path TEXT NOT NULL, text TEXT NOT NULL,
    tokens INTEGER NOT NULL, kind TEXT NOT NULL
);
CREATE INDEX chunks_by_article ON chunks(article_id, ordinal);
"""


class KBIndexError(RuntimeError):
    """Base class for problems with the index folder."""


class IndexNotFound(KBIndexError):
    """No index has been built in this folder yet."""


class IndexModelMismatch(KBIndexError):
    """The index was built with another embedding model than the one configured."""


@dataclass(frozen=True)
class ChunkRow:
    """What the chunk store holds about one chunk."""

    id: int
    article_id: str
    title: str
    url: str
    section: str
    anchor: str
    heading_path: tuple[str, ...]
    text: str
    # or "title": the title or one of the writer's questions; or "heading": a section's heading
    # in its article, which helps choose the section but does not rank the article
    kind: str = "section"


def current_version(index_dir: Path) -> str | None:
    """The name of the version readers should use, or None before the first build."""
    try:
        return (index_dir / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def version_dir(index_dir: Path, version: str) -> Path:
    """The folder holding one version's files."""
    return index_dir / VERSIONS / version


def read_manifest(index_dir: Path, version: str | None = None) -> dict | None:
    """The manifest of a version (the current one by default), or None if there is none."""
    version = version or current_version(index_dir)
    if version is None:
        return None
    try:
        return json.loads((version_dir(index_dir, version) / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Only one build at a time writes into an index folder."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(index_dir: Path, staging: Path, version: str, keep: int = 3) -> Path:
    """Move a fully written staging folder into place and point CURRENT at it in one step."""
    final = version_dir(index_dir, version)
    for file in staging.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    os.replace(staging, final)
    _fsync_dir(final.parent)
    pointer = index_dir / f".{CURRENT}.tmp"
    with open(pointer, "w") as handle:
        handle.write(version + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer, index_dir / CURRENT)
    _fsync_dir(index_dir)
    _collect_garbage(index_dir, keep, version)
    return final


def staging_dir(index_dir: Path, version: str) -> Path:
    """A fresh folder beside the published versions for a build to write into."""
    path = index_dir / VERSIONS / f".{version}.tmp"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _collect_garbage(index_dir: Path, keep: int, current: str) -> None:
    """Delete all but the newest `keep` versions, and staging folders left by crashed builds."""
    root = index_dir / VERSIONS
    for leftover in root.glob(".*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    versions = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in versions[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def write_chunk_store(path: Path) -> sqlite3.Connection:
    """Create an empty chunk store for a new version.

    Without a journal or syncs of its own: it is written in a staging folder that nothing
    reads, which `publish` syncs file by file before it is put in place (and a crash leaves
    only a staging folder, deleted by the next build). Each commit's syncs took 30-50 ms of a
    live save on a busy machine."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.executescript(SCHEMA)
    return conn


class _Base:
    """The base segment of a version: its FAISS index and chunk store (hard-linked into every
    version built on it), loaded once and shared by the readers of all those versions."""

    def __init__(self, folder: Path, manifest: dict) -> None:
        import faiss

        self.id = base_id(manifest)
        self.faiss = faiss.read_index(str(folder / FAISS_FILE))
        ann.prepare_for_search(self.faiss, manifest)
        uri = f"file:{(folder / CHUNKS_DB).resolve()}?mode=ro&immutable=1"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._articles: list[dict] | None = None

    def articles(self) -> list[dict]:
        """Every article row of the base (read once: a version's reload reads only its delta)."""
        if self._articles is None:
            self._articles = _article_rows(self.db)
        return self._articles


class _Delta:
    """The articles saved since the base (bot.kb.live): their rows, vectors and a small exact
    index; `masked`: the base's chunk ids that no longer serve (changed or removed articles)."""

    def __init__(self, folder: Path, manifest: dict, base: _Base) -> None:
        import numpy as np

        segment = manifest.get("segments") or {}
        self.masked_articles = frozenset(segment.get("masked", []))
        self.articles: frozenset[str] = frozenset()
        self.db = None
        self.ids = np.zeros(0, dtype=np.int64)
        if segment.get("delta"):
            uri = f"file:{(folder / DELTA_DB).resolve()}?mode=ro&immutable=1"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.articles = frozenset(r[0] for r in self.db.execute("SELECT id FROM articles"))
            self.ids = np.load(folder / DELTA_IDS)
            vectors = np.load(folder / DELTA_VECTORS)
        else:
            vectors = np.zeros((0, int(manifest["dimension"])), dtype=np.float32)
        self.faiss = ann.build("flat", vectors, self.ids, int(manifest["dimension"]))
        self.vectors = dict(zip(self.ids.tolist(), vectors, strict=True))
        masked: list[int] = []
        if self.masked_articles:
            marks = ",".join("?" * len(self.masked_articles))
            masked = [
                r[0]
                for r in base.db.execute(
                    f"SELECT id FROM chunks WHERE article_id IN ({marks})",
                    sorted(self.masked_articles),
                )
            ]
        self.masked = frozenset(masked)


class IndexReader:
    """A read-only view of one published version: FAISS vectors plus the chunk store.

    A version is a base segment (a full build) and, for the saves a live indexer published
    since, a delta segment: searches merge the two, the base's rows of changed or removed
    articles masked. `previous`: the reader this one replaces; a version on the same base
    shares its loaded base, so a reload reads only the (small) delta.
    """

    def __init__(
        self,
        index_dir: Path,
        expected_model: str | None = None,
        previous: IndexReader | None = None,
    ) -> None:
        self.index_dir = index_dir
        version = current_version(index_dir)
        if version is None:
            raise IndexNotFound(f"no index in {index_dir}/: build it with `bot kb build`")
        manifest = read_manifest(index_dir, version)
        if manifest is None:
            raise IndexNotFound(
                f"index version {version} in {index_dir}/ has no manifest: "
                "rebuild it with `bot kb build`"
            )
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexModelMismatch(
                f"index in {index_dir}/ has format {manifest.get('format')}, this bot reads "
                f"format {FORMAT_VERSION}: rebuild it with `bot kb build`"
            )
        if expected_model is not None and manifest["model"] != expected_model:
            raise IndexModelMismatch(
                f"index in {index_dir}/ was built with model {manifest['model']!r} "
                f"({manifest['dimension']} dimensions) but the settings say {expected_model!r}: "
                "rebuild it with `bot kb build`"
            )
        self.version = version
        self.manifest = manifest
        folder = version_dir(index_dir, version)
        shared = previous is not None and previous._base.id == base_id(manifest)
        self._base = previous._base if shared else _Base(folder, manifest)
        self._delta = _Delta(folder, manifest, self._base)
        # the router is part of the version: it is published, and reloaded, with the vectors
        # routers already loaded (a save's version hard-links its base's router file)
        self._routers: dict = previous._routers if previous is not None else {}
        try:
            self.router = Router.load(folder, self._routers)
        except RouterUnreadable as exc:
            raise IndexModelMismatch(str(exc)) from exc

    @property
    def faiss(self):
        """The base segment's FAISS index (a version without saves since its build: all)."""
        return self._base.faiss

    @property
    def size(self) -> int:
        """Number of chunk vectors in this version."""
        delta = self._delta
        return int(self._base.faiss.ntotal) - len(delta.masked) + int(delta.faiss.ntotal)

    def is_stale(self) -> bool:
        """True when a newer version has been published since this one was opened."""
        latest = current_version(self.index_dir)
        return latest is not None and latest != self.version

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest chunks by inner product: (scores, ids), each shaped (queries, k)."""
        import numpy as np

        k = max(1, min(k, self.size))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        delta = self._delta
        if not delta.masked and not delta.faiss.ntotal:
            return self._base.faiss.search(vectors, k)
        wanted = min(k + len(delta.masked), int(self._base.faiss.ntotal))
        scores = np.full((len(vectors), k), -np.inf, dtype=np.float32)
        ids = np.full((len(vectors), k), -1, dtype=np.int64)
        parts = [self._base.faiss.search(vectors, wanted)] if wanted else []
        if delta.faiss.ntotal:
            parts.append(delta.faiss.search(vectors, min(k, int(delta.faiss.ntotal))))
        for row in range(len(vectors)):
            found = [
                (float(s), int(i))
                for n, (part_scores, part_ids) in enumerate(parts)
                for s, i in zip(part_scores[row], part_ids[row], strict=True)
                if i >= 0 and (n > 0 or int(i) not in delta.masked)
            ]
            found.sort(key=lambda item: -item[0])
            for col, (score, chunk) in enumerate(found[:k]):
                scores[row, col], ids[row, col] = score, chunk
        return scores, ids

    def vector(self, chunk_id: int) -> np.ndarray:
        """The stored vector of one chunk."""
        found = self._delta.vectors.get(int(chunk_id))
        return found if found is not None else self._base.faiss.reconstruct(int(chunk_id))

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]:
        """Chunk rows for the given ids."""
        delta = self._delta
        found: dict[int, ChunkRow] = {}
        if delta.db is not None:
            found = _chunk_rows(delta.db, [i for i in ids if int(i) in delta.vectors])
        rest = [i for i in ids if int(i) not in found and int(i) not in delta.masked]
        return {**_chunk_rows(self._base.db, rest), **found}

    def article_chunks(self, article_id: str) -> list[ChunkRow]:
        """All chunks of one article in reading order."""
        db = self._segment_of(article_id)
        if db is None:
            return []
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM chunks WHERE article_id = ? ORDER BY ordinal", (article_id,)
            )
        ]
        found = _chunk_rows(db, ids)
        return [found[i] for i in ids]

    def _segment_of(self, article_id: str) -> sqlite3.Connection | None:
        """The chunk store that serves an article (None: removed since the base)."""
        if article_id in self._delta.articles:
            return self._delta.db
        return None if article_id in self._delta.masked_articles else self._base.db

    def articles(self) -> list[dict]:
        """Every indexed article with its metadata."""
        delta = self._delta
        rows = [a for a in self._base.articles() if a["id"] not in delta.masked_articles]
        if delta.db is not None:
            rows += _article_rows(delta.db)
            rows.sort(key=lambda a: a["path"])
        return [{**a, "tags": list(a["tags"])} for a in rows]

    def texts(self) -> list[str]:
        """Every title, heading and chunk text of this version (what search can match)."""
        return self._per_article(
            "SELECT id, title FROM articles UNION ALL SELECT article_id, section FROM chunks "
            "UNION ALL SELECT article_id, text FROM chunks"
        )

    def token_counts(self) -> list[int]:
        """Tokens of every chunk, for statistics."""
        return self._per_article("SELECT article_id, tokens FROM chunks WHERE kind = 'section'")

    def _per_article(self, query: str) -> list:
        """A query's second column over both segments, the masked articles' rows left out."""
        masked = self._delta.masked_articles
        out = [r[1] for r in self._base.db.execute(query) if r[0] not in masked]
        if self._delta.db is not None:
            out += [r[1] for r in self._delta.db.execute(query)]
        return out

    def close(self) -> None:
        """Release the delta's chunk store (the base is shared with the next version's
        reader, and released with the last of them)."""
        if self._delta.db is not None:
            self._delta.db.close()


def base_id(manifest: dict) -> str:
    """The version whose full build a version's base segment is (itself, when it has none)."""
    return (manifest.get("segments") or {}).get("base") or manifest["version"]


def _chunk_rows(db: sqlite3.Connection, ids: list[int]) -> dict[int, ChunkRow]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        "SELECT c.id, c.article_id, a.title, a.url, c.section, c.anchor, c.heading_path, "
        "c.text, c.kind "
        f"FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
        [int(i) for i in ids],
    ).fetchall()
    return {
        row[0]: ChunkRow(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            tuple(json.loads(row[6])),
            row[7],
            row[8],
        )
        for row in rows
    }


def _article_rows(db: sqlite3.Connection) -> list[dict]:
    cursor = db.execute(
        "SELECT id, title, url, path, category, tags, updated, words, chunks "
        "FROM articles ORDER BY path"
    )
    names = [d[0] for d in cursor.description]
    out = [dict(zip(names, row, strict=True)) for row in cursor]
    for item in out:
        item["tags"] = json.loads(item["tags"])
    return out
