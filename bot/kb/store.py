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
    """Create an empty chunk store for a new version."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    return conn


class IndexReader:
    """A read-only view of one published version: FAISS vectors plus the chunk store."""

    def __init__(self, index_dir: Path, expected_model: str | None = None) -> None:
        import faiss

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
        self.faiss = faiss.read_index(str(folder / FAISS_FILE))
        # the router is part of the version: it is published, and reloaded, with the vectors
        try:
            self.router = Router.load(folder)
        except RouterUnreadable as exc:
            raise IndexModelMismatch(str(exc)) from exc
        ann.prepare_for_search(self.faiss, manifest)
        uri = f"file:{(folder / CHUNKS_DB).resolve()}?mode=ro&immutable=1"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)

    @property
    def size(self) -> int:
        """Number of chunk vectors in this version."""
        return int(self.faiss.ntotal)

    def is_stale(self) -> bool:
        """True when a newer version has been published since this one was opened."""
        latest = current_version(self.index_dir)
        return latest is not None and latest != self.version

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest chunks by inner product: (scores, ids), each shaped (queries, k)."""
        import numpy as np

        k = max(1, min(k, self.size))
        return self.faiss.search(np.ascontiguousarray(vectors, dtype=np.float32), k)

    def chunks(self, ids: list[int]) -> dict[int, ChunkRow]:
        """Chunk rows for the given ids."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
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

    def article_chunks(self, article_id: str) -> list[ChunkRow]:
        """All chunks of one article in reading order."""
        ids = [
            r[0]
            for r in self._db.execute(
                "SELECT id FROM chunks WHERE article_id = ? ORDER BY ordinal", (article_id,)
            )
        ]
        found = self.chunks(ids)
        return [found[i] for i in ids]

    def articles(self) -> list[dict]:
        """Every indexed article with its metadata."""
        cursor = self._db.execute(
            "SELECT id, title, url, path, category, tags, updated, words, chunks "
            "FROM articles ORDER BY path"
        )
        names = [d[0] for d in cursor.description]
        out = [dict(zip(names, row, strict=True)) for row in cursor]
        for item in out:
            item["tags"] = json.loads(item["tags"])
        return out

    def texts(self) -> list[str]:
        """Every title, heading and chunk text of this version (what search can match)."""
        rows = self._db.execute(
            "SELECT title FROM articles UNION ALL SELECT section FROM chunks "
            "UNION ALL SELECT text FROM chunks"
        )
        return [r[0] for r in rows]

    def token_counts(self) -> list[int]:
        """Tokens of every chunk, for statistics."""
        return [r[0] for r in self._db.execute("SELECT tokens FROM chunks WHERE kind = 'section'")]

    def close(self) -> None:
        """Release the chunk store."""
        self._db.close()
