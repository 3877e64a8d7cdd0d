"""The hot path's reads on PostgreSQL: one statement in autocommit, and a dead connection read
again on a fresh one instead of a ping before every use (bot.database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.database import autocommit_reader, read, read_rows
from bot.handoff import HandoffQueue, NewTicket
from tests.handoff_fixtures import database_url


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    yield from database_url("postgresql", tmp_path)


def _backend_pid(engine) -> int:
    return read(engine, lambda c: c.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


def test_a_read_leaves_no_transaction_open(postgres_url: str) -> None:
    engine = autocommit_reader(postgres_url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).all()
            # psycopg's view of the server: idle, not "idle in transaction"
            assert conn.connection.dbapi_connection.info.transaction_status.name == "IDLE"
    finally:
        engine.dispose()


def test_a_connection_that_died_is_read_again_on_a_fresh_one(postgres_url: str) -> None:
    engine = autocommit_reader(postgres_url, pool_size=1)
    try:
        first = _backend_pid(engine)
        _terminate(postgres_url, first)  # as a database restart does to pooled connections
        rows = read_rows(engine, text("SELECT pg_backend_pid(), 42"), {})
        assert rows[0][1] == 42 and rows[0][0] != first
    finally:
        engine.dispose()


def test_a_statement_error_is_not_read_again(postgres_url: str) -> None:
    engine = autocommit_reader(postgres_url, pool_size=1)
    calls = []

    def broken(conn):
        calls.append(1)
        return conn.execute(text("SELECT * FROM no_such_table")).all()

    try:
        with pytest.raises(Exception, match="no_such_table"):
            read(engine, broken)
        assert len(calls) == 1
    finally:
        engine.dispose()


def test_the_queue_reads_a_conversations_tickets_after_the_database_dropped_it(
    postgres_url: str,
) -> None:
    queue = HandoffQueue.from_url(postgres_url)
    try:
        ticket, _ = queue.create(NewTicket(conversation_id="conv-db", reason="customer_request"))
        assert [t.id for t in queue.for_conversation("conv-db")] == [ticket.id]
        _terminate(postgres_url, _backend_pid(queue.reader))
        assert [t.id for t in queue.for_conversation("conv-db")] == [ticket.id]
    finally:
        queue.close()
