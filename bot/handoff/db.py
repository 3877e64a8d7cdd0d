"""Database engines for the queue: SQLite (WAL, single writer) or PostgreSQL; migrate on start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from bot.database import autocommit_reader

MIGRATIONS = Path(__file__).parent / "migrations"


def create_db_engine(url: str) -> Engine:
    """An engine configured for safe concurrent use of the queue on either database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection, _record) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged ticket is on disk
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            # Take the write lock up front: one writer at a time, no lost claims.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_reader_engine(url: str) -> Engine | None:
    """On PostgreSQL, an engine for the reads of every turn (bot.database); None on SQLite,
    where reads share the queue's engine."""
    if make_url(url).get_backend_name() == "sqlite":
        return None
    return autocommit_reader(url, pool_size=5, max_overflow=10)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest version; safe to run from several processes at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(727001)"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def schema_version(engine: Engine) -> str | None:
    """The alembic revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:
            return None
