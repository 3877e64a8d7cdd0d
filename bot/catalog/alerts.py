"""Back-in-stock alerts: a customer's email for one variant, confirmed by a link, sent once.

A subscription is 'pending' until the customer opens the signed link of the confirmation email
(double opt-in: nobody gets alerts for an address they do not read), then 'confirmed'; the first
sync that finds the variant in stock moves it to 'sent' and queues the one email in the same
transaction (a conditional UPDATE: two syncs at once send it once). 'unsubscribed' ends it. One
live (pending or confirmed) subscription per email and variant. The email is personal data:
`purge` deletes ended ones after the retention and unconfirmed ones after the link expired;
`forget` deletes every subscription of one address (a customer's erasure request). The table
lives in the handoff database (migration 0010); SQLite or PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot.handoff.schema import metadata

STATUSES = ("pending", "confirmed", "sent", "unsubscribed")
LIVE = ("pending", "confirmed")

alerts = Table(
    "restock_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False),  # normalised (lower case)
    Column("product_id", String(128), nullable=False),
    Column("variant_id", String(128), nullable=False),
    Column("product_title", Text, nullable=False),
    Column("variant_title", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("conversation_id", String(128)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True)),  # unsubscribed
    Index("restock_alerts_due", "status", "variant_id"),
    Index("restock_alerts_by_email", "email"),
    Index(
        "one_live_restock_alert",
        "email",
        "variant_id",
        unique=True,
        sqlite_where=text("status IN ('pending', 'confirmed')"),
        postgresql_where=text("status IN ('pending', 'confirmed')"),
    ),
)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes; they were stored as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Wanted:
    """What a customer asked to be told about: one variant of one product."""

    product_id: str
    variant_id: str
    product_title: str
    variant_title: str
    link: str


@dataclass(frozen=True)
class Alert:
    """One subscription."""

    id: int
    email: str
    product_id: str
    variant_id: str
    product_title: str
    variant_title: str
    link: str
    status: str
    conversation_id: str | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    sent_at: dt.datetime | None
    ended_at: dt.datetime | None

    def to_dict(self) -> dict:
        """JSON form."""
        data = dict(self.__dict__)
        for key in ("created_at", "confirmed_at", "sent_at", "ended_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def _alert(row) -> Alert:
    values = dict(row._mapping)
    for key in ("created_at", "confirmed_at", "sent_at", "ended_at"):
        values[key] = _utc(values[key])
    return Alert(**values)


@dataclass(frozen=True)
class Subscribed:
    """What subscribe did: the subscription, and whether it is new (a confirmation to send)."""

    alert: Alert
    created: bool


class AlertStore:
    """Subscriptions in the handoff database; safe for many processes."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def now(self) -> dt.datetime:
        """The store's clock, as an aware UTC time."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC)

    def subscribe(
        self,
        email: str,
        wanted: Wanted,
        conversation_id: str | None = None,
        on_created: Callable[[Connection, Alert], None] | None = None,
    ) -> Subscribed:
        """The live subscription of this email to this variant, made when there is none;
        `on_created` runs in the new row's transaction (to queue its confirmation email)."""
        email = email.strip().lower()
        for _ in range(2):
            try:
                with self.engine.begin() as conn:
                    found = self._live(conn, email, wanted.variant_id)
                    if found is not None:
                        return Subscribed(found, False)
                    new_id = conn.execute(
                        insert(alerts).values(
                            email=email,
                            product_id=wanted.product_id,
                            variant_id=wanted.variant_id,
                            product_title=wanted.product_title[:500],
                            variant_title=wanted.variant_title[:500],
                            link=wanted.link[:2000],
                            status="pending",
                            conversation_id=conversation_id,
                            created_at=self.now(),
                        )
                    ).inserted_primary_key[0]
                    alert = _alert(conn.execute(select(alerts).where(alerts.c.id == new_id)).one())
                    if on_created is not None:
                        on_created(conn, alert)
                    return Subscribed(alert, True)
            except IntegrityError:  # the same subscription made by another process just now
                continue
        raise RuntimeError(f"could not subscribe {email} to {wanted.variant_id}")

    def _live(self, conn: Connection, email: str, variant_id: str) -> Alert | None:
        row = conn.execute(
            select(alerts).where(
                alerts.c.email == email,
                alerts.c.variant_id == variant_id,
                alerts.c.status.in_(LIVE),
            )
        ).first()
        return _alert(row) if row else None

    def get(self, alert_id: int) -> Alert | None:
        """One subscription, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return _alert(row) if row else None

    def confirm(self, alert_id: int) -> Alert | None:
        """Confirm a pending subscription (confirming twice changes nothing); None when it is
        gone (purged, forgotten)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status == "pending")
                .values(status="confirmed", confirmed_at=self.now())
            )
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return _alert(row) if row else None

    def unsubscribe(self, alert_id: int) -> Alert | None:
        """End a subscription (one not sent yet sends nothing); None when it is gone."""
        with self.engine.begin() as conn:
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status.in_(LIVE))
                .values(status="unsubscribed", ended_at=self.now())
            )
            row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).first()
        return _alert(row) if row else None

    def confirmed_for(self, variant_ids: list[str] | None = None) -> list[Alert]:
        """Confirmed subscriptions not sent yet (of these variants, or all)."""
        query = select(alerts).where(alerts.c.status == "confirmed")
        if variant_ids is not None:
            query = query.where(alerts.c.variant_id.in_(variant_ids))
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query.order_by(alerts.c.id))]

    def send_once(self, alert_id: int, queue: Callable[[Connection, Alert], None]) -> bool:
        """Mark a confirmed subscription sent and queue its email in the same transaction;
        False when it was not confirmed any more (sent by another sync, unsubscribed)."""
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status == "confirmed")
                .values(status="sent", sent_at=self.now())
            ).rowcount
            if not taken:
                return False
            queue(conn, _alert(conn.execute(select(alerts).where(alerts.c.id == alert_id)).one()))
            return True

    def counts(self) -> dict[str, int]:
        """Subscriptions in each status (every status present)."""
        with self.engine.connect() as conn:
            found = dict(
                conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status)).all()
            )
        return {s: int(found.get(s, 0)) for s in STATUSES}

    def waiting(self, limit: int = 20) -> list[dict]:
        """The variants with the most confirmed subscriptions waiting (for the support lead)."""
        query = (
            select(
                alerts.c.product_id,
                alerts.c.variant_id,
                func.max(alerts.c.product_title),
                func.max(alerts.c.variant_title),
                func.count(),
            )
            .where(alerts.c.status == "confirmed")
            .group_by(alerts.c.product_id, alerts.c.variant_id)
            .order_by(func.count().desc(), alerts.c.variant_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                {"product_id": p, "variant_id": v, "title": t, "variant": vt, "waiting": int(n)}
                for p, v, t, vt, n in conn.execute(query)
            ]

    def purge(self, retention_days: int, confirm_days: int) -> int:
        """Delete subscriptions that ended (sent, unsubscribed) more than retention_days ago,
        and pending ones whose confirmation link expired; how many."""
        now = self.now()
        ended = now - dt.timedelta(days=retention_days)
        unconfirmed = now - dt.timedelta(days=confirm_days)
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    delete(alerts).where(
                        or_(
                            and_(alerts.c.status == "sent", alerts.c.sent_at < ended),
                            and_(alerts.c.status == "unsubscribed", alerts.c.ended_at < ended),
                            and_(alerts.c.status == "pending", alerts.c.created_at < unconfirmed),
                        )
                    )
                ).rowcount
                or 0
            )

    def forget(self, email: str) -> int:
        """Delete every subscription of one address (an erasure request); how many."""
        with self.engine.begin() as conn:
            return (
                conn.execute(delete(alerts).where(alerts.c.email == email.strip().lower())).rowcount
                or 0
            )


