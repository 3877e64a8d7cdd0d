"""`bot up`'s catalogue schedule: a sync in a child at start, then every catalog_sync_minutes."""

from __future__ import annotations

from pathlib import Path

from bot.catalog.store import read_status
from bot.settings import Settings
from bot.stack import CatalogSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_failing_sync_is_reported_and_tried_again_on_schedule(tmp_path: Path) -> None:
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        catalog_feed=str(tmp_path / "feed.xml"),  # not there (yet)
        catalog_dir=tmp_path / "catalog",
        catalog_sync_minutes=30,
    )
    said: list[str] = []
    clock = Clock()
    schedule = CatalogSchedule(settings, tmp_path / "logs" / "sync.log", said.append, clock)
    schedule.tick()  # due at start
    assert schedule.process is not None
    schedule.process.wait()
    schedule.tick()
    assert said == [
        f"catalogue sync failed (see {tmp_path / 'logs' / 'sync.log'}); "
        "the last good catalogue keeps serving"
    ]
    status = read_status(tmp_path / "catalog")
    assert status["ok"] is False and "no such file" in status["reason"]
    assert "no such file" in (tmp_path / "logs" / "sync.log").read_text()
    clock.now += 29 * 60
    schedule.tick()
    assert schedule.process is None  # not yet
    clock.now += 60
    schedule.tick()
    assert schedule.process is not None
    schedule.stop()


def test_no_feed_no_sync(tmp_path: Path) -> None:
    settings = Settings(settings_file=tmp_path / "none.toml", catalog_feed="")
    schedule = CatalogSchedule(settings, tmp_path / "sync.log", print, Clock())
    schedule.tick()
    assert schedule.process is None
