"""kb_watch's listing of the articles folder: kept up to date by the kernel's events (inotify)
it is always the listing a fresh look at the folder gives, whatever a writer does to it."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.kb.watch import InotifyWatch, PollingWatch, snapshot, watch
from tests.conftest import write

ARTICLE = "---\ntitle: Returns\n---\nYou can return an item within 30 days.\n"


def _settles_to_the_folder(folder: InotifyWatch | PollingWatch, kb_dir: Path) -> dict:
    """The watch's listing once it agrees with a fresh look at the folder (bounded wait)."""
    deadline = time.monotonic() + 30  # a bound for a lost event, not a speed check
    while True:
        listing = folder.listing()
        if listing == snapshot(str(kb_dir)):
            return listing
        assert time.monotonic() < deadline, "the watch's listing never caught up"
        folder.wait(0.05)  # polling for the kernel's events


def _rename(kb_dir: Path) -> None:
    (kb_dir / "returns.md").rename(kb_dir / "refunds.md")


def _editor_save(kb_dir: Path) -> None:
    """A temporary file renamed over the article, as many editors save."""
    write(kb_dir, ".returns.md.swp", ARTICLE.replace("30", "60"))
    (kb_dir / ".returns.md.swp").rename(kb_dir / "returns.md")


def _new_folder(kb_dir: Path) -> None:
    write(kb_dir, "payments/deep/cards.md", "---\ntitle: Cards\n---\nVisa.\n")


def _folder_renamed(kb_dir: Path) -> None:
    (kb_dir / "shipping").rename(kb_dir / "delivery")


def _folder_removed(kb_dir: Path) -> None:
    for path in (kb_dir / "shipping").iterdir():
        path.unlink()
    (kb_dir / "shipping").rmdir()


def _touched(kb_dir: Path) -> None:
    os.utime(kb_dir / "returns.md", ns=(1, 2))


CHANGES: dict[str, Callable[[Path], object]] = {
    "added": lambda kb: write(kb, "gift-cards.md", "---\ntitle: Gift cards\n---\nNo expiry.\n"),
    "changed in place": lambda kb: write(kb, "returns.md", ARTICLE.replace("30", "45")),
    "saved by an editor": _editor_save,
    "removed": lambda kb: (kb / "returns.md").unlink(),
    "renamed": _rename,
    "touched": _touched,
    "in a new folder": _new_folder,
    "folder renamed": _folder_renamed,
    "folder removed": _folder_removed,
}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_kernels_listing_follows_every_kind_of_save(kb_dir: Path, change: str) -> None:
    write(kb_dir, "returns.md", ARTICLE)
    write(kb_dir, "shipping/express.md", "---\ntitle: Express\n---\nNext day.\n")
    write(kb_dir, "_template.md", ARTICLE)  # never listed, as in a fresh look
    folder = watch(str(kb_dir), threading.Event())
    try:
        assert isinstance(folder, InotifyWatch)
        before = folder.listing()
        assert before == snapshot(str(kb_dir)) and len(before) == 2
        CHANGES[change](kb_dir)
        after = _settles_to_the_folder(folder, kb_dir)
        assert after != before
        write(kb_dir, ".hidden.md", ARTICLE)  # hidden files are no change
        write(kb_dir, "notes.txt", "not an article")
        assert folder.settled(after, 0.05) in (None, after)
        assert _settles_to_the_folder(folder, kb_dir) == after
    finally:
        folder.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
def test_a_listing_handed_out_is_never_changed_afterwards(kb_dir: Path) -> None:
    write(kb_dir, "returns.md", ARTICLE)
    folder = watch(str(kb_dir), threading.Event())
    try:
        before = folder.listing()
        kept = dict(before)
        write(kb_dir, "gift-cards.md", ARTICLE)
        _settles_to_the_folder(folder, kb_dir)
        assert before == kept  # the live indexer compares it with the next one
    finally:
        folder.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
def test_a_removed_folder_is_polled_from_then_on(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    write(kb_dir, "returns.md", ARTICLE)
    folder = watch(str(kb_dir), threading.Event())
    try:
        (kb_dir / "returns.md").unlink()
        kb_dir.rmdir()
        assert _settles_to_the_folder(folder, kb_dir) == {}
        write(kb_dir, "returns.md", ARTICLE)  # made again: seen by polling
        assert len(_settles_to_the_folder(folder, kb_dir)) == 1
    finally:
        folder.close()


def test_without_a_folder_to_watch_the_watch_polls(tmp_path: Path) -> None:
    folder = watch(str(tmp_path / "missing"), threading.Event())
    assert isinstance(folder, PollingWatch)
    assert folder.listing() == {}
    write(tmp_path / "missing", "returns.md", ARTICLE)
    listing = folder.listing()
    assert listing == snapshot(str(tmp_path / "missing")) and len(listing) == 1
    assert folder.settled(listing, 0.01) == listing
