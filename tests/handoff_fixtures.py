"""Queue databases for tests: a temporary SQLite file, or a private PostgreSQL schema; the
`queue_url` and `queue` fixtures every queue test uses (registered by tests/conftest.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from bot.handoff import HandoffQueue

POSTGRES_ENV = "BOT_TEST_POSTGRES_URL"


def postgres_base_url() -> str:
    """The PostgreSQL server for tests; in CI its absence is a failure, not a skip."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set; CI must test the queue on PostgreSQL")
        pytest.skip(f"{POSTGRES_ENV} is not set (make test sets it)")
    return url


def _with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a fresh, empty database URL for one test, and clean up after it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'handoff.db'}"
        return
    base = postgres_base_url()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is down or refuses us
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot use PostgreSQL at {base}: {exc}")
        pytest.skip(f"PostgreSQL at {base} is not reachable: {exc}")
    try:
        yield _with_search_path(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty queue database for one test, once on SQLite and once on PostgreSQL."""
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def queue(queue_url: str) -> Iterator[HandoffQueue]:
    """The handoff queue on queue_url, closed after the test."""
    q = HandoffQueue.from_url(queue_url)
    yield q
    q.close()
