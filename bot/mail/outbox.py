"""The durable outbox: every email is a row first, sent later by the mail worker.

Queuing never talks to a mail server, so a turn that sends an email is as fast as one that does
not. An email is sent at least once and, as far as SMTP allows, once: a worker claims a row for
a lease (mail_lease_seconds), sends it, and marks it sent; a worker that dies between the
server's acceptance and the mark leaves the row to be sent again after the lease, with the same
Message-ID (fixed when it was queued), which is how the receiving side recognises a repeat. A
failure waits mail_backoff_seconds, doubled after each one, up to mail_max_attempts; then the
email is 'failed' and shown to the support lead (insights) until someone retries it.
Every write is one short transaction on the handoff database (SQLite or PostgreSQL); the claim is
a conditional UPDATE, so two workers never hold the same email at once. The clock is injectable.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.mail.message import plain_addresses
from bot.mail.schema import outbox

MAX_ERROR = 500


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Email:
    """One row of the outbox."""

    id: int
    message_id: str
    kind: str
    ticket_id: int | None
    recipients: list[str]
    subject: str
    raw: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None

    def to_dict(self, raw: bool = False) -> dict:
        """JSON-ready form (without the message itself unless raw)."""
        data = {k: v for k, v in self.__dict__.items() if raw or k != "raw"}
        for key in ("next_attempt_at", "created_at", "sent_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def _email(row) -> Email:
    return Email(
        id=row.id,
        message_id=row.message_id,
        kind=row.kind,
        ticket_id=row.ticket_id,
        recipients=list(row.recipients),
        subject=row.subject,
        raw=row.raw,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=_utc(row.next_attempt_at),
        last_error=row.last_error,
        created_at=_utc(row.created_at),
        sent_at=_utc(row.sent_at),
    )


class Outbox:
    """Queue, claim and settle emails in the handoff database; safe for many processes."""

    def __init__(
        self,
        engine: Engine,
        max_attempts: int = 12,
        backoff_seconds: float = 30.0,
        backoff_max_seconds: float = 6 * 3600.0,
        lease_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.lease_seconds = lease_seconds
        self.clock = clock

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    # -- queuing ------------------------------------------------------------------------------

    def enqueue(
        self,
        message: EmailMessage,
        kind: str,
        dedupe_key: str | None = None,
        ticket_id: int | None = None,
        conn: Connection | None = None,
    ) -> int | None:
        """Queue an email (inside conn's transaction when given, so it commits with what it is
        about); returns its id, or None when dedupe_key was already queued."""
        recipients = plain_addresses(
            [v for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
        )
        if message["Bcc"]:
            del message["Bcc"]
        now = self._now()
        row = {
            "message_id": str(message["Message-ID"]).strip(),
            "dedupe_key": dedupe_key,
            "kind": kind,
            "ticket_id": ticket_id,
            "recipients": recipients,
            "subject": str(message["Subject"] or ""),
            "raw": message.as_string(policy=SMTP),
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        if conn is not None:
            return self._insert(conn, row, dedupe_key)
        try:
            with self.engine.begin() as own:
                return self._insert(own, row, dedupe_key)
        except IntegrityError:  # the same key queued by another process at the same moment
            if dedupe_key is None:
                raise
            return None

    def _insert(self, conn: Connection, row: dict, dedupe_key: str | None) -> int | None:
        if (
            dedupe_key is not None
            and conn.execute(select(outbox.c.id).where(outbox.c.dedupe_key == dedupe_key)).first()
        ):
            return None
        return conn.execute(insert(outbox).values(**row)).inserted_primary_key[0]

    # -- the worker's side --------------------------------------------------------------------

    def claim(self, limit: int = 10) -> list[Email]:
        """Take up to limit due emails for a lease: queued ones whose time has come, and ones a
        dead worker held past its lease. Each is counted as one more attempt."""
        now = self._now()
        due = or_(
            and_(outbox.c.status == "queued", outbox.c.next_attempt_at <= now),
            and_(outbox.c.status == "sending", outbox.c.lease_until < now),
        )
        lease = now + dt.timedelta(seconds=self.lease_seconds)
        with self.engine.connect() as conn:
            ids = (
                conn.execute(
                    select(outbox.c.id)
                    .where(due)
                    .order_by(outbox.c.next_attempt_at, outbox.c.id)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
        claimed = []
        for email_id in ids:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == email_id, due)
                    .values(status="sending", lease_until=lease, attempts=outbox.c.attempts + 1)
                ).rowcount
                if taken:
                    row = conn.execute(select(outbox).where(outbox.c.id == email_id)).first()
                    claimed.append(_email(row))
        return claimed

    def sent(self, email_id: int) -> None:
        """The mail server accepted the email."""
        now = self._now()
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == email_id)
                .values(status="sent", sent_at=now, lease_until=None, last_error=None)
            )

    def failed(self, email: Email, error: str, permanent: bool = False) -> str:
        """A try failed: wait and try again (doubling the wait), or give up after
        max_attempts (or at once when permanent); returns the new status."""
        now = self._now()
        give_up = permanent or email.attempts >= self.max_attempts
        wait = min(self.backoff_seconds * 2 ** max(email.attempts - 1, 0), self.backoff_max_seconds)
        status = "failed" if give_up else "queued"
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == email.id, outbox.c.status == "sending")
                .values(
                    status=status,
                    lease_until=None,
                    last_error=error[:MAX_ERROR],
                    next_attempt_at=now + dt.timedelta(seconds=wait),
                )
            )
        return status

    def retry(self, email_id: int) -> bool:
        """Send a failed email again now (the support lead's retry); False if it is not failed."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(outbox)
                    .where(outbox.c.id == email_id, outbox.c.status == "failed")
                    .values(status="queued", attempts=0, next_attempt_at=self._now())
                ).rowcount
            )

    # -- reads --------------------------------------------------------------------------------

    def get(self, email_id: int) -> Email | None:
        """One email, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(outbox).where(outbox.c.id == email_id)).first()
        return _email(row) if row else None

    def list(self, status: str | None = None, limit: int = 50) -> list[Email]:
        """Newest emails first, optionally of one status."""
        query = select(outbox)
        if status:
            query = query.where(outbox.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(outbox.c.id.desc()).limit(limit)).all()
        return [_email(row) for row in rows]

    def counts(self, since: dt.datetime | None = None) -> dict[str, int]:
        """Emails in each status (every status present), created since a time if given."""
        query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        if since is not None:
            query = query.where(outbox.c.created_at >= since)
        with self.engine.connect() as conn:
            found = dict(conn.execute(query).all())
        return {s: int(found.get(s, 0)) for s in ("queued", "sending", "sent", "failed")}

    def by_ticket(self, ticket_ids: list[int]) -> dict[int, dict[str, int]]:
        """For each ticket, how many of its emails are in each status (tickets without none)."""
        if not ticket_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox.c.ticket_id, outbox.c.status, func.count())
                .where(outbox.c.ticket_id.in_(ticket_ids))
                .group_by(outbox.c.ticket_id, outbox.c.status)
            ).all()
        found: dict[int, dict[str, int]] = {}
        for ticket_id, status, count in rows:
            found.setdefault(ticket_id, {})[status] = int(count)
        return found
