"""Incremental, atomic index builds: re-embed only added or changed articles, then swap."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import platform
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.kb import ann, segments
from bot.kb.chunker import CHUNKER_VERSION, Chunk, ChunkConfig, chunk_article
from bot.kb.embedder import Embedder, canonical_model_name
from bot.kb.lint import LintResult, lint_kb
from bot.kb.loader import Article, ParseCache
from bot.kb.problems import Problem
from bot.settings import Settings

if TYPE_CHECKING:
    import numpy as np

    from bot.kb.router import Phrasing, Router

from bot.kb.store import (
    CHUNKS_DB,
    DELTA_DB,
    DELTA_IDS,
    DELTA_VECTORS,
    FAISS_FILE,
    FORMAT_VERSION,
    IDS,
    MANIFEST,
    PARSE_CACHE,
    VECTORS,
    build_lock,
    current_version,
    publish,
    read_manifest,
    staging_dir,
    version_dir,
    write_chunk_store,
)

ProgressCallback = Callable[[str, int, int], None]


class BuildFailed(RuntimeError):
    """The knowledge base has errors; the previous index is left serving."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(
            f"{sum(p.severity == 'error' for p in problems)} error(s) in the knowledge base"
        )
        self.problems = problems


@dataclass
class BuildReport:
    """What a build did, as `bot kb build --json` prints it."""

    articles: int
    chunks: int
    embedded_articles: list[str]
    removed_articles: list[str]
    seconds: float
    version: str | None
    changed: bool
    skipped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON form of the report."""
        data = asdict(self)
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build depends on besides the article files."""

    kb_dir: Path
    index_dir: Path
    base_url: str
    model: str
    chunking: ChunkConfig
    batch_size: int = 32
    max_words: int = 1500
    keep_versions: int = 3
    index_type: str = "auto"
    ann_threshold: int = 50_000
    nlu_dir: Path | None = None  # the Rasa NLU examples the router also learns from
    # the router's PER_ARTICLE_CLASSES_UP_TO (None: its default; tests of large-KB behaviour
    # set it low)
    per_article_up_to: int | None = None
    # the product route's phrasings: the writers' file, and the catalogue's types and titles
    catalog_phrasings: Path | None = None
    catalog_dir: Path | None = None
    catalog_feed: str | None = None


@dataclass(frozen=True)
class RouterPlan:
    """How a build gets its router (build_index's quick_router and trained_routers), and what
    a live indexer keeps between builds: `live` (a save's version is a delta on the last full
    build: bot.kb.segments) and `last` (the router it published last, by version)."""

    quick: bool = False
    trained: dict[str, Router] = field(default_factory=dict)
    live: bool = False
    last: dict[str, Router] = field(default_factory=dict)


