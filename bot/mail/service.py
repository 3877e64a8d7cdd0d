"""The mail worker's process: the worker's loop in a thread, and a loopback health check.

GET /health answers 200 with the outbox's counts once the handoff database is open (what `bot up`
waits for); the worker then sends until the process is stopped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator

from fastapi import FastAPI

from bot.handoff.db import create_db_engine, migrate
from bot.mail.mailer import open_outbox
from bot.mail.worker import MailWorker
from bot.settings import Settings

log = logging.getLogger(__name__)


def create_worker_app(settings: Settings) -> FastAPI:
    """The worker's app: the loop runs for the app's lifetime."""
    engine = create_db_engine(settings.queue_url)
    migrate(engine)
    outbox = open_outbox(settings, engine)
    worker = MailWorker.from_settings(settings, outbox)
    stop = threading.Event()

    @contextlib.asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[None]:
        thread = threading.Thread(
            target=worker.run_forever,
            args=(stop, settings.mail_poll_seconds),
            name="mail-worker",
            daemon=True,
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=settings.mail_timeout_seconds + 5)
            engine.dispose()

    app = FastAPI(title="Tier-0 mail worker", docs_url=None, redoc_url=None, lifespan=running)

    @app.get("/health")
    def health() -> dict:
        """The outbox's counts by status, and where mail goes (no user or password)."""
        return {
            "outbox": outbox.counts(),
            "server": worker.server.where if worker.server else None,
        }

    return app


def serve_worker(settings: Settings) -> None:
    """Run the worker with its health check on mail_host:mail_port until stopped."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        create_worker_app(settings),
        host=settings.mail_host,
        port=settings.mail_port,
        log_level="warning",
    )
