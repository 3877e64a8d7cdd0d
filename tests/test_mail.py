"""Email through the durable outbox, against a real SMTP server started by the test: delivery,
STARTTLS, TLS, AUTH, an outage (nothing lost, nothing sent twice), a dead worker's lease, and
the password-reset emails of the demo store."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.handoff.db import create_db_engine, migrate
from bot.mail.message import compose
from bot.mail.outbox import Outbox
from bot.mail.smtp import DeliveryError, SmtpServer
from bot.mail.worker import MailWorker
from bot.store.demo import DemoStore
from tests.smtp_server import SmtpTestServer

# a plain-text test server that asks for AUTH (the worker side refuses that only for smtp://)
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SENDER = "Northwind Support <support@shop.example>"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def engine(queue_url: str):
    engine = create_db_engine(queue_url)
    migrate(engine)
    yield engine
    engine.dispose()


def outbox_of(engine: Engine, clock: Clock) -> Outbox:
    return Outbox(engine, max_attempts=4, backoff_seconds=10, backoff_max_seconds=60, clock=clock)


def email(n: int, to: str = "team@help.example"):
    return compose(SENDER, to, f"Message {n}", f"Body {n}: café ✓")


def test_an_email_is_delivered_once_and_marked_sent(engine: Engine, tmp_path: Path) -> None:
    server = SmtpTestServer(tmp_path).start()
    try:
        clock = Clock()
        outbox = outbox_of(engine, clock)
        email_id = outbox.enqueue(email(1), "other")
        worker = MailWorker(outbox, SmtpServer.from_url(server.url()), SENDER)
        assert worker.run_once().sent == 1
        assert worker.run_once().sent == 0  # nothing left
        [got] = server.received
        assert got.sender == "support@shop.example" and got.recipients == ["team@help.example"]
        parsed = got.message
        assert parsed["Subject"] == "Message 1"
        assert parsed.get_content().strip() == "Body 1: café ✓"
        stored = outbox.get(email_id)
        assert stored.status == "sent" and stored.attempts == 1
        assert parsed["Message-ID"] == stored.message_id
    finally:
        server.stop()


def test_the_same_dedupe_key_queues_one_email(engine: Engine) -> None:
    outbox = outbox_of(engine, Clock())
    assert outbox.enqueue(email(1), "handoff", dedupe_key="ticket:1:created") is not None
    assert outbox.enqueue(email(1), "handoff", dedupe_key="ticket:1:created") is None
    assert outbox.counts()["queued"] == 1


def test_starttls_and_auth_with_a_checked_certificate(tmp_path: Path) -> None:
    server = SmtpTestServer(tmp_path, mode="starttls", auth=("mailer", "s3cret p@ss")).start()
    try:
        url = server.url("smtp", "mailer", "s3cret%20p%40ss")  # percent-encoded in the URL
        smtp = SmtpServer.from_url(url, context=server.client_context())
        smtp.send("support@shop.example", ["a@b.example"], email(1).as_string())
        [got] = server.received
        assert got.login == "mailer"
        assert "s3cret" not in repr(smtp) and "s3cret" not in smtp.where
        # a wrong password is refused, and the error does not carry it
        wrong = SmtpServer.from_url(
            server.url("smtp", "mailer", "nope"), context=server.client_context()
        )
        with pytest.raises(DeliveryError, match="refused the user and password") as caught:
            wrong.send("support@shop.example", ["a@b.example"], email(2).as_string())
        assert "nope" not in str(caught.value) and not caught.value.permanent
        # a certificate the client does not trust is refused (no silent downgrade)
        untrusted = SmtpServer.from_url(url)
        with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED|certificate"):
            untrusted.send("support@shop.example", ["a@b.example"], email(3).as_string())
        assert len(server.received) == 1
    finally:
        server.stop()


def test_smtp_refuses_a_server_without_starttls(tmp_path: Path) -> None:
    server = SmtpTestServer(tmp_path, mode="plain").start()
    try:
        smtp = SmtpServer.from_url(server.url("smtp", "mailer", "secret"))
        with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
            smtp.send("support@shop.example", ["a@b.example"], email(1).as_string())
        assert server.received == []
    finally:
        server.stop()


def test_smtps_speaks_tls_from_the_first_byte(tmp_path: Path) -> None:
    server = SmtpTestServer(tmp_path, mode="tls", auth=("mailer", "pw")).start()
    try:
        smtp = SmtpServer.from_url(
            server.url("smtps", "mailer", "pw"), context=server.client_context()
        )
        smtp.send("support@shop.example", ["a@b.example"], email(1).as_string())
        assert [r.login for r in server.received] == ["mailer"]
    finally:
        server.stop()


def test_a_server_down_then_back_loses_nothing_and_sends_nothing_twice(
    engine: Engine, queue_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = SmtpTestServer(tmp_path)  # not started: the mail server is down
    clock = Clock()
    outbox = outbox_of(engine, clock)
    ids = [outbox.enqueue(email(n), "other") for n in range(5)]
    url = server.url("smtp+insecure")
    worker = MailWorker(outbox, SmtpServer.from_url(url, timeout=5), SENDER)
    with caplog.at_level(logging.WARNING):
        first = worker.run_once()
    assert first.retrying == 5 and first.sent == 0
    assert all(outbox.get(i).status == "queued" and outbox.get(i).attempts == 1 for i in ids)
    # not due again before the backoff has passed
    clock.advance(5)
    assert worker.run_once().sent == 0 and outbox.get(ids[0]).attempts == 1
    # every process restarts: new engines, a new worker; the server comes back
    engine.dispose()
    fresh = create_db_engine(queue_url)
    try:
        server.start()
        clock.advance(10)
        restarted = MailWorker(outbox_of(fresh, clock), SmtpServer.from_url(url), SENDER)
        assert restarted.run_once().sent == 5
        clock.advance(3600)
        assert restarted.run_once().sent == 0
        got = [r.message["Message-ID"] for r in server.received]
        assert sorted(got) == sorted(outbox.get(i).message_id for i in ids)  # each exactly once
        assert outbox_of(fresh, clock).counts() == {
            "queued": 0,
            "sending": 0,
            "sent": 5,
            "failed": 0,
        }
    finally:
        server.stop()
        fresh.dispose()
    assert "Connection refused" in caplog.text or "Errno" in caplog.text


def test_a_dead_workers_email_is_sent_again_after_its_lease_with_the_same_message_id(
    engine: Engine, tmp_path: Path
) -> None:
    server = SmtpTestServer(tmp_path).start()
    try:
        clock = Clock()
        outbox = outbox_of(engine, clock)
        email_id = outbox.enqueue(email(1), "other")
        [claimed] = outbox.claim()  # a worker took it, then died before sending
        assert outbox.claim() == []  # nobody else takes it while the lease runs
        worker = MailWorker(outbox, SmtpServer.from_url(server.url()), SENDER)
        assert worker.run_once().sent == 0
        clock.advance(outbox.lease_seconds + 1)
        assert worker.run_once().sent == 1
        [got] = server.received
        assert got.message["Message-ID"] == claimed.message_id
        assert outbox.get(email_id).attempts == 2
    finally:
        server.stop()


def test_an_email_that_keeps_failing_is_marked_failed_and_can_be_retried(
    engine: Engine, tmp_path: Path
) -> None:
    server = SmtpTestServer(tmp_path)
    clock = Clock()
    outbox = outbox_of(engine, clock)
    email_id = outbox.enqueue(email(1), "handoff")
    worker = MailWorker(outbox, SmtpServer.from_url(server.url(), timeout=5), SENDER)
    waits = []
    for _ in range(4):
        before = outbox.get(email_id)
        worker.run_once()
        after = outbox.get(email_id)
        waits.append((after.next_attempt_at - before.next_attempt_at).total_seconds())
        clock.advance(60)
    failed = outbox.get(email_id)
    assert failed.status == "failed" and failed.attempts == 4
    assert "Connection refused" in failed.last_error or "Errno" in failed.last_error
    assert [e.id for e in outbox.list("failed")] == [email_id]
    assert outbox.counts()["failed"] == 1
    server.start()
    try:
        assert outbox.retry(email_id) and not outbox.retry(email_id)
        assert worker.run_once().sent == 1
        assert len(server.received) == 1
    finally:
        server.stop()


def test_the_demo_stores_reset_emails_are_delivered_once(engine: Engine, tmp_path: Path) -> None:
    server = SmtpTestServer(tmp_path).start()
    try:
        store = DemoStore(tmp_path / "store.db")
        address = store.customer_emails(1)[0]
        assert store.request_password_reset(address) == "sent"
        outbox = outbox_of(engine, Clock())
        worker = MailWorker(outbox, SmtpServer.from_url(server.url()), SENDER, store=store)
        done = worker.run_once()
        assert done.relayed == 1 and done.sent == 1
        assert worker.run_once().relayed == 0
        [got] = server.received
        assert got.recipients == [address] and got.message["Subject"] == "Reset your password"
        assert "reset-password?token=" in got.message.get_content()
        assert got.message["Auto-Submitted"] == "auto-generated"
        [row] = store.outbox(address)
        assert row["message_id"] == got.message["Message-ID"]
    finally:
        server.stop()