def build_index(
    options: BuildOptions,
    skip_invalid: bool = False,
    embedder_factory: Callable[[str], Embedder] = Embedder,
    on_progress: ProgressCallback | None = None,
    *,
    cache: ParseCache | None = None,
    last_good: dict[str, Article] | None = None,
    quick_router: bool = False,
    trained_routers: dict[str, Router] | None = None,
    files: list[Path] | None = None,
    checked: dict | None = None,
    routers: dict[str, Router] | None = None,
) -> BuildReport:
    """Build or update the index; raises BuildFailed on errors unless skip_invalid is set.

    A long-running indexer (bot.kb.live) passes its own parse cache, kept in memory between
    builds (then the cache file is not written), and `last_good`: by file, the last version of
    each article that parsed; a file that now has errors keeps serving that version. It also
    asks for a `quick_router`: the previous router refitted from its own weights (well under
    a second) instead of trained from scratch; such a router is recorded as not exact, and the
    next build without quick_router trains it fully. `trained_routers`: routers already
    trained from scratch, by the hash of what they learned from (their `inputs`), used as they
    are when they match. And, kept between builds by a live indexer: the article `files` it
    listed, each article's own lint problems (`checked`, bot.kb.lint) and the router it
    published last (`routers`); its saves are published as deltas (bot.kb.segments)."""
    started = time.perf_counter()
    live = cache is not None
    cache = cache or ParseCache(options.index_dir / PARSE_CACHE)
    lint: LintResult = lint_kb(
        options.kb_dir, options.base_url, options.max_words, cache, files, checked
    )
    if lint.error_count and not skip_invalid:
        raise BuildFailed(lint.problems)
    if last_good:
        present = {a.id for a in lint.articles}
        for path in lint.skipped_paths:
            kept = last_good.get(path)
            if kept is not None and kept.id not in present and kept.path.exists():
                lint.articles.append(kept)
    # drafts are previewed in the help centre by signed-in writers, never searched or answered
    drafts = {
        a.id: {"path": a.rel_path, "title": a.title}
        for a in sorted(lint.articles, key=lambda a: a.rel_path)
        if a.draft
    }
    articles = [a for a in lint.articles if not a.draft]

    # what the router learns from; a broken NLU file fails here, before anything is embedded
    router_inputs = _router_inputs(articles, options)
    with build_lock(options.index_dir):
        previous = read_manifest(options.index_dir)
        model = canonical_model_name(options.model)
        reusable = _reusable_articles(previous, model, options.chunking)
        changed = [a for a in articles if reusable.get(a.id) != a.content_hash]
        kept = [a for a in articles if reusable.get(a.id) == a.content_hash]
        removed = sorted(set(previous["articles"]) - {a.id for a in articles}) if previous else []
        report = BuildReport(
            articles=len(articles),
            chunks=0,
            embedded_articles=sorted(a.id for a in changed),
            removed_articles=removed,
            seconds=0.0,
            version=current_version(options.index_dir),
            changed=bool(
                changed
                or removed
                or previous is None
                or _index_type_changed(previous, options)
                or router_inputs != (previous.get("router") or {}).get("inputs")
                or (not quick_router and (previous.get("router") or {}).get("exact") is False)
                or drafts != previous.get("drafts", {})
            ),
            skipped=lint.skipped_paths,
            problems=lint.problems,
        )
        if not report.changed:
            report.chunks = int(previous["counts"]["chunks"]) if previous else 0
        else:
            needs_model = bool(changed) or not reusable
            embedder = embedder_factory(options.model) if needs_model else None
            report.version, report.chunks = _write_version(
                options,
                previous,
                kept,
                changed,
                embedder,
                on_progress,
                started,
                lambda: embedder or embedder_factory(options.model),
                router_inputs,
                drafts,
                RouterPlan(
                    quick_router,
                    trained_routers or {},
                    live,
                    routers if routers is not None else {},
                ),
            )
        if not live:
            cache.save()
        report.seconds = round(time.perf_counter() - started, 3)
        return report


def _index_type_changed(previous: dict, options: BuildOptions) -> bool:
    """True when the settings now call for another index type over the same vectors."""
    wanted = ann.choose_type(
        options.index_type, int(previous["counts"]["vectors"]), options.ann_threshold
    )
    return previous.get("index_type", "flat") != wanted


def _reusable_articles(previous: dict | None, model: str, chunking: ChunkConfig) -> dict[str, str]:
    """Article hashes of the previous version, if it was built the same way; else nothing."""
    if (
        previous is None
        or previous.get("format") != FORMAT_VERSION
        or previous.get("model") != model
        or previous.get("chunking") != _chunking_record(chunking)
    ):
        return {}
    return {article_id: info["hash"] for article_id, info in previous["articles"].items()}