# -- signed links -------------------------------------------------------------------------------

Purpose = str  # "confirm" or "unsubscribe"


def sign(secret: str, purpose: Purpose, alert_id: int, expires: int = 0) -> str:
    """A link's token: the subscription, when it expires (Unix time, 0: never) and an HMAC of
    both and of what it is for, so a confirm token cannot unsubscribe and no id can be guessed."""
    mac = _mac(secret, purpose, alert_id, expires)
    return f"{alert_id}.{expires}.{mac}"


def _mac(secret: str, purpose: Purpose, alert_id: int, expires: int) -> str:
    message = f"restock:{purpose}:{alert_id}:{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


class BadToken(ValueError):
    """A link that was not made here, was made for something else, or has expired."""


def verify(secret: str, purpose: Purpose, token: str, now: float | None = None) -> int:
    """The subscription a token is for; BadToken (saying which) when it is not valid."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 12:
        raise BadToken("This link is not complete: copy the whole link from the email.")
    alert_id, expires, mac = int(parts[0]), int(parts[1]), parts[2]
    if not hmac.compare_digest(mac.encode(), _mac(secret, purpose, alert_id, expires).encode()):
        raise BadToken("This link is not valid: copy the whole link from the email.")
    if expires and (now if now is not None else time.time()) >= expires:
        raise BadToken("This link has expired: ask the assistant again to be told.")
    return alert_id


def restock_secret(settings) -> str:
    """The key of the alerts' links: generated once in data_dir/restock.key."""
    from bot.tokens import stored_secret

    return stored_secret(settings.data_dir / "restock.key")
