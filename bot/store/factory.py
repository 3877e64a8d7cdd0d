"""Pick the store backend the settings name."""

from __future__ import annotations

from bot.settings import Settings
from bot.store.base import StoreBackend


def open_store(settings: Settings) -> StoreBackend:
    """The demo store (default) or the HTTP store, as configured."""
    if settings.store_backend == "http":
        from bot.store.http import HttpStore

        if not settings.store_api_url:
            raise ValueError("store_backend is 'http' but store_api_url is not set")
        return HttpStore(
            settings.store_api_url,
            settings.store_api_token,
            settings.store_timeout_seconds,
            settings.store_retries,
            limiter_path=settings.data_dir / "reset-limits.db",
        )
    from bot.store.demo import DemoStore

    return DemoStore(settings.data_dir / "demo_store.db")