def _write_version(
    options: BuildOptions,
    previous: dict | None,
    kept: list[Article],
    changed: list[Article],
    embedder: Embedder | None,
    on_progress: ProgressCallback | None,
    started: float,
    model: Callable[[], Embedder],
    router_inputs: str,
    drafts: dict[str, dict] | None = None,
    plan: RouterPlan | None = None,
) -> tuple[str, int]:
    """Write a new version from kept and re-embedded articles; returns (version, chunks)."""
    import numpy as np

    version = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    staging = staging_dir(options.index_dir, version)
    try:
        new_chunks: dict[str, list[Chunk]] = {}
        new_tokens: dict[int, int] = {}
        if embedder is not None:
            for article in changed:
                chunks = chunk_article(article, options.chunking, embedder.count_tokens)
                new_chunks[article.id] = chunks
                for chunk in chunks:
                    new_tokens[chunk.id] = embedder.count_tokens(chunk.embed_text) + 2
        texts = [c.embed_text for chunks in new_chunks.values() for c in chunks]
        done = 0

        def progress(n: int) -> None:
            nonlocal done
            done += n
            if on_progress is not None:
                on_progress("embedding", done, len(texts))

        new_vectors = (
            embedder.encode(texts, options.batch_size, progress) if embedder is not None else None
        )
        dimension = embedder.dimension if embedder is not None else int(previous["dimension"])
        new_ids = np.array([c.id for cs in new_chunks.values() for c in cs], dtype=np.int64)
        if new_vectors is None:
            new_vectors = np.zeros((0, dimension), dtype=np.float32)
        all_ids = {a.id for a in [*kept, *changed]}
        removed = set(previous["articles"]) - all_ids if previous else set()
        vector_count = sum(len(cs) for cs in new_chunks.values()) + sum(
            int(previous["articles"][a.id]["chunks"]) for a in kept
        )
        index_type = ann.choose_type(options.index_type, vector_count, options.ann_threshold)
        delta = (
            segments.plan_delta(
                previous, {a.id for a in changed}, removed, len(all_ids), index_type
            )
            if plan is not None
            and plan.live
            and _reusable_articles(previous, canonical_model_name(options.model), options.chunking)
            else None  # a base of another model or chunking is rebuilt in full
        )
        if delta is not None:
            db = segments.stage_delta(
                options.index_dir, previous, delta, staging, new_ids, new_vectors
            )
            _insert_new(db, changed, new_chunks, new_tokens)
            db.commit()
            sections = db.execute(
                "SELECT count(*) FROM chunks WHERE kind = 'section' AND article_id IN "
                f"({','.join('?' * len(changed))})",
                [a.id for a in changed],
            ).fetchone()[0] + segments.delta_sections(
                options.index_dir, previous, delta, {a.id for a in changed}, removed
            )
            db.close()
            record = delta.record()
        else:
            sections = _write_full(
                options, previous, kept, changed, staging, new_chunks, new_tokens,
                new_ids, new_vectors, index_type, dimension,
            )  # fmt: skip
            record = segments.full_record(version)

        all_articles = {a.id: a for a in [*kept, *changed]}
        router = _train_router(
            options,
            list(all_articles.values()),
            previous,
            staging,
            model,
            plan or RouterPlan(),
            router_inputs,
        )
        # recorded even without a router (nothing to choose between), so a rebuild of the same
        # inputs is not a change
        router = {**(router or {"trained": False}), "inputs": router_inputs}
        manifest = {
            "format": FORMAT_VERSION,
            "version": version,
            "model": canonical_model_name(options.model),
            "dimension": dimension,
            "metric": "inner_product",
            "index_type": index_type,
            **segments.manifest_hnsw(index_type),
            "segments": record,
            "chunking": _chunking_record(options.chunking),
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 3),
            "counts": {"articles": len(all_articles), "chunks": sections, "vectors": vector_count},
            "articles": {
                a.id: {
                    "hash": a.content_hash,
                    "path": a.rel_path,
                    "title": a.title,
                    "chunks": len(new_chunks[a.id])
                    if a.id in new_chunks
                    else previous["articles"][a.id]["chunks"],
                }
                for a in sorted(all_articles.values(), key=lambda a: a.rel_path)
            },
            "drafts": drafts or {},
            "versions": _versions(),
            "router": router,
        }
        (staging / MANIFEST).write_text(segments.dumps(manifest))
        publish(options.index_dir, staging, version, options.keep_versions)
        return version, sections
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_full(
    options: BuildOptions,
    previous: dict | None,
    kept: list[Article],
    changed: list[Article],
    staging: Path,
    new_chunks: dict[str, list[Chunk]],
    new_tokens: dict[int, int],
    new_ids: np.ndarray,
    new_vectors: np.ndarray,
    index_type: str,
    dimension: int,
) -> int:
    """A version's base segment: every article's rows and vectors (kept ones carried over from
    the previous version); returns the number of section chunks."""
    import faiss
    import numpy as np

    db = write_chunk_store(staging / CHUNKS_DB)
    ids_parts: list[np.ndarray] = []
    vec_parts: list[np.ndarray] = []
    if kept:
        old_ids, old_vectors = _copy_kept(options.index_dir, previous, kept, db)
        ids_parts.append(old_ids)
        vec_parts.append(old_vectors)
    if len(new_ids):
        ids_parts.append(new_ids)
        vec_parts.append(new_vectors)
    _insert_new(db, changed, new_chunks, new_tokens)
    db.commit()
    sections = db.execute("SELECT count(*) FROM chunks WHERE kind = 'section'").fetchone()[0]
    db.close()
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, dtype=np.int64)
    vectors = np.vstack(vec_parts) if vec_parts else np.zeros((0, dimension), dtype=np.float32)
    if len(set(ids.tolist())) != len(ids):
        raise RuntimeError("chunk id collision; rebuild from scratch with `rm -r index/versions`")
    np.save(staging / IDS, ids)
    np.save(staging / VECTORS, vectors)
    faiss.write_index(ann.build(index_type, vectors, ids, dimension), str(staging / FAISS_FILE))
    return sections


