"""Back-in-stock alerts: the store (SQLite and PostgreSQL), the signed links, the chat step, and
end to end: subscribe, confirm by the emailed link, a sync that finds the item back sends one
email to a real SMTP server, the next sync none, and the email's unsubscribe link works."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bot.catalog.alert_mail import AlertMailer
from bot.catalog.alerts import AlertStore, BadToken, Wanted, sign, verify
from bot.catalog.sync import SyncOptions, sync
from bot.dialogue import replies
from bot.dialogue.followup import Topic
from bot.dialogue.products import answer_product
from bot.dialogue.restock import Subscribed, asks_for_alert, restock_step
from bot.dialogue.turn import Turn
from bot.handoff.db import create_db_engine, migrate
from bot.mail.outbox import Outbox
from bot.mail.smtp import SmtpServer
from bot.mail.worker import MailWorker
from bot.settings import Settings
from bot.web.app import create_app
from tests.smtp_server import SmtpTestServer

SAMPLES = Path(__file__).parent / "catalog"
SENDER = "Northwind Support <support@shop.example>"
SECRET = "restock-test-secret-0123456789"
RUNNER = Wanted(
    "RUN",
    "RUN-CHAR-240",
    "Linen Table Runner",
    "Linen Table Runner - Charcoal / 240 cm",
    "https://shop.example/products/linen-table-runner?variant=2",
)
OFFER = {
    "product": "RUN",
    "variant": "RUN-CHAR-240",
    "title": "Linen Table Runner",
    "variant_title": "Linen Table Runner - Charcoal / 240 cm",
    "link": RUNNER.link,
}


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(queue_url: str):
    engine = create_db_engine(queue_url)
    migrate(engine)
    yield engine
    engine.dispose()


# -- the store ----------------------------------------------------------------------------------


def test_one_live_alert_per_email_and_variant_confirmed_sent_once(engine: Engine) -> None:
    clock = Clock()
    store = AlertStore(engine, clock)
    first = store.subscribe("Ana@Example.com ", RUNNER, "conv-1")
    again = store.subscribe("ana@example.com", RUNNER, "conv-2")
    assert first.created and not again.created and again.alert.id == first.alert.id
    assert first.alert.email == "ana@example.com" and first.alert.status == "pending"
    other = store.subscribe("ana@example.com", Wanted("MUG-1", "MUG-1", "Mug", "Mug", "/m"))
    assert other.created
    assert store.confirmed_for() == []  # nothing is sent before it is confirmed
    assert store.confirm(first.alert.id).status == "confirmed"
    assert store.confirm(first.alert.id).status == "confirmed"  # twice changes nothing
    assert [a.id for a in store.confirmed_for(["RUN-CHAR-240"])] == [first.alert.id]
    queued: list[int] = []
    assert store.send_once(first.alert.id, lambda conn, a: queued.append(a.id))
    assert not store.send_once(first.alert.id, lambda conn, a: queued.append(a.id))
    assert queued == [first.alert.id] and store.get(first.alert.id).status == "sent"
    # once sent, the same customer may ask again for the next time
    assert store.subscribe("ana@example.com", RUNNER).created
    assert store.counts() == {"pending": 2, "confirmed": 0, "sent": 1, "unsubscribed": 0}
    assert store.unsubscribe(other.alert.id).status == "unsubscribed"
    assert not store.send_once(other.alert.id, lambda conn, a: queued.append(a.id))


def test_retention_and_erasure_delete_the_customers_email(engine: Engine) -> None:
    clock = Clock()
    store = AlertStore(engine, clock)
    sent = store.subscribe("old@example.com", RUNNER).alert
    store.confirm(sent.id)
    store.send_once(sent.id, lambda conn, a: None)
    never = store.subscribe("never@example.com", RUNNER).alert
    waiting = store.subscribe("wait@example.com", RUNNER).alert
    store.confirm(waiting.id)
    clock.now += 8 * 86400
    assert store.purge(retention_days=180, confirm_days=7) == 1  # the unconfirmed one
    assert store.get(never.id) is None and store.get(sent.id) is not None
    clock.now += 180 * 86400
    assert store.purge(retention_days=180, confirm_days=7) == 1  # the sent one
    assert store.get(waiting.id) is not None  # a confirmed one waits for its stock
    assert store.forget("WAIT@example.com") == 1 and store.get(waiting.id) is None


def test_a_link_works_only_for_its_purpose_until_it_expires() -> None:
    token = sign(SECRET, "confirm", 42, expires=2_000)
    assert verify(SECRET, "confirm", token, now=1_999) == 42
    with pytest.raises(BadToken, match="expired"):
        verify(SECRET, "confirm", token, now=2_000)
    with pytest.raises(BadToken, match="not valid"):
        verify(SECRET, "unsubscribe", token, now=1_000)  # a confirm link cannot unsubscribe
    with pytest.raises(BadToken, match="not valid"):
        verify(SECRET, "confirm", token.replace("42.", "43.", 1), now=1_000)
    with pytest.raises(BadToken, match="not complete"):
        verify(SECRET, "confirm", "42", now=1_000)
    assert verify(SECRET, "unsubscribe", sign(SECRET, "unsubscribe", 7)) == 7  # never expires


def raw_header(raw: bytes, name: str) -> str:
    """A header's value exactly as the message's bytes carry it (no decoding, no unfolding)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    [line] = [x for x in head.split(b"\r\n") if x.lower().startswith(name.lower().encode() + b":")]
    return line.split(b":", 1)[1].strip().decode("ascii")


