"""Inbox sign-in sessions and failed sign-ins, kept in the handoff queue's database.

A session is a random id (secrets.token_urlsafe) that lives in the agent's cookie; the database
keeps only its SHA-256, with the agent, a fingerprint of the credential they signed in with
(Authenticator.credential), when it began and when it was last used. A session ends when the
agent signs out, when it was idle for longer than the idle timeout, when it reaches its absolute
lifetime, and when the agent's token is removed or changed (the caller passes the agent's
current credential on every check). Failed sign-ins are counted per client address in the same
database, so every web worker sees them. The clock is injectable, so tests move time instead of
sleeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

metadata = MetaData()

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 hex of the cookie's session id
    Column("agent", String(64), nullable=False, index=True),
    Column("credential", String(64), nullable=False),  # sha256 hex of the agent's token hash
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)

sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("sign_in_failures_by_client", "client", "at"),
)

# A session's last use is written at most this often (each page polls every few seconds).
TOUCH_SECONDS = 15.0


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Session:
    """A live sign-in session."""

    agent: str
    created_at: dt.datetime
    last_seen_at: dt.datetime


class SessionStore:
    """Server-side sessions of signed-in agents; the cookie holds only the random id."""

    def __init__(
        self,
        engine: Engine,
        idle_seconds: float,
        lifetime_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.idle_seconds = idle_seconds
        self.lifetime_seconds = lifetime_seconds
        self.clock = clock

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def create(self, agent: str, credential: str) -> str:
        """Begin a session for agent; returns the id to put in the cookie (stored hashed)."""
        session_id = secrets.token_urlsafe(32)
        now = self._now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(agent_sessions).values(
                    id_hash=_digest(session_id),
                    agent=agent,
                    credential=credential,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return session_id

    def check(
        self, session_id: str | None, credentials: Callable[[str], str | None]
    ) -> Session | None:
        """The live session with this id, or None; an expired one, or one whose agent no longer
        has the credential it signed in with (credentials(agent)), is deleted on the way."""
        if not session_id:
            return None
        key = _digest(session_id)
        now = self._now()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(agent_sessions).where(agent_sessions.c.id_hash == key)
            ).first()
        if row is None:
            return None
        created, seen = _utc(row.created_at), _utc(row.last_seen_at)
        current = credentials(row.agent)
        if (
            (now - seen).total_seconds() > self.idle_seconds
            or (now - created).total_seconds() > self.lifetime_seconds
            or current is None
            or not secrets.compare_digest(current, row.credential)
        ):
            if current is None or not secrets.compare_digest(current, row.credential):
                self.end_all(row.agent)  # removed or changed token: every session of theirs
            else:
                self._delete(key)
            return None
        if (now - seen).total_seconds() >= TOUCH_SECONDS:
            with self.engine.begin() as conn:
                conn.execute(
                    update(agent_sessions)
                    .where(agent_sessions.c.id_hash == key)
                    .values(last_seen_at=now)
                )
            seen = now
        return Session(row.agent, created, seen)

    def end(self, session_id: str | None) -> None:
        """End one session (sign-out); its cookie is worth nothing afterwards."""
        if session_id:
            self._delete(_digest(session_id))

    def end_all(self, agent: str) -> int:
        """End every session of an agent; returns how many there were."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(agent_sessions).where(agent_sessions.c.agent == agent)
            ).rowcount

    def signed_in(self) -> int:
        """How many agents have a live session now (the handoff's and the widget's "is anyone
        there"): used within the idle timeout and the lifetime."""
        now = self._now()
        idle = now - dt.timedelta(seconds=self.idle_seconds)
        born = now - dt.timedelta(seconds=self.lifetime_seconds)
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count(agent_sessions.c.agent.distinct())).where(
                        agent_sessions.c.last_seen_at >= idle, agent_sessions.c.created_at >= born
                    )
                ).scalar()
            )

    def purge(self) -> int:
        """Delete the sessions that have expired; returns how many."""
        now = self._now()
        idle = now - dt.timedelta(seconds=self.idle_seconds)
        born = now - dt.timedelta(seconds=self.lifetime_seconds)
        with self.engine.begin() as conn:
            return conn.execute(
                delete(agent_sessions).where(
                    (agent_sessions.c.last_seen_at < idle) | (agent_sessions.c.created_at < born)
                )
            ).rowcount

    def _delete(self, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(agent_sessions).where(agent_sessions.c.id_hash == key))


class SignInThrottle:
    """Failed sign-ins per client address over a sliding window, shared by every worker.

    An attempt is counted as a failure before its token is checked, and forgotten if it
    succeeds, so requests sent in parallel cannot slip past the limit. On PostgreSQL the count
    and the insert run under an advisory lock per address (SQLite has one writer at a time).
    """

    def __init__(
        self,
        engine: Engine,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock = clock

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def attempt(self, client: str) -> int | None:
        """Count a sign-in attempt from client as failed until succeeded() says otherwise;
        when client already has max_failures in the window, count nothing and return the
        seconds until it may try again (None: go ahead and check the token)."""
        client = client[:64]
        now = self._now()
        since = now - dt.timedelta(seconds=self.window_seconds)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(727002, hashtext(:client))"),
                    {"client": client},
                )
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.at <= since))
            # the max_failures-th newest failure in the window: once it ages out, one slot frees
            blocking = conn.execute(
                select(sign_in_failures.c.at)
                .where(sign_in_failures.c.client == client, sign_in_failures.c.at > since)
                .order_by(sign_in_failures.c.at.desc())
                .offset(self.max_failures - 1)
                .limit(1)
            ).scalar()
            if blocking is not None:
                free_at = _utc(blocking) + dt.timedelta(seconds=self.window_seconds)
                return max(1, math.ceil((free_at - now).total_seconds()))
            conn.execute(insert(sign_in_failures).values(client=client, at=now))
        return None

    def failures(self, client: str) -> int:
        """Client's failed sign-ins in the window (an attempt in progress counts)."""
        since = self._now() - dt.timedelta(seconds=self.window_seconds)
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).where(
                    sign_in_failures.c.client == client[:64], sign_in_failures.c.at > since
                )
            ).scalar()

    def succeeded(self, client: str) -> None:
        """Forget client's failures (and the attempt that just succeeded)."""
        with self.engine.begin() as conn:
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.client == client[:64]))