def _router_inputs(articles: list[Article], options: BuildOptions) -> str:
    """A hash of everything the router learns from: a change to any of it retrains it."""
    import hashlib

    from bot.kb.router import ROUTER_VERSION, NluFileError

    if options.nlu_dir is not None and not options.nlu_dir.is_dir():
        # without them the router knows no flow, handoff or small talk: never build that quietly
        problem = Problem(
            str(options.nlu_dir), 0, "NLU examples folder not found (setting nlu_dir)"
        )
        raise BuildFailed([problem])
    try:
        phrasings = router_phrasings(articles, options)
    except NluFileError as exc:  # before anything is written: the previous index keeps serving
        raise BuildFailed([exc.problem]) from exc
    digest = hashlib.sha256(f"{ROUTER_VERSION}\0{canonical_model_name(options.model)}".encode())
    for p in phrasings:
        digest.update(f"\0{p.label}\0{p.text}".encode())
    return digest.hexdigest()


def router_phrasings(articles: list[Article], options: BuildOptions) -> list[Phrasing]:
    """Everything the router learns from: the articles' phrasings (and those about an item
    with the catalogue's kinds of product in it), the NLU examples and the product route's (the
    writers' and the catalogue's), in a stable order."""
    from bot.kb.product_phrasings import catalogue_terms, product_phrasings, service_phrasings
    from bot.kb.router import article_phrasings, nlu_phrasings

    written = article_phrasings(sorted(articles, key=lambda a: a.id))
    terms = catalogue_terms(options.catalog_dir, options.catalog_feed)
    return (
        written
        + service_phrasings(written, terms)
        + nlu_phrasings(options.nlu_dir)
        + product_phrasings(options.catalog_phrasings, options.catalog_dir, options.catalog_feed)
    )


