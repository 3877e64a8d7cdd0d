"""The mail worker: hands the outbox's due emails to the mail server, one short try each.

`bot up` runs it as its own process (`bot mail worker`, with a health check on mail_port);
several can run at once (each claims different emails). It also moves the demo store's
password-reset emails into the outbox, so they are delivered like every other email.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field

from bot.mail.message import compose
from bot.mail.outbox import Email, Outbox
from bot.mail.smtp import DeliveryError, MailConfigError, PartialDelivery, SmtpServer

log = logging.getLogger(__name__)


class StoreMail:
    """A store backend that keeps its own emails to send (the demo store's reset outbox)."""

    def pending_emails(self) -> list[dict]:  # pragma: no cover - an interface
        """Rows with id, to_email, subject, body, created_at not yet handed over."""
        raise NotImplementedError

    def handed_over(self, row_id: int, message_id: str) -> None:  # pragma: no cover
        """Mark a row as queued in the bot's outbox."""
        raise NotImplementedError


@dataclass
class Round:
    """What one pass of the worker did."""

    relayed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class MailWorker:
    """Sends due emails through the mail server; each pass is safe to repeat after a crash."""

    def __init__(
        self,
        outbox: Outbox,
        server: SmtpServer | None,
        sender: str,
        store: StoreMail | None = None,
        batch: int = 20,
    ) -> None:
        self.outbox = outbox
        self.server = server
        self.sender = sender
        self.store = store
        self.batch = batch

    @classmethod
    def from_settings(cls, settings, outbox: Outbox, context=None) -> MailWorker:
        """The worker the settings describe (no server: emails wait, and the log says why)."""
        server = None
        if settings.smtp_url is not None and settings.smtp_url.get_secret_value():
            server = SmtpServer.from_url(
                settings.smtp_url.get_secret_value(), settings.mail_timeout_seconds, context=context
            )
        store = None
        if settings.store_backend == "demo":
            from bot.store.demo import DemoStore

            store = DemoStore(settings.data_dir / "demo_store.db")
        return cls(outbox, server, settings.mail_from, store)

    def relay_store(self) -> int:
        """Queue the store's own emails (idempotent: a row queued before a crash is not queued
        twice); returns how many were handed over."""
        if self.store is None:
            return 0
        count = 0
        for row in self.store.pending_emails():
            key = (
                "store:"
                + hashlib.sha256(
                    f"{row['id']}|{row['created_at']}|{row['to_email']}".encode()
                ).hexdigest()[:40]
            )
            message = compose(
                self.sender, row["to_email"], row["subject"], row["body"], automatic=True
            )
            self.outbox.enqueue(message, "password_reset", dedupe_key=key)
            self.store.handed_over(row["id"], str(message["Message-ID"]))
            count += 1
        return count

    def run_once(self) -> Round:
        """Relay the store's emails, then try every due email once."""
        done = Round(relayed=self.relay_store())
        if self.server is None:
            return done
        for email in self.outbox.claim(self.batch):
            self._send(email, done)
        return done

    def _send(self, email: Email, done: Round) -> None:
        try:
            self.server.send(self.sender_address(), email.recipients, email.raw)
        except PartialDelivery as exc:
            log.warning("email %s (%s) partly refused: %s", email.id, email.kind, exc)
            self.outbox.sent(email.id)
            done.sent += 1
        except DeliveryError as exc:
            status = self.outbox.failed(email, str(exc), permanent=exc.permanent)
            done.errors.append(str(exc))
            if status == "failed":
                done.failed += 1
                log.error(
                    "email %s (%s, %s) failed for good after %d tries: %s",
                    email.id, email.kind, email.message_id, email.attempts, exc,
                )  # fmt: skip
            else:
                done.retrying += 1
                log.warning("email %s: try %d failed: %s", email.id, email.attempts, exc)
        else:
            self.outbox.sent(email.id)
            done.sent += 1

    def sender_address(self) -> str:
        """The envelope sender: the bare address of mail_from."""
        from email.utils import parseaddr

        return parseaddr(self.sender)[1]

    def run_forever(self, stop: threading.Event, poll_seconds: float) -> None:
        """Pass after pass until stop is set; an unexpected error is logged and the next pass
        goes on (the emails stay in the outbox)."""
        if self.server is None:
            log.warning("smtp_url is not set: emails are kept in the outbox until it is")
        else:
            log.info("mail worker sending through %s", self.server.where)
        while not stop.is_set():
            try:
                done = self.run_once()
                busy = done.sent or done.relayed
            except Exception:
                log.exception("mail worker pass failed; trying again")
                busy = False
            if not busy:
                stop.wait(poll_seconds)


def check_smtp_url(url) -> str | None:
    """What is wrong with smtp_url, a SecretStr or text (None: usable or unset)."""
    text = url.get_secret_value() if hasattr(url, "get_secret_value") else url
    if not text:
        return None
    try:
        SmtpServer.from_url(text)
    except MailConfigError as exc:
        return str(exc)
    return None
