"""Live indexing for writers (setting kb_watch): a saved article is published without a restart.

The web app runs one `LiveIndexer` thread while kb_watch is on (`make run` turns it on; in
production `bot kb build` stays the path). It notices a saved, added or removed article by the
files' size and modification time, and runs the ordinary incremental build with what a
one-shot `bot kb build` has to load every time kept in memory: the embedding model and the
parse cache. Everything that reads the index (the web app, the action server's workers)
already switches to a newly published version by itself (KnowledgeBase.reload_if_stale).

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
from dataclasses import dataclass, field

from bot.kb.builder import BuildOptions, BuildReport, build_index
from bot.kb.embedder import Embedder
from bot.kb.loader import Article, ParseCache, display_path
from bot.kb.problems import Problem
from bot.kb.store import PARSE_CACHE

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.1
# a save is often several writes (an editor's temporary file, then a rename): wait until the
# folder has been still for this long before building
SETTLE_SECONDS = 0.05

Snapshot = dict[str, tuple[int, int]]


def snapshot(kb_dir: str) -> Snapshot:
    """(size, modification time) of every Markdown file under kb_dir, by path."""
    found: Snapshot = {}
    stack = [kb_dir]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.endswith(".md"):
                try:
                    info = entry.stat()
                except FileNotFoundError:
                    continue  # removed while we looked
                found[entry.path] = (info.st_size, info.st_mtime_ns)
    return found


@dataclass
class LiveState:
    """What the live indexer last did, for the help centre and the log."""

    version: str | None = None
    problems: list[Problem] = field(default_factory=list)  # errors of the last build
    seconds: float | None = None
    builds: int = 0


class LiveIndexer:
    """Watches the articles folder and publishes each change; one thread, started by start()."""

    def __init__(self, options: BuildOptions, embedder: Callable[[], Embedder]) -> None:
        self.options = options
        self._embedder = embedder
        self._cache = ParseCache(options.index_dir / PARSE_CACHE, trust_stat=True)
        self._last_good: dict[str, Article] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.state = LiveState()

    def problems(self) -> list[Problem]:
        """The errors that kept the last saves from being published (empty when all is well)."""
        return list(self.state.problems)

    def build(self) -> BuildReport:
        """Build once now from the files as they are (what each noticed change runs)."""
        with self._lock:
            self._cache.forget_unused()
            report = build_index(
                self.options,
                skip_invalid=True,
                embedder_factory=lambda _name: self._embedder(),
                cache=self._cache,
                last_good=self._last_good,
            )
            errors = [p for p in report.problems if p.severity == "error"]
            for problem in errors:
                logger.error("kb_watch: %s (the last good version keeps serving)", problem)
            skipped = set(report.skipped)
            for article, _ in self._cache.used():
                if article is not None and display_path(article.path) not in skipped:
                    self._last_good[display_path(article.path)] = article
            self.state = LiveState(
                version=report.version,
                problems=errors,
                seconds=report.seconds,
                builds=self.state.builds + 1,
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

    def start(self) -> None:
        """Build once, then watch in a daemon thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="kb-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (a build under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        folder = str(self.options.kb_dir)
        seen: Snapshot | None = None
        while not self._stop.is_set():
            now = snapshot(folder)
            if now != seen:
                time.sleep(SETTLE_SECONDS)
                settled = snapshot(folder)
                if settled != now:
                    continue  # still being written: look again
                try:
                    self.build()
                    seen = settled
                except Exception:  # noqa: BLE001 - a failed build must not end the watch
                    logger.exception("kb_watch: the build failed; the last index keeps serving")
                    seen = settled
            self._stop.wait(POLL_SECONDS)