def _train_router(
    options: BuildOptions,
    articles: list[Article],
    previous: dict | None,
    staging: Path,
    model: Callable[[], Embedder],
    plan: RouterPlan,
    inputs: str,
) -> dict | None:
    """Train the router from the articles and the NLU examples into the staged version.

    Phrasings the previous version's router already embedded keep their vectors, so a
    one-article change embeds only that article's phrasings. As the plan says: a router
    trained ahead on the same inputs is used as it is, or (quick) the previous router is
    refitted from its weights rather than trained from scratch.
    """

    from bot.kb.router import Router

    started = time.perf_counter()
    phrasings = router_phrasings(articles, options)
    if len({p.label for p in phrasings}) < 2:
        return None  # one article and no NLU examples: nothing to choose between
    known: dict[str, np.ndarray] = {}
    old = None
    if previous is not None and previous.get("model") == canonical_model_name(options.model):
        old = plan.last.pop(previous["version"], None)
        if old is None:
            with contextlib.suppress(Exception):  # an unreadable old router is a lost cache
                old = Router.load(version_dir(options.index_dir, previous["version"]))
    plan.last.clear()
    if old is not None:
        known = dict(zip((p.text for p in old.phrasings), old.vectors, strict=True))
    missing = list(dict.fromkeys(p.text for p in phrasings if p.text not in known))
    if missing:
        known.update(zip(missing, model().encode(missing, options.batch_size), strict=True))
    ahead = plan.trained.get(inputs)
    changes = _article_changes(old, phrasings) if plan.quick and old is not None else None
    saved = False
    if ahead is not None and [(p.label, p.text) for p in ahead.phrasings] == [
        (p.label, p.text) for p in phrasings
    ]:
        router, exact, how = ahead, True, "trained ahead"
    elif changes is not None and old.keeps_heads_for(sorted({p.label for p in phrasings})):
        # above the per-article count: the save's phrasings in, the heads as they are
        removed, added = changes
        added_vectors = _stack(known, added, old)
        router = old.changed_articles(removed, added, added_vectors)
        exact, how = False, "articles' phrasings changed"
        saved = _save_router_changes(
            options, previous, staging, router, removed, added, added_vectors
        )
    elif plan.quick and old is not None:
        router = old.refitted(phrasings, _stack(known, phrasings, old))
        exact, how = False, "refitted"
    else:
        vectors = _stack(known, phrasings, old)
        if options.per_article_up_to is None:
            router = Router.train(phrasings, vectors)
        else:
            router = Router.train(phrasings, vectors, options.per_article_up_to)
        exact, how = True, "trained"
    if plan.live:
        plan.last[staging.name.strip(".").removesuffix(".tmp")] = router
    sources: dict[str, int] = {}
    for p in phrasings:
        kind = p.source.split(":", 1)[0]
        sources[kind] = sources.get(kind, 0) + 1
    trained_from = {
        "articles": len(articles),
        "nlu_dir": str(options.nlu_dir) if options.nlu_dir else None,
        "phrasings_by_source": sources,
    }
    if saved:
        router.save_info(staging, trained_from)
    else:
        router.save(staging, trained_from)
    return {
        "trained": True,
        # a refitted router keeps its character n-grams and starts from the last weights: the
        # next build that is not quick trains it from scratch
        "exact": exact,
        "how": how,
        "labels": len(router.labels),
        # above PER_ARTICLE_CLASSES_UP_TO articles the regressions learn "an article" as one
        # class and the nearest phrasings pick which (bot.kb.router)
        "article_classes": router.article_classes,
        "phrasings": len(phrasings),
        "embedded": len(missing),
        "trained_from": trained_from,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _stack(known: dict, phrasings: list, old: Router | None) -> np.ndarray:
    """The phrasings' vectors, in order."""
    import numpy as np

    if not phrasings:
        return np.zeros((0, old.vectors.shape[1] if old is not None else 0), dtype=np.float32)
    return np.stack([known[p.text] for p in phrasings]).astype(np.float32)


def _article_changes(old: Router, phrasings: list) -> tuple[set[str], list] | None:
    """The article labels whose phrasings differ from the old router's, and the phrasings they
    have now; None when anything but articles changed (then the heads are refitted)."""
    from bot.kb.router import ARTICLE

    def grouped(items: list) -> dict[str, list]:
        out: dict[str, list] = {}
        for p in items:
            out.setdefault(p.label, []).append(p)
        return out

    before, now = grouped(old.phrasings), grouped(phrasings)
    changed = {label for label in before.keys() | now.keys() if before.get(label) != now.get(label)}
    if any(not label.startswith(ARTICLE) for label in changed):
        return None
    return changed, [p for label in sorted(changed) for p in now.get(label, [])]


def _save_router_changes(
    options: BuildOptions,
    previous: dict | None,
    staging: Path,
    router: Router,
    removed: set[str],
    added: list,
    vectors: np.ndarray,
) -> bool:
    """Save a save's router as the changes since the previous version's router file (its
    last full save, hard-linked); False when there is none to build on (then it is saved in
    full)."""
    import numpy as np

    from bot.kb.router import ROUTER_DELTA, ROUTER_FILE

    folder = version_dir(options.index_dir, previous["version"])
    if not (folder / ROUTER_FILE).exists():
        return False
    before_removed, before_added, before_vectors = [], [], np.zeros((0, vectors.shape[1]))
    if (folder / ROUTER_DELTA).exists():
        import pickle

        with (folder / ROUTER_DELTA).open("rb") as handle:
            before_removed, before_added, before_vectors = pickle.load(handle)  # noqa: S301
    keep = [i for i, p in enumerate(before_added) if p.label not in removed]
    router.save_changes(
        staging,
        folder,
        set(before_removed) | removed,
        [before_added[i] for i in keep] + list(added),
        np.vstack([np.asarray(before_vectors, np.float32)[keep], vectors]).astype(np.float32),
    )
    return True


def _copy_kept(
    index_dir: Path, previous: dict, kept: list[Article], db: sqlite3.Connection
) -> tuple[np.ndarray, np.ndarray]:
    """Carry unchanged articles' rows and vectors over from the previous version (from its base
    segment, or its delta for the articles saved since: bot.kb.segments)."""
    import numpy as np

    folder = version_dir(index_dir, previous["version"])
    in_delta = set((previous.get("segments") or {}).get("delta", []))
    ids_parts, vector_parts = [], []
    for store, ids_file, vectors_file, wanted in (
        (CHUNKS_DB, IDS, VECTORS, [a.id for a in kept if a.id not in in_delta]),
        (DELTA_DB, DELTA_IDS, DELTA_VECTORS, [a.id for a in kept if a.id in in_delta]),
    ):
        if not wanted:
            continue
        old_ids = np.load(folder / ids_file)
        old_vectors = np.load(folder / vectors_file, mmap_mode="r")
        db.execute("ATTACH DATABASE ? AS old", (str(folder / store),))
        db.execute("CREATE TEMP TABLE kept(id TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO kept VALUES (?)", [(a,) for a in wanted])
        db.execute(
            "INSERT INTO articles SELECT * FROM old.articles WHERE id IN (SELECT id FROM temp.kept)"
        )
        keep_ids = np.array(
            [
                r[0]
                for r in db.execute(
                    "SELECT id FROM old.chunks WHERE article_id IN (SELECT id FROM temp.kept)"
                )
            ],
            dtype=np.int64,
        )
        db.execute(
            "INSERT INTO chunks SELECT * FROM old.chunks "
            "WHERE article_id IN (SELECT id FROM temp.kept)"
        )
        db.commit()
        db.execute("DROP TABLE temp.kept")
        db.execute("DETACH DATABASE old")
        rows = np.flatnonzero(np.isin(old_ids, keep_ids))
        ids_parts.append(old_ids[rows])
        vector_parts.append(np.asarray(old_vectors[rows], dtype=np.float32))
    return np.concatenate(ids_parts), np.vstack(vector_parts)


def _insert_new(
    db: sqlite3.Connection,
    changed: list[Article],
    new_chunks: dict[str, list[Chunk]],
    tokens: dict[int, int],
) -> None:
    for a in changed:
        db.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.id,
                a.title,
                a.url,
                a.rel_path,
                a.category,
                json.dumps(a.tags),
                a.updated.isoformat() if a.updated else None,
                a.content_hash,
                a.word_count,
                len(new_chunks[a.id]),
            ),
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    c.id,
                    c.article_id,
                    c.ordinal,
                    c.section,
                    c.anchor,
                    json.dumps(c.heading_path),
                    c.text,
                    tokens[c.id],
                    c.kind,
                )
                for c in new_chunks[a.id]
            ],
        )


