"""Reading PostgreSQL on the hot path in one round trip per statement.

A turn reads the conversation's new events and its tickets. Through an engine that pings each
connection before use, in a transaction, one read took four round trips (BEGIN, the ping, the
query, ROLLBACK) and as many wake-ups of a PostgreSQL backend. Readers here run in autocommit:
each statement sees what was committed when it started, which is what a statement inside a
READ COMMITTED transaction (PostgreSQL's default) sees too. Instead of a ping before every use,
a read whose connection turns out dead (the server restarted since it was last used;
SQLAlchemy then drops it and every older connection of the pool) is done once more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


def autocommit_reader(url: str, **pool: Any) -> Engine:
    """An engine for read-only statements, in autocommit, without a ping before each use."""
    return create_engine(url, isolation_level="AUTOCOMMIT", **pool)


def read(engine: Engine, reader: Callable[[Connection], T]) -> T:
    """reader(connection)'s result; run once more on a fresh connection when the first one
    turned out dead."""
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                return reader(connection)
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


def read_rows(engine: Engine, query: Any, params: dict[str, Any]) -> list[Any]:
    """All rows of one query (see `read`)."""
    return read(engine, lambda connection: connection.execute(query, params).all())