def test_list_unsubscribe_is_a_plain_url_in_the_raw_message(engine: Engine) -> None:
    # RFC 8058 one-click unsubscribe: the header must be <https://...>, not an RFC 2047 word
    mailer = AlertMailer(
        AlertStore(engine), Outbox(engine), SENDER, "https://shop.example/a/long/base", SECRET
    )
    alert = mailer.subscribe("ana@example.com", RUNNER).alert
    [queued] = Outbox(engine).list()
    raw = queued.raw.encode("utf-8")
    link = mailer.unsubscribe_link(alert)
    assert len(f"List-Unsubscribe: <{link}>") > 78  # what the email package would encode
    assert raw_header(raw, "List-Unsubscribe") == f"<{link}>"
    assert raw_header(raw, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert b"=?" not in raw.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


# -- the chat step ------------------------------------------------------------------------------


class Subscriptions:
    """The caller's side of the step: what it was asked to subscribe, and its answer."""

    def __init__(self, state: str = "sent") -> None:
        self.state = state
        self.calls: list[tuple[str, str]] = []

    def __call__(self, email: str, offer: dict) -> Subscribed:
        self.calls.append((email, offer["variant"]))
        return Subscribed(self.state, 1800)


def shown(**restock) -> Topic:
    return Topic("is the charcoal runner in stock", 1, products=("RUN",), restock=OFFER | restock)


def step(text: str, topic: Topic | None, subs: Subscriptions, number: int = 2, **turn):
    return restock_step(Turn(text=text, number=number, topic=topic, **turn), subs)


def test_the_button_or_the_words_ask_for_the_email_then_subscribe() -> None:
    assert asks_for_alert(replies.RESTOCK_PAYLOAD)
    for words in ("tell me when it's back", "let me know when it's in stock", "notify me"):
        assert asks_for_alert(words), words
    assert not asks_for_alert("when will the runner be back?")
    subs = Subscriptions()
    asked = step(replies.RESTOCK_PAYLOAD, shown(), subs)
    assert "What's your email address?" in asked.says[0].text
    topic = Topic.from_slot(asked.slots["topic"])
    assert topic.restock["asking"] and topic.products == ("RUN",) and subs.calls == []
    done = step("it's ana@example.com", topic, subs, number=3)
    assert subs.calls == [("ana@example.com", "RUN-CHAR-240")]
    assert "sent a link to ana@example.com" in done.says[0].text
    assert done.slots["customer_email"] == "ana@example.com"
    assert not Topic.from_slot(done.slots["topic"]).restock.get("asking")


def test_a_bad_email_is_asked_again_and_a_typo_is_checked_once() -> None:
    subs = Subscriptions()
    asking = shown(asking=True)
    bad = step("ana@", asking, subs)
    assert bad.says[0].text == replies.RESTOCK_EMAIL_NOT_VALID and subs.calls == []
    typo = step("ana@gmial.com", asking, subs)
    assert typo.says[0].text == "Did you mean **ana@gmail.com**?" and subs.calls == []
    assert [b.payload for b in typo.says[0].buttons] == [
        '/inform{"email": "ana@gmail.com"}',
        '/inform{"email": "ana@gmial.com"}',
    ]
    checked = Topic.from_slot(typo.slots["topic"])
    # the same address again after the question: that is what the customer means
    step("ana@gmial.com", checked, subs, number=3)
    assert subs.calls == [("ana@gmial.com", "RUN-CHAR-240")]
    # the button of the suggestion sends the email as an entity
    entity = ({"entity": "email", "value": "ana@gmail.com"},)
    step('/inform{"email": "ana@gmail.com"}', checked, subs, number=3, entities=entity)
    assert subs.calls[-1] == ("ana@gmail.com", "RUN-CHAR-240")


def test_a_typed_yes_or_no_to_the_typo_question_acts_as_its_buttons() -> None:
    subs = Subscriptions()
    typo = step("bob@gmial.com", shown(asking=True), subs)
    checked = Topic.from_slot(typo.slots["topic"])
    for yes, intent in [
        ("yes", "affirm"), ("Yes please", "affirm"), ("yep", "affirm"), ("correct", None),
        ("that's right!", None), ("yeah, thanks", "affirm"), ("ok", "affirm"),
    ]:  # fmt: skip
        done = step(yes, checked, subs, number=3, intent=intent)
        assert subs.calls[-1] == ("bob@gmail.com", "RUN-CHAR-240"), yes
        assert "sent a link to bob@gmail.com" in done.says[0].text, yes
        assert not Topic.from_slot(done.slots["topic"]).restock.get("suggested")
    for no, intent in [("no", "deny"), ("no, it's right", "deny"), ("nope", None)]:
        done = step(no, checked, subs, number=3, intent=intent)
        assert subs.calls[-1] == ("bob@gmial.com", "RUN-CHAR-240"), no
        assert done.slots["customer_email"] == "bob@gmial.com", no
    calls = len(subs.calls)
    cancelled = step("no thanks", checked, subs, number=3, intent="deny")
    assert cancelled.says[0].text == replies.RESTOCK_CANCELLED and len(subs.calls) == calls
    # a new question is not an answer: the decision takes it
    assert step("how much is the mug?", checked, subs, number=3) is None
    # "yes" with no typo question pending is not an email
    assert step("yes", shown(asking=True), subs, intent="affirm") is None
    assert len(subs.calls) == calls


def test_a_preorder_alert_says_in_stock_not_back() -> None:
    subs = Subscriptions()
    coming = Topic(
        "is the mug in stock", 1, products=("MUG",), restock=OFFER | {"availability": "preorder"}
    )
    asked = step(replies.RESTOCK_PAYLOAD, coming, subs)
    assert "once when Linen Table Runner (" in asked.says[0].text
    assert "is in stock. What's your email" in asked.says[0].text
    done = step("ana@example.com", Topic.from_slot(asked.slots["topic"]), subs, number=3)
    assert "is in stock. Every email" in done.says[0].text and "back" not in done.says[0].text
    assert replies.restock_button("out_of_stock") == "Tell me when it's back"
    assert replies.restock_button("backorder") == "Tell me when it's in stock"
    gone = step(replies.RESTOCK_PAYLOAD, shown(), subs)
    assert "is back in stock. What's your email" in gone.says[0].text


def test_words_that_try_to_be_an_email_are_asked_again_and_the_step_goes_on() -> None:
    subs = Subscriptions()
    asking = shown(asking=True)
    for words in (
        "my email is bob at example", "bob at example dot com", "bob (at) example.com",
        "bob.gmail.com", "it's my gmail", "my e-mail address is bob",
    ):  # fmt: skip
        again = step(words, asking, subs)
        assert again is not None, words
        assert again.says[0].text == replies.RESTOCK_EMAIL_NOT_VALID, words
        assert Topic.from_slot(again.slots["topic"]).restock["asking"], words
    done = step("bob@example.com", Topic.from_slot(again.slots["topic"]), subs, number=3)
    assert subs.calls == [("bob@example.com", "RUN-CHAR-240")] and done.slots["customer_email"]
    # a question is not an attempt at an address, nor words about an email: the decision
    # answers them
    for other in (
        "is the mug at the shop dishwasher safe?", "how much is the oak board",
        "my reset email never arrived", "i didn't receive the email",
    ):  # fmt: skip
        assert step(other, asking, subs) is None, other


def test_a_verified_email_needs_no_question_and_no_is_taken() -> None:
    subs = Subscriptions("already_confirmed")
    plan = step("notify me", shown(), subs, verified_email="tara@example.com")
    assert subs.calls == [("tara@example.com", "RUN-CHAR-240")]
    assert "already on the list" in plan.says[0].text
    # asked again for the same product: the address this alert was made with, no question
    topic = Topic.from_slot(plan.slots["topic"])
    again = step("notify me", topic, Subscriptions("limited"), number=3)
    assert "try again in about 30 minutes" in again.says[0].text
    no = step("no thanks", shown(asking=True), Subscriptions())
    assert no.says[0].text == replies.RESTOCK_CANCELLED
    assert Topic.from_slot(no.slots["topic"]).restock is None
    # another question while the email is asked for: the decision answers it
    assert step("how much is the mug?", shown(asking=True), subs) is None
    # nothing offered: the button asks which product, words go to the product answer
    assert step(replies.RESTOCK_PAYLOAD, None, subs).says[0].text == replies.RESTOCK_WHICH
    assert step("tell me when the oak board is back", None, subs) is None


@pytest.mark.model
def test_an_out_of_stock_answer_offers_the_alert_and_an_in_stock_one_does_not(
    tmp_path: Path, embedder
) -> None:
    from bot.catalog.search import ProductSearch

    catalog = tmp_path / "catalog"
    sync(SyncOptions(str(SAMPLES / "sample-feed.xml"), catalog, "all-MiniLM-L6-v2"), embedder)
    search = ProductSearch(catalog, "all-MiniLM-L6-v2", encoder=lambda: embedder)
    out = answer_product("is the stoneware mug in stock?", search)
    [said] = out.says
    # a preorder was never "back": its button and the alert's words say "in stock"
    assert [b.title for b in said.buttons] == ["Tell me when it's in stock"]
    assert out.restock["variant"] == "MUG-1" and said.meta["restock"] is True
    assert out.restock["availability"] == "preorder"
    sage = answer_product("how much is the sage green linen runner?", search)
    assert sage.restock is None and not sage.says[0].buttons
    # the size a question names picks that variant's card (and alert), as a reorder only
    from bot.dialogue.products import _asked_variant_first

    found = search.search("table runner", limit=1)
    assert [v.id for v in found.hits[0].variants] == ["RUN-SAGE-180", "RUN-CHAR-240"]
    asked = _asked_variant_first(found, "is the runner, the 240 cm one, back?")
    assert [v.id for v in asked.hits[0].variants] == ["RUN-CHAR-240", "RUN-SAGE-180"]
    assert _asked_variant_first(found, "is the runner back?") == found
    # the alert asked for something in stock: it is there now, with its link, and no alert
    now = answer_product("notify me when the sage green linen runner is back", search)
    [said] = now.says
    assert said.text.startswith("Good news: Linen Table Runner") and now.restock is None
    assert "in stock now, so no alert is needed" in said.text and not said.buttons
    assert "](https://shop.example/products/linen-table-runner" in said.text, said.text


# -- end to end ---------------------------------------------------------------------------------


def link_in(text: str, path: str) -> str:
    found = re.search(rf"https?://\S+{re.escape(path)}\?t=\S+", text)
    assert found, text
    return found.group(0)


@pytest.mark.model
def test_subscribe_confirm_back_in_stock_one_email_then_unsubscribe(
    queue_url: str, tmp_path: Path, embedder
) -> None:
    feed = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "sample-feed.xml", feed)
    settings = Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=tmp_path / "var",
        database_url=queue_url,
        catalog_dir=tmp_path / "catalog",
        public_url="https://shop.example",
        mail_from=SENDER,
    )
    options = SyncOptions(str(feed), settings.catalog_dir, "all-MiniLM-L6-v2")
    assert "RUN-CHAR-240" not in sync(options, embedder).restocked
    app = create_app(settings)
    engine = app.state.queue.engine
    mailer = AlertMailer.from_settings(settings, engine)
    outbox = Outbox(engine)
    server = SmtpTestServer(tmp_path).start()
    try:
        worker = MailWorker(outbox, SmtpServer.from_url(server.url()), SENDER)

        def subscribe(email: str, offer: dict) -> Subscribed:
            wanted = Wanted(
                offer["product"], offer["variant"], offer["title"], offer["variant_title"], ""
            )
            done = mailer.subscribe(email, wanted, "conv-restock-1")
            return Subscribed("sent" if done.created else "already_pending")

        asked = restock_step(Turn(replies.RESTOCK_PAYLOAD, number=2, topic=shown()), subscribe)
        topic = Topic.from_slot(asked.slots["topic"])
        restock_step(Turn("ana@example.com", number=3, topic=topic), subscribe)
        assert worker.run_once().sent == 1
        [confirmation] = server.received
        message = confirmation.message
        assert confirmation.recipients == ["ana@example.com"]
        assert message["List-Unsubscribe"].startswith("<https://shop.example/restock/unsub")
        body = message.get_content()
        confirm = link_in(body, "/restock/confirm").replace("https://shop.example", "")
        token = confirm.split("t=", 1)[1]
        alert_id = int(token.split(".")[0])
        # another customer who never confirms: only confirmed alerts are told
        unconfirmed = mailer.store.subscribe("bo@example.com", RUNNER).alert
        with TestClient(app, base_url="https://testserver") as client:
            page = client.get(confirm)
            assert page.status_code == 200 and "Confirm the alert" in page.text
            assert mailer.store.get(alert_id).status == "pending"  # a GET (a scanner) does nothing
            done = client.post("/restock/confirm", data={"t": token})
            assert done.status_code == 200 and "Alert confirmed" in done.text
            assert mailer.store.get(alert_id).status == "confirmed"
            assert client.get("/restock/confirm?t=1.0.nonsense").status_code == 400
            wrong = client.get("/restock/unsubscribe?t=" + token)  # a confirm link's token
            assert wrong.status_code == 400 and "doesn't work" in wrong.text

            back_in_stock = feed.read_text().replace(
                "<g:availability>out_of_stock<", "<g:availability>in_stock<"
            )
            feed.write_text(back_in_stock)
            assert sync(options, embedder).restocked == ["RUN-CHAR-240"]
            assert mailer.notify(settings.catalog_dir).sent == [alert_id]
            assert worker.run_once().sent == 1
            assert len(server.received) == 2 and server.received[1].recipients == [
                "ana@example.com"
            ]
            assert mailer.store.get(unconfirmed.id).status == "pending"
            back = server.received[1].message
            assert back["Subject"] == "Linen Table Runner is in stock now"
            text = back.get_content()
            assert "Variant: Charcoal / 240 cm" in text and "Price: $45.00" in text
            assert "https://shop.example/products/linen-table-runner?variant=2" in text
            # the next sync finds it in stock again, and sends nothing more
            sync(options, embedder)
            assert mailer.notify(settings.catalog_dir).sent == []
            assert worker.run_once().sent == 0 and len(server.received) == 2

            unsubscribe = link_in(text, "/restock/unsubscribe").replace("https://shop.example", "")
            assert back["List-Unsubscribe"] == f"<https://shop.example{unsubscribe}>"
            listed = raw_header(server.received[1].data, "List-Unsubscribe")
            assert listed == f"<https://shop.example{unsubscribe}>"  # as sent: no RFC 2047
            assert back["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert "Unsubscribe" in client.get(unsubscribe).text
            assert mailer.store.get(alert_id).status == "sent"
            # a mail client's one-click unsubscribe: a POST to the header's address
            gone = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
            assert gone.status_code == 200 and "Unsubscribed" in gone.text
            assert mailer.store.get(alert_id).status == "sent"  # sent already: it stays so
            fresh = mailer.store.subscribe("cy@example.com", RUNNER).alert
            mailer.store.confirm(fresh.id)
            link = mailer.unsubscribe_link(fresh).replace("https://shop.example", "")
            assert client.post(link).status_code == 200
            assert mailer.store.get(fresh.id).status == "unsubscribed"
            # its confirm link, opened afterwards, says it is stopped and offers no button
            stopped = client.get(mailer.confirm_link(fresh).replace("https://shop.example", ""))
            assert stopped.status_code == 200 and "This alert is stopped" in stopped.text
            assert "Confirm the alert" not in stopped.text and "/static/store.css" in stopped.text
            assert mailer.notify(settings.catalog_dir).sent == []
    finally:
        server.stop()
        app.state.queue.close()


@pytest.mark.model
def test_bot_catalog_sync_sends_the_alerts_and_bot_catalog_alerts_forgets_an_email(
    queue_url: str, tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from bot.cli import app

    feed = tmp_path / "feed.xml"
    shutil.copy(SAMPLES / "sample-feed.xml", feed)
    env = {
        "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
        "BOT_DATA_DIR": str(tmp_path / "var"),
        "BOT_DATABASE_URL": queue_url,
        "BOT_CATALOG_DIR": str(tmp_path / "catalog"),
        "BOT_PUBLIC_URL": "https://shop.example",
    }
    runner = CliRunner()

    def run(*args: str) -> dict:
        result = runner.invoke(app, [*args, "--json"], env=env)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert run("catalog", "sync", str(feed))["alerts"] == {"sent": 0, "waiting": 0}
    engine = create_db_engine(queue_url)
    try:
        store = AlertStore(engine)
        alert = store.subscribe("ana@example.com", RUNNER).alert
        store.confirm(alert.id)
        assert run("catalog", "sync", str(feed))["alerts"] == {"sent": 0, "waiting": 1}
        feed.write_text(
            feed.read_text().replace("<g:availability>out_of_stock<", "<g:availability>in_stock<")
        )
        assert run("catalog", "sync", str(feed))["alerts"] == {"sent": 1, "waiting": 0}
        assert run("catalog", "sync", str(feed))["alerts"] == {"sent": 0, "waiting": 0}
        [queued] = Outbox(engine).list()
        assert queued.kind == "restock" and queued.recipients == ["ana@example.com"]
        listed = run("catalog", "alerts")
        assert listed["counts"]["sent"] == 1 and listed["waiting"] == []
        assert run("catalog", "alerts", "--forget", "ANA@example.com")["forgotten"] == 1
        assert store.get(alert.id) is None
    finally:
        engine.dispose()


def test_alerts_are_limited_per_email_and_per_client_address(engine: Engine, tmp_path: Path):
    from bot.ratelimit import DatabaseCounter
    from bot.web.limits import restock_refused

    settings = Settings(
        settings_file=tmp_path / "none.toml",
        restock_alerts_per_day_per_email=2,
        restock_alerts_per_hour_per_address=3,
    )
    counter = DatabaseCounter(engine)
    assert restock_refused(counter, settings, "client-a", "ana@example.com") is None
    assert restock_refused(counter, settings, "client-b", "ANA@example.com") is None
    refused = restock_refused(counter, settings, "client-c", "ana@example.com")
    assert refused is not None and "one email address" in refused.reason()
    assert restock_refused(counter, settings, "client-a", "bo@example.com") is None
    assert restock_refused(counter, settings, "client-a", "cy@example.com") is None
    refused = restock_refused(counter, settings, "client-a", "di@example.com")
    assert refused is not None and "from one address" in refused.reason()


def test_an_address_given_earlier_is_offered_not_assumed() -> None:
    subs = Subscriptions()
    asked = step("notify me", shown(), subs, customer_email="Ana@Example.com")
    [said] = asked.says
    assert "Shall I use **ana@example.com**?" in said.text and subs.calls == []
    assert [b.title for b in said.buttons] == ["Yes, use ana@example.com"]
    topic = Topic.from_slot(asked.slots["topic"])
    # its button (the address as an entity), or a typed yes, takes it
    clicked = step(
        said.buttons[0].payload, topic, subs, number=3,
        entities=[{"entity": "email", "value": "ana@example.com"}],
    )  # fmt: skip
    assert subs.calls == [("ana@example.com", "RUN-CHAR-240")]
    assert "sent a link to ana@example.com" in clicked.says[0].text
    yes = step("yes please", topic, Subscriptions(), number=3)
    assert "sent a link to ana@example.com" in yes.says[0].text
    # "no" asks for another; another address typed instead is taken
    no = step("no", topic, Subscriptions(), number=3)
    assert no.says[0].text == replies.RESTOCK_ASK_OTHER_EMAIL
    other = Subscriptions()
    step("bo@example.com", Topic.from_slot(no.slots["topic"]), other, number=4)
    assert other.calls == [("bo@example.com", "RUN-CHAR-240")]
    typed = Subscriptions()
    step("use bo@example.com instead", topic, typed, number=3)
    assert typed.calls == [("bo@example.com", "RUN-CHAR-240")]


# -- products with sizes partly out of stock ----------------------------------------------------

SIZES_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel>
<title>Sizes shop</title><link>https://shop.example</link><description>Sizes</description>
{items}
</channel></rss>
"""
SIZES_ITEM = """<item>
  <g:id>{id}</g:id><g:item_group_id>{group}</g:item_group_id>
  <g:title>{title} - {size}</g:title>
  <g:description>{description}</g:description>
  <g:link>https://shop.example/products/{group}?variant={id}</g:link>
  <g:image_link>https://shop.example/images/{group}.jpg</g:image_link>
  <g:price>{price} USD</g:price><g:availability>{availability}</g:availability>{date}
  <g:size>{size}</g:size><g:material>{material}</g:material>
  <g:product_type>Home &amp; Garden &gt; Kitchen &gt; {kind}</g:product_type>
</item>"""
BOARD = ("Birch End Grain Chopping Board", "An end-grain birch board for everyday chopping.")
TRAY = ("Walnut Serving Tray", "A walnut tray with handles for serving drinks and breakfast.")
SIZED = [  # (id, group, (title, description), size, availability, kind, material)
    ("BOARD-30", "BOARD", BOARD, "30 cm", "in_stock", "Chopping Boards", "Birch"),
    ("BOARD-40", "BOARD", BOARD, "40 cm", "out_of_stock", "Chopping Boards", "Birch"),
    ("BOARD-50", "BOARD", BOARD, "50 cm", "out_of_stock", "Chopping Boards", "Birch"),
    ("TRAY-S", "TRAY", TRAY, "Small", "in_stock", "Serving Trays", "Walnut"),
    ("TRAY-L", "TRAY", TRAY, "Large", "out_of_stock", "Serving Trays", "Walnut"),
]


@pytest.fixture(scope="module")
def sized_search(tmp_path_factory: pytest.TempPathFactory, embedder):
    """A catalogue of two products with sizes, some in stock and some out."""
    return sized_catalogue(tmp_path_factory.mktemp("sizes"), embedder)


def sized_catalogue(folder: Path, embedder):
    """SIZED as a feed, synced into `folder`, and its search."""
    from bot.catalog.search import ProductSearch

    items = "\n".join(
        SIZES_ITEM.format(
            id=id_, group=group, title=title, description=description, size=size, kind=kind,
            availability=availability, material=material, price="30.00",
            date="<g:availability_date>2027-01-15</g:availability_date>"
            if availability != "in_stock" else "",
        )
        for id_, group, (title, description), size, availability, kind, material in SIZED
    )  # fmt: skip
    feed = folder / "feed.xml"
    feed.write_text(SIZES_FEED.format(items=items))
    sync(SyncOptions(str(feed), folder / "catalog", "all-MiniLM-L6-v2"), embedder)
    return ProductSearch(folder / "catalog", "all-MiniLM-L6-v2", encoder=lambda: embedder)


def answered(question: str, search) -> tuple:
    """A product answer, and the topic the decision keeps for the next message."""
    reply = answer_product(question, search)
    return reply, Topic(question, 1, products=tuple(reply.products), restock=reply.restock)


def clicked(payload: str) -> str:
    """The words a "which one?" button's payload asks (as actions.common reads the entity)."""
    import json

    return json.loads(payload.removeprefix("/ask_question"))["product_question"]


@pytest.mark.model
def test_one_size_out_not_named_alerts_that_size(sized_search) -> None:
    reply, topic = answered("is the walnut serving tray in stock?", sized_search)
    [said] = reply.says
    assert "in Large is out of stock" in said.text and "in Small is in stock" in said.text
    assert [b.title for b in said.buttons] == ["Tell me when it's back"]
    subs = Subscriptions()
    asked = step("tell me when it's back", topic, subs)
    assert "once when Walnut Serving Tray (Large) is back in stock" in asked.says[0].text
    step("ana@example.com", Topic.from_slot(asked.slots["topic"]), subs, number=3)
    assert subs.calls == [("ana@example.com", "TRAY-L")]


@pytest.mark.model
def test_one_size_out_named_alerts_the_named_size(sized_search) -> None:
    _, topic = answered("is the walnut serving tray in stock?", sized_search)
    subs = Subscriptions()
    asked = step("let me know when the large is back in stock", topic, subs)
    assert "(Large)" in asked.says[0].text
    step("ana@example.com", Topic.from_slot(asked.slots["topic"]), subs, number=3)
    assert subs.calls == [("ana@example.com", "TRAY-L")]
    # of two sizes out, the one a product question names is the alert's, no question
    reply, topic = answered("when will the 40cm birch chopping board be back?", sized_search)
    assert reply.restock["variant"] == "BOARD-40" and reply.says[0].buttons
    asked = step(replies.RESTOCK_PAYLOAD, topic, subs)
    assert "(40 cm) is back in stock. What's your email" in asked.says[0].text
    # the same asked as a first message, the size before a long name: the alert's, not "we
    # don't sell that"
    reply = answer_product("let me know when the 40 cm birch end grain chopping board is back",
                           sized_search)  # fmt: skip
    assert reply.restock["variant"] == "BOARD-40" and "out of stock" in reply.says[0].text
    # ...and one named after the answer
    _, topic = answered("is the birch chopping board in stock?", sized_search)
    asked = step("let me know when the 50 cm is back in stock", topic, subs)
    step("bo@example.com", Topic.from_slot(asked.slots["topic"]), subs, number=3)
    assert subs.calls[-1] == ("bo@example.com", "BOARD-50")


@pytest.mark.model
def test_two_sizes_out_not_named_asks_which_then_the_email(sized_search) -> None:
    reply, topic = answered("is the birch chopping board in stock?", sized_search)
    assert reply.restock.get("variant") is None and reply.says[0].buttons
    subs = Subscriptions()
    which = step("tell me when it's back", topic, subs)
    [said] = which.says
    assert said.text == (
        "Which size of Birch End Grain Chopping Board should I email you about when it's back "
        "in stock?"
    )
    assert [b.title for b in said.buttons] == ["40 cm", "50 cm"] and subs.calls == []
    assert said.meta["state"] == "ask_variant"
    choosing = Topic.from_slot(which.slots["topic"])
    # the button asks in the customer's words; a size typed does the same
    asked = step(clicked(said.buttons[1].payload), choosing, subs, number=3)
    assert "(50 cm) is back in stock. What's your email" in asked.says[0].text
    step("ana@example.com", Topic.from_slot(asked.slots["topic"]), subs, number=4)
    assert subs.calls == [("ana@example.com", "BOARD-50")]
    typed = step("the 40 cm one", choosing, subs, number=3)
    step("ana@example.com", Topic.from_slot(typed.slots["topic"]), subs, number=4)
    assert subs.calls[-1] == ("ana@example.com", "BOARD-40")
    # the button under the answer asks the same; "no thanks" then ends it; a question goes on
    assert step(replies.RESTOCK_PAYLOAD, topic, subs).says[0].meta["state"] == "ask_variant"
    no = step("no thanks", choosing, subs, number=3, intent="deny")
    assert no.says[0].text == replies.RESTOCK_CANCELLED
    assert step("how much is the walnut tray?", choosing, subs, number=3) is None


@pytest.mark.model
def test_an_in_stock_size_named_is_never_alerted(sized_search) -> None:
    _, topic = answered("is the birch chopping board in stock?", sized_search)
    subs = Subscriptions()
    now = step("let me know when the 30 cm is back in stock", topic, subs)
    [said] = now.says
    assert said.text.startswith("Good news: Birch End Grain Chopping Board in 30 cm is in stock")
    assert "?variant=BOARD-30)" in said.text and not said.buttons and subs.calls == []
    # asked of the product at once: no alert offered
    reply = answer_product("notify me when the 30 cm birch chopping board is back", sized_search)
    assert "in 30 cm is in stock now" in reply.says[0].text
    assert reply.restock is None and not reply.says[0].buttons
    # while the bot asks which size, the one in stock named is there now
    choosing = Topic.from_slot(step("notify me", topic, subs).slots["topic"])
    assert "in stock now" in step("the 30 cm", choosing, subs, number=3).says[0].text
    assert subs.calls == []