def _chunking_record(chunking: ChunkConfig) -> dict:
    """How chunks were cut, as recorded in the manifest: settings plus the chunker's version."""
    return {**asdict(chunking), "chunker_version": CHUNKER_VERSION}


def _versions() -> dict[str, str]:
    """Versions of what produced the vectors, read without importing the heavy packages."""
    found = {"bot": __version__, "python": platform.python_version()}
    for package in ("faiss-cpu", "sentence-transformers", "torch", "transformers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def options_from(settings: Settings) -> BuildOptions:
    """The build options the settings describe."""
    return BuildOptions(
        kb_dir=settings.kb_dir,
        index_dir=settings.index_dir,
        base_url=settings.help_base_url,
        model=settings.embedding_model,
        chunking=ChunkConfig(
            settings.chunk_max_tokens, settings.chunk_overlap_tokens, settings.chunk_min_tokens
        ),
        batch_size=settings.embedding_batch_size,
        max_words=settings.article_max_words,
        keep_versions=settings.index_keep_versions,
        index_type=settings.index_type,
        ann_threshold=settings.ann_threshold,
        nlu_dir=settings.nlu_dir,
        catalog_phrasings=settings.catalog_phrasings,
        catalog_dir=settings.catalog_dir,
        catalog_feed=settings.catalog_feed or None,
    )
