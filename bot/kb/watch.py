"""What is in the articles folder, kept up to date as files are saved (kb_watch's listing).

The live indexer (bot.kb.live) needs the size and modification time of every Markdown file,
and to know as soon as one changes. Listing and `stat`-ing every file is what a poll does:
36-40 CPU-ms at 10,000 articles, so a poll every 0.1 s kept a third of a core busy, and a save
waited for up to two such listings before its build started (benchmarks/README.md, "Where a
save's second goes"). On Linux, `InotifyWatch` asks the kernel instead (inotify, through libc:
no dependency): it lists the folder once, then applies each event to that listing, `stat`-ing
only the file the event names; a change to a folder (one added, removed or renamed) or an
overflow of the kernel's queue lists everything again. Elsewhere, or when inotify cannot be
had (no libc function, the user's limit of watches reached), `PollingWatch` lists the folder
on every look, as before.

Both give the same listing as `snapshot`: files and folders whose names start with "." or "_"
are left out, and a path is spelled as os.scandir spells it from the folder given. One
difference: an article that is a symbolic link to a file outside the folder is not seen to
change when that file is edited (no event comes for it) until the live indexer's periodic full
listing (RESCAN_SECONDS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import select
import struct
import threading

logger = logging.getLogger(__name__)

Snapshot = dict[str, tuple[int, int]]

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
EVENTS = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF
)  # fmt: skip
EVENT_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then name)


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def snapshot(folder: str) -> Snapshot:
    """(size, modification time) of every Markdown file under folder, by path."""
    found: Snapshot = {}
    for _, files in _walk(folder):
        found.update(files)
    return found


def _walk(folder: str) -> list[tuple[str, Snapshot]]:
    """Each folder under `folder` (itself first) with its Markdown files."""
    out = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except (FileNotFoundError, NotADirectoryError):
            continue
        files: Snapshot = {}
        for entry in entries:
            if _hidden(entry.name):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.endswith(".md"):
                try:
                    info = entry.stat()
                except FileNotFoundError:
                    continue  # removed while we looked
                files[entry.path] = (info.st_size, info.st_mtime_ns)
        out.append((here, files))
    return out


class PollingWatch:
    """The folder listed again on every look."""

    def __init__(self, folder: str, stop: threading.Event) -> None:
        self.folder = folder
        self._stop = stop

    def listing(self) -> Snapshot:
        """The files now."""
        return snapshot(self.folder)

    def settled(self, now: Snapshot, seconds: float) -> Snapshot | None:
        """The listing once nothing changed for `seconds` after `now`; None if it changed."""
        self._stop.wait(seconds)
        again = snapshot(self.folder)
        return again if again == now else None

    def wait(self, seconds: float) -> None:
        """Until something may have changed, or `seconds` passed, or the watch is stopped."""
        self._stop.wait(seconds)

    def resync(self) -> None:
        """Nothing to do: every look lists the folder."""

    def close(self) -> None:
        """Nothing to release."""


class InotifyWatch:
    """The folder listed once, then kept up to date by the kernel's events (Linux)."""

    def __init__(self, folder: str, libc: ctypes.CDLL, stop: threading.Event) -> None:
        self.folder = folder
        self._libc = libc
        # where the folder can no longer be watched (it was removed): polled from then on
        self._polling = PollingWatch(folder, stop)
        self._broken = False
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._folders: dict[int, str] = {}
        self._files: Snapshot = {}
        try:
            self.resync()
        except OSError:
            self.close()
            raise

    def listing(self) -> Snapshot:
        """The files now (the same object until something changes)."""
        if self._broken:
            return self._polling.listing()
        self._read(0)
        return self._files

    def settled(self, now: Snapshot, seconds: float) -> Snapshot | None:
        """The listing once no event came for `seconds` after `now`; None if one came."""
        if self._broken:
            return self._polling.settled(now, seconds)
        if self._read(seconds) or self._files is not now:
            return None
        return self._files

    def wait(self, seconds: float) -> None:
        """Until an event comes or `seconds` passed."""
        if self._broken:
            self._polling.wait(seconds)
        else:
            self._read(seconds)

    def resync(self) -> None:
        """Watch every folder and list every file again (the start, a folder changed, the
        kernel's queue overflowed, and the live indexer's periodic full check)."""
        for wd in list(self._folders):
            self._libc.inotify_rm_watch(self._fd, wd)
        self._folders = {}
        files: Snapshot = {}
        for here, found in _walk(self.folder):
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(here), EVENTS)
            if wd < 0:
                code = ctypes.get_errno()
                if here == self.folder or code in (errno.ENOSPC, errno.ENOMEM):
                    raise OSError(code, f"inotify_add_watch({here}) failed")
                continue  # removed while we looked: its parent's event says so
            self._folders[wd] = here
            files.update(found)
        if self.folder not in self._folders.values():
            raise FileNotFoundError(errno.ENOENT, f"no folder {self.folder}")
        # listed after its folder is watched: a file saved meanwhile is also an event
        self._files = files
        self._broken = False

    def close(self) -> None:
        """Release the kernel's watch."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read(self, seconds: float) -> bool:
        """Apply the events that come within `seconds`; True if any came."""
        try:
            ready, _, _ = select.select([self._fd], [], [], seconds)
        except InterruptedError:
            return True  # look again
        if not ready:
            return False
        data = b""
        while True:
            try:
                block = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            if not block:
                break
            data += block
        try:
            self._apply(data)
        except OSError as exc:  # the folder went, or no more watches: poll from now on
            logger.warning("kb_watch: listing %s every poll from now on (%s)", self.folder, exc)
            self._broken = True
        return True

    def _apply(self, data: bytes) -> None:
        changed: set[str] = set()
        offset = 0
        while offset + EVENT_HEADER.size <= len(data):
            wd, mask, _cookie, length = EVENT_HEADER.unpack_from(data, offset)
            raw = data[offset + EVENT_HEADER.size : offset + EVENT_HEADER.size + length]
            offset += EVENT_HEADER.size + length
            if mask & IN_IGNORED:
                self._folders.pop(wd, None)
                continue
            folder = self._folders.get(wd)
            if mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF) or folder is None:
                if mask & IN_Q_OVERFLOW or folder == self.folder:
                    self.resync()  # events were lost, or the folder itself went
                    return
                continue  # a subfolder's own going: its parent's event says so
            name = os.fsdecode(raw.rstrip(b"\0"))
            if _hidden(name):
                continue
            if mask & IN_ISDIR:
                if mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO):
                    self.resync()  # a folder added, removed or renamed: rare, listed again
                    return
                continue
            if name.endswith(".md"):
                changed.add(os.path.join(folder, name))
        if not changed:
            return
        files = dict(self._files)  # a new object: a listing handed out stays as it was
        for path in changed:
            try:
                info = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                files.pop(path, None)
                continue
            files[path] = (info.st_size, info.st_mtime_ns)
        self._files = files


def watch(folder: str, stop: threading.Event) -> InotifyWatch | PollingWatch:
    """An InotifyWatch of the folder where the kernel offers one, else a PollingWatch."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
        libc.inotify_init1  # noqa: B018 - present on Linux only
        return InotifyWatch(folder, libc, stop)
    except (OSError, AttributeError) as exc:
        logger.info("kb_watch: listing %s every poll (no inotify: %s)", folder, exc)
        return PollingWatch(folder, stop)
