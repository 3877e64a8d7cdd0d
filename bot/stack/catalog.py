"""`bot up`'s catalogue schedule: `bot catalog sync` in a child process at start and then every
catalog_sync_minutes, one at a time.

A child keeps torch and the embedding model out of the supervisor, and a sync that fails (a broken
feed, a store whose feed is down) only writes why into the catalogue's status.json: the last good
catalogue keeps serving and the stack goes on. The action server and the web app pick up a newly
published version by themselves (bot.catalog.search reloads it).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.settings import Settings
from bot.stack.env import child_env, settings_env
from bot.stack.paths import ROOT


class CatalogSchedule:
    """Starts a sync when one is due and none is running; `tick()` from the supervisor's loop."""

    def __init__(
        self,
        settings: Settings,
        log: Path,
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.log = log
        self.say = say
        self.clock = clock
        self.process: subprocess.Popen | None = None
        self.next_at: float | None = clock() if settings.catalog_feed else None

    def tick(self) -> None:
        """Notice a finished sync; start the next one when it is due."""
        if self.process is not None:
            code = self.process.poll()
            if code is None:
                return
            self.say(
                "catalogue synced"
                if code == 0
                else f"catalogue sync failed (see {self.log}); "
                "the last good catalogue keeps serving"
            )
            self.process = None
            minutes = self.settings.catalog_sync_minutes
            self.next_at = self.clock() + minutes * 60 if minutes else None
        if self.next_at is not None and self.clock() >= self.next_at:
            self.start()

    def start(self) -> None:
        """Run `bot catalog sync` now, its output appended to the log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "catalog", "sync"],
                cwd=ROOT,
                env=child_env(settings_env(self.settings)),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.next_at = None

    def stop(self) -> None:
        """Stop a sync in progress (it publishes nothing half-done)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
