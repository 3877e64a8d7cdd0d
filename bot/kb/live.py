"""Live indexing for writers (setting kb_watch): a saved article is published without a restart.

The web app runs one `LiveIndexer` thread while kb_watch is on (`make run` turns it on; in
production `bot kb build` stays the path). It notices a saved, added or removed article by the
files' size and modification time (bot.kb.watch: told by the kernel on Linux, polled
elsewhere), and runs the ordinary incremental build with what a one-shot `bot kb build` has to
load every time kept in memory: the embedding model (loaded and run once when the watch
starts; the ONNX encoder on one thread in the web app, bot.kb.encoder.load_live_embedder) and
the parse cache. Everything that reads the index (the web app, the action server's workers)
already switches to a newly published version by itself (KnowledgeBase.reload_if_stale).

Within a second: the router is not trained from scratch on a save (1.7 s idle on the demo's 45
labels, far more on a busy machine) but refitted from its last weights, which takes a few
tenths. Above PER_ARTICLE_CLASSES_UP_TO articles the refit stays that small: the regressions
learn the flows and "an article" (a dozen classes, not one per article), and the new article
is routed to through its phrasings' vectors, the nearest-phrasings channel (bot.kb.router).
Such a router is recorded as not exact (its character n-grams are the old ones); once the
writer has paused for EXACT_AFTER_SECONDS, a second thread trains one from scratch on the
same phrasings, and it is published if nothing was saved meanwhile (otherwise the next pause
tries again). Saves never wait for that training.

A save costs what it changed, not the KB (benchmarks/README.md, "A save at 10,000 articles"):
the watcher's listing says which files changed, so only those are read, parsed and checked
(each article's own lint problems are kept; a full listing and check runs at the first build
and at most every RESCAN_SECONDS); the version it publishes is a delta on the last full build
(bot.kb.segments: that build's files hard-linked, the saved articles' rows and vectors
beside them), which readers load without reloading the base; above
PER_ARTICLE_CLASSES_UP_TO articles the router takes the article's phrasings in without a
refit, and is saved as the changes since its last full save.

A save with errors is never published: the file's last good version keeps serving, and the
problems (file:line) go to the log and to `problems()`, which the help centre shows signed-in
writers. Drafts (`draft: true`) are built into the manifest's list of drafts, not the index.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bot.kb.builder import BuildOptions, BuildReport, build_index
from bot.kb.embedder import Embedder
from bot.kb.loader import Article, ParseCache, display_path
from bot.kb.problems import Problem
from bot.kb.router import Router
from bot.kb.store import PARSE_CACHE, read_manifest, version_dir
from bot.kb.watch import InotifyWatch, PollingWatch, Snapshot, snapshot, watch

__all__ = ["LiveIndexer", "LiveState", "Snapshot", "snapshot"]

logger = logging.getLogger(__name__)
# how often the watch looks when nothing happens (with inotify: at once when a file changes)
POLL_SECONDS = 0.1
# a save is often several writes (an editor's temporary file, then a rename): wait until the
# folder has been still for this long before building
SETTLE_SECONDS = 0.05
# a writer who has not saved for this long gets the router trained from scratch
EXACT_AFTER_SECONDS = 3.0
# a save's build takes the files as the watcher listed them and checks only the changed ones;
# a build at most this often lists and checks them all again (a safety net)
RESCAN_SECONDS = 600.0


@dataclass
class LiveState:
    """What the live indexer last did, for the help centre and the log."""

    version: str | None = None
    problems: list[Problem] = field(default_factory=list)  # errors of the last build
    seconds: float | None = None
    cpu_seconds: float | None = None  # the build's own thread's CPU time
    builds: int = 0
    router_exact: bool | None = None  # False: refitted on a save, a full training to come
    # when (time.monotonic) the watch saw the change, the build started and it was published
    noticed_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None


class LiveIndexer:
    """Watches the articles folder and publishes each change; one thread, started by start()."""

    def __init__(self, options: BuildOptions, embedder: Callable[[], Embedder]) -> None:
        self.options = options
        self._embedder_factory = embedder
        self._embedder: Embedder | None = None  # made once, warmed when the watch starts
        self._cache = ParseCache(options.index_dir / PARSE_CACHE, trust_stat=True)
        self._last_good: dict[str, Article] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.state = LiveState()
        self._router: dict = {}  # the published version's router record (manifest)
        self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-router")
        self._training: tuple[str, Future[Router | None]] | None = None  # (inputs, result)
        # kept between builds so that a save costs what it changed (bot.kb.segments): each
        # article's own lint problems, and the router published last
        self._checked: dict = {}
        self._routers: dict[str, Router] = {}
        self._seen: Snapshot | None = None  # the watcher's last listing
        self._listed: tuple[set[str], list[Path]] | None = None  # its paths, sorted (_files)

    def embedder(self) -> Embedder:
        """What embeds the saved articles, made on first use and kept."""
        if self._embedder is None:
            self._embedder = self._embedder_factory()
        return self._embedder

    def problems(self) -> list[Problem]:
        """The errors that kept the last saves from being published (empty when all is well)."""
        return list(self.state.problems)

    def build(
        self,
        exact: bool = False,
        trained: dict[str, Router] | None = None,
        seen: Snapshot | None = None,
    ) -> BuildReport:
        """Build once now from the files as they are (what each noticed change runs).

        The router is refitted quickly unless `exact`; `trained`: routers trained from scratch
        ahead, by the hash of their inputs (build_index's trained_routers). `seen`: the files
        as the watcher just listed them (size, modification time); without it every file is
        listed and every article checked again (the first build, and a periodic rescan)."""
        with self._lock:
            cpu, started = time.thread_time(), time.monotonic()
            self._cache.forget_unused()
            self._cache.seen = dict(seen or {})
            if seen is None:
                self._checked.clear()
            files = self._files(seen) if seen is not None else None
            report = build_index(
                self.options,
                skip_invalid=True,
                embedder_factory=lambda _name: self.embedder(),
                cache=self._cache,
                last_good=self._last_good,
                quick_router=not exact,
                trained_routers=trained,
                files=files,
                checked=self._checked,
                routers=self._routers,
            )
            manifest = read_manifest(self.options.index_dir) or {}
            self._router = manifest.get("router") or {}
            errors = [p for p in report.problems if p.severity == "error"]
            for problem in errors:
                logger.error("kb_watch: %s (the last good version keeps serving)", problem)
            skipped, cwd = set(report.skipped), os.getcwd()
            for article, _ in self._cache.used():
                shown = display_path(article.path, cwd) if article is not None else None
                if shown is not None and shown not in skipped:
                    self._last_good[shown] = article
            self.state = LiveState(
                version=report.version,
                problems=errors,
                seconds=report.seconds,
                cpu_seconds=round(time.thread_time() - cpu, 3),
                builds=self.state.builds + 1,
                router_exact=self._router.get("exact", True) if self._router else None,
                started_at=started,
                finished_at=time.monotonic(),
            )
            if report.changed:
                logger.info(
                    "kb_watch: published %s in %.2f s (embedded: %s; removed: %s)",
                    report.version,
                    report.seconds,
                    ", ".join(report.embedded_articles) or "nothing",
                    ", ".join(report.removed_articles) or "nothing",
                )
            return report

    def _files(self, seen: Snapshot) -> list[Path]:
        """The listed files in article_files' order; the last build's list when the same files
        are listed (a save changes one file, not which files there are: 10,000 paths sorted
        and made again cost a tenth of a second)."""
        if self._listed is None or self._listed[0] != seen.keys():
            paths = sorted(seen, key=lambda p: p.split(os.sep))
            self._listed = (set(seen), [Path(p) for p in paths])
        return list(self._listed[1])

    def start(self) -> None:
        """Build once, then watch in a daemon thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="kb-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (a build under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._trainer.shutdown(wait=True, cancel_futures=True)

    def _warm(self) -> None:
        """What the first save would otherwise wait for: the model loaded and run once, and the
        published router read (and scikit-learn imported for it: 1.6 s on a busy machine)."""
        with self._lock:
            self.embedder().encode(["warm"])
            version = (read_manifest(self.options.index_dir) or {}).get("version")
            if version is not None and version not in self._routers:
                router = Router.load(version_dir(self.options.index_dir, version))
                if router is not None:
                    self._routers[version] = router

    def _run(self) -> None:
        try:
            self._warm()
        except Exception:  # noqa: BLE001 - a save will try again, and log why it fails
            logger.exception("kb_watch: warming up failed")
        folder = watch(str(self.options.kb_dir), self._stop)
        try:
            self._watch(folder)
        finally:
            folder.close()

    def _watch(self, folder: InotifyWatch | PollingWatch) -> None:
        seen: Snapshot | None = None
        quiet_since = last_rescan = time.monotonic()
        while not self._stop.is_set():
            now = folder.listing()
            if now is not seen and now != seen:
                noticed = time.monotonic()
                settled = folder.settled(now, SETTLE_SECONDS)
                if settled is None:
                    continue  # still being written: look again
                rescan = time.monotonic() - last_rescan >= RESCAN_SECONDS
                try:
                    if rescan:
                        folder.resync()
                        settled = folder.listing()
                    self.build(seen=None if rescan else settled)
                    self.state.noticed_at = noticed
                    if rescan:
                        last_rescan = time.monotonic()
                except Exception:  # noqa: BLE001 - a failed build must not end the watch
                    logger.exception("kb_watch: the build failed; the last index keeps serving")
                seen, quiet_since = settled, time.monotonic()
                self._seen = seen
            elif time.monotonic() - quiet_since >= EXACT_AFTER_SECONDS:
                try:
                    self._train_exactly()
                except Exception:  # noqa: BLE001 - the refitted router keeps serving
                    logger.exception(
                        "kb_watch: training the router failed; the refitted one serves"
                    )
                    quiet_since = time.monotonic()  # try again after the next pause
            folder.wait(POLL_SECONDS)

    def _train_exactly(self) -> None:
        """Start, or publish, a full training of a refitted router (see the module's text)."""
        inputs = self._router.get("inputs")
        if self._training is not None:
            started_for, future = self._training
            if not future.done():
                return
            self._training = None
            router = future.result()
            if router is not None and started_for == inputs:
                report = self.build(exact=True, trained={inputs: router}, seen=self._seen)
                logger.info("kb_watch: the router is trained from scratch (%s)", report.version)
            return  # a save came in between: the next pause trains again
        if self._router.get("exact") is not False or inputs is None:
            return
        version = (read_manifest(self.options.index_dir) or {}).get("version")
        if version is None:
            return
        folder = version_dir(self.options.index_dir, version)
        self._training = (inputs, self._trainer.submit(_train_from_scratch, folder))


def _train_from_scratch(folder: os.PathLike) -> Router | None:
    """A router trained from scratch on the phrasings (and their vectors) of a version's one."""
    refitted = Router.load(folder)
    if refitted is None:
        return None
    # in the order a build lists them (a save's phrasings were appended): the same training
    # as a full build's, so the build that publishes it takes it as it is
    import numpy as np

    from bot.kb.router import ARTICLE

    order = sorted(
        range(len(refitted.phrasings)),
        key=lambda i: (0, label) if (label := refitted.phrasings[i].label).startswith(ARTICLE)
        else (1, ""),
    )  # fmt: skip
    phrasings = [refitted.phrasings[i] for i in order]
    vectors = np.asarray(refitted.vectors)[order]
    return Router.train(phrasings, vectors, refitted.per_article_up_to)
