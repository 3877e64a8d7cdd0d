"""The back-in-stock emails: the confirmation a new subscription sends, and the one alert a sync
sends when the variant is in stock again, both through the durable outbox (bot.mail).

Every email carries a signed one-click unsubscribe link, in its text and in List-Unsubscribe
(with List-Unsubscribe-Post, RFC 8058: a mail client's "unsubscribe" POSTs to it). The pages
behind the links (bot.web.restock) show a button on GET and act on POST only, so a link
scanner that opens every link in an email neither confirms nor unsubscribes anyone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urljoin

from sqlalchemy import Connection, Engine

from bot.catalog.alerts import Alert, AlertStore, Subscribed, Wanted, restock_secret, sign
from bot.mail.message import compose
from bot.mail.outbox import Outbox

logger = logging.getLogger(__name__)


@dataclass
class Notified:
    """What one pass after a sync did."""

    sent: list[int] = field(default_factory=list)  # subscription ids whose email was queued
    waiting: int = 0  # confirmed subscriptions whose variant is still not in stock

    def to_dict(self) -> dict:
        """JSON form."""
        return {"sent": len(self.sent), "waiting": self.waiting}


class AlertMailer:
    """Subscribes (queuing the confirmation) and sends the alerts a sync makes due."""

    def __init__(
        self,
        store: AlertStore,
        outbox: Outbox,
        sender: str,
        public_url: str,
        secret: str,
        confirm_days: int = 7,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.sender = sender
        self.public_url = public_url.rstrip("/")
        self.secret = secret
        self.confirm_days = confirm_days

    @classmethod
    def from_settings(cls, settings, engine: Engine) -> AlertMailer:
        """The mailer over the handoff database the settings describe."""
        from bot.mail.mailer import open_outbox

        return cls(
            AlertStore(engine),
            open_outbox(settings, engine),
            settings.mail_from,
            settings.public_url,
            restock_secret(settings),
            settings.restock_confirm_days,
        )

    # -- links ---------------------------------------------------------------------------------

    def confirm_link(self, alert: Alert) -> str:
        """The confirmation page, valid for confirm_days from the subscription."""
        expires = int(alert.created_at.timestamp()) + self.confirm_days * 86400
        token = sign(self.secret, "confirm", alert.id, expires)
        return f"{self.public_url}/restock/confirm?t={token}"

    def unsubscribe_link(self, alert: Alert) -> str:
        """The one-click unsubscribe page (the link never expires)."""
        token = sign(self.secret, "unsubscribe", alert.id)
        return f"{self.public_url}/restock/unsubscribe?t={token}"

    # -- subscribing ---------------------------------------------------------------------------

    def subscribe(
        self, email: str, wanted: Wanted, conversation_id: str | None = None
    ) -> Subscribed:
        """Subscribe, queuing the confirmation email with a new subscription."""

        def confirmation(conn: Connection, alert: Alert) -> None:
            self.outbox.enqueue(
                self.confirmation_email(alert),
                "restock_confirm",
                dedupe_key=f"restock:{alert.id}:confirm",
                conn=conn,
            )

        return self.store.subscribe(email, wanted, conversation_id, on_created=confirmation)

    def confirmation_email(self, alert: Alert) -> EmailMessage:
        """Please confirm: the link that turns the subscription on."""
        what = _what(alert)
        body = (
            f"You asked us to tell you when {what} is in stock.\n\n"
            f"Please confirm that this is your email address:\n{self.confirm_link(alert)}\n\n"
            f"The link works for {self.confirm_days} days. If you did not ask for this, ignore "
            "this email: without your confirmation we send you nothing more.\n\n"
            f"Stop: {self.unsubscribe_link(alert)}\n"
        )
        subject = f"Confirm: tell me when {alert.product_title} is in stock"
        return self._compose(alert, subject, body)

    # -- after a sync --------------------------------------------------------------------------

    def notify(self, catalog_dir: Path, now: dt.datetime | None = None) -> Notified:
        """Queue one email for each confirmed subscription whose variant the published
        catalogue has in stock, and mark it sent (in one transaction each: never twice)."""
        from bot.catalog.store import CatalogNotFound, CatalogVersion

        done = Notified()
        waiting = self.store.confirmed_for()
        if not waiting:
            return done
        try:
            version = CatalogVersion(catalog_dir)
        except CatalogNotFound:
            done.waiting = len(waiting)
            return done
        try:
            variants = {v.id: (p, v) for p in version.all_products() for v in p.variants}
        finally:
            version.close()
        now = now or dt.datetime.now(dt.UTC)
        for alert in waiting:
            found = variants.get(alert.variant_id)
            if found is None or found[1].availability != "in_stock":
                done.waiting += 1
                continue
            product, item = found

            def queue(conn: Connection, sent: Alert, product=product, item=item) -> None:
                self.outbox.enqueue(
                    self.restock_email(sent, product, item, now),
                    "restock",
                    dedupe_key=f"restock:{sent.id}:back",
                    conn=conn,
                )

            if self.store.send_once(alert.id, queue):
                done.sent.append(alert.id)
        if done.sent:
            logger.info("back-in-stock: %s alert emails queued", len(done.sent))
        return done

    def restock_email(self, alert: Alert, product, item, now: dt.datetime) -> EmailMessage:
        """It is back: the product, the variant, its price now and its page."""
        price = item.current_price(now)
        variant = " / ".join(w for w in (item.color, item.size) if w)
        link = urljoin(self.public_url + "/", item.link or alert.link or "/")
        lines = [
            f"Good news: {product.title} is in stock now.",
            "",
            f"Product: {product.title}",
            *([f"Variant: {variant}"] if variant else []),
            f"Price: {price}",
            f"See it: {link}",
            "",
            "This was a one-time alert: we will not write again about it.",
            f"Unsubscribe: {self.unsubscribe_link(alert)}",
        ]
        return self._compose(alert, f"{product.title} is in stock now", "\n".join(lines) + "\n")

    def _compose(self, alert: Alert, subject: str, body: str) -> EmailMessage:
        unsubscribe = self.unsubscribe_link(alert)
        return compose(
            self.sender,
            alert.email,
            subject,
            body,
            automatic=True,
            extra_headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )


def _what(alert: Alert) -> str:
    variant = alert.variant_title
    if variant and variant != alert.product_title:
        return f"{alert.product_title} ({variant})"
    return alert.product_title
