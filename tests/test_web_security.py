"""The public surface's defences: security headers, self-hosted API docs, server-side inbox
sessions, throttled sign-ins, and agents writing only into tickets they hold.

Storage tests run on SQLite and PostgreSQL (PostgreSQL when BOT_TEST_POSTGRES_URL is set). Time
is moved by an injected clock, never slept.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.handoff import HandoffQueue, NewTicket
from bot.handoff.auth import hash_token
from bot.handoff.sessions import agent_sessions
from bot.settings import Settings
from bot.web.app import create_app
from bot.web.chat import ticket_items
from bot.web.conversation_ids import ConversationIds
from bot.web.help import without_style_attributes
from tests.handoff_fixtures import database_url

ALICE, BOB, SERVICE = "alice-token-0123456789", "bob-token-0123456789", "service-token-0123456789"
AGENT_ALICE = {"Authorization": f"Bearer {ALICE}"}
AGENT_BOB = {"Authorization": f"Bearer {BOB}"}
ACTION_SERVER = {"Authorization": f"Bearer {SERVICE}"}
SECRET = "a-fixed-cookie-signing-key-for-these-tests-0123456789"
# a conversation id the tests' web app made (signed with the key SECRET gives)
CONV = ConversationIds.for_settings(
    Settings(session_secret=SECRET, settings_file=Path("/nonexistent"))
).sign("conv-sec-1")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _settings(url: str, tmp_path: Path, **extra) -> Settings:
    values = {
        "settings_file": tmp_path / "none.toml",
        "data_dir": tmp_path / "var",
        "database_url": url,
        "agent_tokens": {"alice": hash_token(ALICE), "bob": hash_token(BOB)},
        "service_token": hash_token(SERVICE),
        "session_secret": SECRET,
        "index_dir": tmp_path / "no-index",
        "rasa_url": "http://127.0.0.1:9",
        **extra,
    }
    return Settings(**values)


@pytest.fixture(params=["sqlite", "postgresql"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _app(url: str, tmp_path: Path, clock: Clock, **extra):
    app = create_app(_settings(url, tmp_path, **extra))
    app.state.sessions.store.clock = clock
    app.state.sessions.throttle.clock = clock
    return app


@pytest.fixture
def client(queue_url: str, tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    app = _app(queue_url, tmp_path, clock)
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client
    app.state.queue.close()


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _sign_in(client: TestClient, token: str = ALICE) -> None:
    form = client.get("/inbox/login")
    response = client.post(
        "/inbox/login",
        data={"token": token, "csrf": _csrf(form.text), "next": "/inbox"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _ticket(client: TestClient, conversation: str = CONV) -> int:
    new = {
        "conversation_id": conversation,
        "reason": "customer_request",
        "transcript": [{"sender": "customer", "text": "a person please"}],
    }
    response = client.post("/api/tickets", json=new, headers=ACTION_SERVER)
    return response.json()["ticket"]["id"]


# -- headers --------------------------------------------------------------------------------------


def _directives(policy: str) -> dict[str, str]:
    return {
        part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()
    }


def test_every_page_gets_the_security_headers(client: TestClient) -> None:
    ticket_id = _ticket(client)
    _sign_in(client)
    pages = {
        "/": "'self'",
        "/help/": "'self'",
        "/inbox/login": "'none'",
        "/inbox": "'none'",
        f"/inbox/tickets/{ticket_id}": "'none'",
        "/insights": "'none'",
        "/review": "'none'",
        "/docs": "'none'",
        "/redoc": "'none'",
    }
    for path, ancestors in pages.items():
        response = client.get(path)
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["strict-transport-security"].startswith("max-age="), path
        assert headers["referrer-policy"] in ("strict-origin-when-cross-origin", "same-origin")
        policy = _directives(headers["content-security-policy"])
        assert policy["script-src"] == "'self'", path  # never 'unsafe-inline' for scripts
        assert policy["frame-ancestors"] == ancestors, path
        assert policy["object-src"] == "'none'" and policy["base-uri"] == "'none'"
        assert "http" not in headers["content-security-policy"].replace("https:", ""), path
        if ancestors == "'none'":
            assert headers["x-frame-options"] == "DENY", path
        else:
            assert headers["x-frame-options"] == "SAMEORIGIN", path
        if path.startswith(("/inbox", "/insights", "/review")):
            assert headers["cache-control"] == "no-store", path
            assert policy["style-src"] == "'self'", path
    api = client.get("/api/tickets", headers=AGENT_ALICE)
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["x-content-type-options"] == "nosniff"


def test_hsts_only_over_https(queue_url: str, tmp_path: Path, clock: Clock) -> None:
    app = _app(queue_url, tmp_path, clock)
    with TestClient(app, base_url="http://testserver") as plain:
        response = plain.get("/")
        assert "strict-transport-security" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
    app.state.queue.close()


def test_the_widget_endpoints_keep_their_cors(queue_url: str, tmp_path: Path, clock: Clock) -> None:
    app = _app(queue_url, tmp_path, clock, widget_origins=["https://shop.example"])
    with TestClient(app, base_url="https://testserver") as test_client:
        preflight = test_client.options(
            "/api/chat/conv-12345/messages",
            headers={
                "Origin": "https://shop.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
        widget = test_client.get("/widget.js")
        assert widget.status_code == 200 and "x-frame-options" in widget.headers
    app.state.queue.close()


class _Inline(HTMLParser):
    """Collects what a strict CSP refuses: inline scripts, style elements and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            if "src" not in names:
                self.found.append("inline <script>")
            else:
                self.scripts.append(names["src"] or "")
        if tag == "style":
            self.found.append("<style>")
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"{tag} {name}=")


def test_pages_have_no_inline_script_or_style(client: TestClient) -> None:
    ticket_id = _ticket(client)
    _sign_in(client)
    pages = ("/", "/inbox/login", "/inbox", f"/inbox/tickets/{ticket_id}", "/insights", "/review")
    for path in pages:
        parser = _Inline()
        parser.feed(client.get(path).text)
        assert parser.found == [], path
        for src in parser.scripts:
            assert src.startswith("/"), (path, src)
            script = client.get(src)
            assert script.status_code == 200, src
            if src.startswith("/static/"):  # revalidated, so an upgrade is never half-applied
                assert script.headers["cache-control"] == "no-cache", src


def test_aligned_table_cells_get_classes_not_style_attributes() -> None:
    html = '<th style="text-align: right;">Price</th><td style="text-align: center;">1</td>'
    assert without_style_attributes(html) == (
        '<th class="align-right">Price</th><td class="align-center">1</td>'
    )


# -- API docs -------------------------------------------------------------------------------------


def test_api_docs_load_only_files_this_app_serves(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        parser = _Inline()
        parser.feed(page.text)
        assert parser.found == [] and parser.scripts, path
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        for src in parser.scripts:
            asset = client.get(src)
            assert asset.status_code == 200 and asset.content.strip(), src
        for href in re.findall(r'href="([^"]+)"', page.text):
            assert href.startswith("/") and client.get(href).status_code == 200, href


def test_api_docs_can_be_turned_off(queue_url: str, tmp_path: Path, clock: Clock) -> None:
    app = _app(queue_url, tmp_path, clock, api_docs=False)
    with TestClient(app, base_url="https://testserver") as test_client:
        assert test_client.get("/docs").status_code == 404
        assert test_client.get("/redoc").status_code == 404
        assert test_client.get("/static/docs/swagger/swagger-ui-bundle.js").status_code == 404
        assert test_client.get("/openapi.json").status_code == 200
    app.state.queue.close()


# -- server-side sessions -------------------------------------------------------------------------


def _cookie(client: TestClient) -> str:
    return client.cookies["tier0_inbox"]


def test_a_cookie_copied_before_sign_out_is_worthless_after_it(client: TestClient) -> None:
    _sign_in(client)
    copied = _cookie(client)
    assert client.get("/inbox.json").status_code == 200
    page = client.get("/inbox")
    out = client.post("/inbox/logout", data={"csrf": _csrf(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.set("tier0_inbox", copied)
    assert client.get("/inbox.json").status_code == 401
    assert client.get("/insights.json").status_code == 401
    redirect = client.get("/inbox", follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/inbox/login")


def test_the_session_id_is_random_and_stored_only_hashed(client: TestClient) -> None:
    from sqlalchemy import select

    from bot.handoff.sessions import agent_sessions

    _sign_in(client)
    store = client.app.state.sessions.store
    with store.engine.connect() as conn:
        rows = conn.execute(select(agent_sessions)).all()
    assert len(rows) == 1 and rows[0].agent == "alice"
    cookie = _cookie(client)
    assert rows[0].id_hash not in cookie and len(rows[0].id_hash) == 64
    # a second sign-in is a new session with a new id
    _sign_in(client)
    with store.engine.connect() as conn:
        assert conn.execute(select(agent_sessions)).all()[-1].id_hash != rows[0].id_hash


def test_removing_an_agents_token_ends_their_sessions_at_once(
    queue_url: str, tmp_path: Path, clock: Clock
) -> None:
    before = _app(queue_url, tmp_path, clock)
    with TestClient(before, base_url="https://testserver") as alice:
        _sign_in(alice)
        cookie = _cookie(alice)
        assert alice.get("/inbox.json").status_code == 200
    before.state.queue.close()
    # the same database and cookie key, alice's token gone from agent_tokens (a restart)
    after = _app(queue_url, tmp_path, clock, agent_tokens={"bob": hash_token(BOB)})
    with TestClient(after, base_url="https://testserver") as alice:
        alice.cookies.set("tier0_inbox", cookie)
        assert alice.get("/inbox.json").status_code == 401
        assert alice.get("/insights.json").status_code == 401
        assert after.state.sessions.store.end_all("alice") == 0  # already gone
    after.state.queue.close()


def test_a_changed_token_ends_the_sessions_begun_with_the_old_one(
    queue_url: str, tmp_path: Path, clock: Clock
) -> None:
    before = _app(queue_url, tmp_path, clock)
    with TestClient(before, base_url="https://testserver") as alice:
        _sign_in(alice)
        cookie = _cookie(alice)
    before.state.queue.close()
    new_token = "alice-new-token-0123456789"
    rotated = {"alice": hash_token(new_token), "bob": hash_token(BOB)}
    after = _app(queue_url, tmp_path, clock, agent_tokens=rotated)
    with TestClient(after, base_url="https://testserver") as alice:
        alice.cookies.set("tier0_inbox", cookie)
        assert alice.get("/inbox.json").status_code == 401
        _sign_in(alice, new_token)
        assert alice.get("/inbox.json").status_code == 200
    after.state.queue.close()


def test_an_idle_session_ends_and_a_used_one_lives_to_its_lifetime(
    queue_url: str, tmp_path: Path, clock: Clock
) -> None:
    app = _app(queue_url, tmp_path, clock, session_idle_minutes=30, session_lifetime_hours=2.0)
    with TestClient(app, base_url="https://testserver") as client:
        _sign_in(client)
        clock.advance(29 * 60)
        assert client.get("/inbox.json").status_code == 200  # used: the idle timer restarts
        clock.advance(29 * 60)
        assert client.get("/inbox.json").status_code == 200
        clock.advance(31 * 60)  # idle for longer than 30 minutes
        assert client.get("/inbox.json").status_code == 401

        _sign_in(client)
        for _ in range(5):  # busy all along, but past the absolute lifetime of 2 hours
            clock.advance(25 * 60)
            client.get("/inbox.json")
        assert client.get("/inbox.json").status_code == 401
        assert app.state.sessions.store.purge() == 0  # expired sessions were deleted on sight
    app.state.queue.close()


def test_expired_sessions_are_purged(client: TestClient, clock: Clock) -> None:
    store = client.app.state.sessions.store
    store.create("alice", client.app.state.sessions.auth.credential("alice"))
    store.create("bob", client.app.state.sessions.auth.credential("bob"))
    assert store.purge() == 0
    clock.advance(31 * 60)
    # the purge deletes them (or the app's own periodic purge, on the same clock, did first)
    assert store.purge() <= 2
    with store.engine.connect() as conn:
        left = conn.execute(
            select(func.count())
            .select_from(agent_sessions)
            .where(agent_sessions.c.agent.in_(["alice", "bob"]))
        ).scalar_one()
    assert left == 0


# -- failed sign-ins ------------------------------------------------------------------------------


def _try(client: TestClient, token: str):
    form = client.get("/inbox/login")
    return client.post(
        "/inbox/login", data={"token": token, "csrf": _csrf(form.text)}, follow_redirects=False
    )


def test_failed_sign_ins_are_logged_without_the_token_and_throttled(
    client: TestClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.web.signin")
    guesses = [f"guess-number-{i}-0123456789" for i in range(5)]
    for guess in guesses:
        assert _try(client, guess).status_code == 401
    refused = _try(client, ALICE)  # even the right token: the address waits
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= 15 * 60
    assert "Too many failed sign-ins" in refused.text and "15 minutes" in refused.text
    failures = [r for r in caplog.records if "sign-in failed" in r.getMessage()]
    assert len(failures) == 5 and "testclient" in failures[0].getMessage()
    assert all(g not in caplog.text for g in guesses) and ALICE not in caplog.text

    clock.advance(15 * 60 + 1)  # the window has passed
    assert _try(client, ALICE).status_code == 303
    # a success forgets the earlier failures
    for guess in guesses[:4]:
        assert _try(client, guess).status_code == 401
    assert _try(client, ALICE).status_code == 303
    assert _try(client, guesses[0]).status_code == 401


def test_failed_sign_ins_are_shared_by_every_worker_and_counted_per_address(
    queue_url: str, tmp_path: Path, clock: Clock
) -> None:
    one, two = _app(queue_url, tmp_path, clock), _app(queue_url, tmp_path, clock)
    with (
        TestClient(one, base_url="https://testserver") as first,
        TestClient(two, base_url="https://testserver") as second,
        TestClient(two, base_url="https://testserver", client=("203.0.113.9", 5000)) as other,
    ):
        for _ in range(3):
            assert _try(first, "wrong-token-0123456789").status_code == 401
        for _ in range(2):
            assert _try(second, "wrong-token-0123456789").status_code == 401
        assert _try(second, ALICE).status_code == 429  # five from this address, two workers
        assert _try(first, ALICE).status_code == 429
        assert _try(other, ALICE).status_code == 303  # another address is not held back
    one.state.queue.close()
    two.state.queue.close()


def test_sign_ins_sent_in_parallel_cannot_pass_the_limit(client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    throttle = client.app.state.sessions.throttle
    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = list(pool.map(lambda _: throttle.attempt("198.51.100.7"), range(20)))
    assert waits.count(None) == 5  # five tokens checked; fifteen refused before their check
    assert all(wait and wait > 0 for wait in waits if wait is not None)
    assert throttle.failures("198.51.100.7") == 5
    assert throttle.attempt("198.51.100.8") is None  # another address


# -- agents write only into tickets they hold ------------------------------------------------------


def test_an_agent_cannot_write_into_a_ticket_another_holds_but_may_take_it_over(
    client: TestClient, clock: Clock
) -> None:
    ticket_id = _ticket(client)
    url = f"/api/tickets/{ticket_id}"
    assert client.post(f"{url}/claim", headers=AGENT_ALICE).status_code == 200
    said = client.post(f"{url}/messages", json={"text": "Hi, Alice here."}, headers=AGENT_ALICE)
    assert said.status_code == 200
    sneaky = client.post(f"{url}/messages", json={"text": "Bob here."}, headers=AGENT_BOB)
    assert sneaky.status_code == 409 and "held by alice" in sneaky.json()["detail"]
    assert "take it over" in sneaky.json()["detail"]

    taken = client.post(f"{url}/take-over", headers=AGENT_BOB)
    assert taken.status_code == 200 and taken.json()["claimed_by"] == "bob"
    assert taken.json()["events"][-1]["kind"] == "taken_over"
    assert taken.json()["events"][-1]["detail"] == {"from": "alice"}
    assert client.post(f"{url}/messages", json={"text": "Bob here."}, headers=AGENT_BOB).is_success
    late = client.post(f"{url}/messages", json={"text": "Still me"}, headers=AGENT_ALICE)
    assert late.status_code == 409 and "held by bob" in late.json()["detail"]
    assert client.post(f"{url}/resolve", json={"note": ""}, headers=AGENT_ALICE).status_code == 409

    # the customer is told who writes now, and each reply carries its writer's name
    tickets = client.app.state.queue.for_conversation(CONV)
    items = sorted(ticket_items(tickets), key=lambda item: item["ts"])  # as the widget gets them
    shown = [(i["from"], i.get("agent"), i["text"]) for i in items]
    assert shown == [
        ("system", None, "alice from our support team joined the chat."),
        ("agent", "alice", "Hi, Alice here."),
        ("system", None, "bob from our support team took over the chat."),
        ("agent", "bob", "Bob here."),
    ]
    chat = client.get(f"/api/chat/{CONV}").json()
    assert chat["handoff"]["agent"] == "bob"

    assert client.post(f"{url}/resolve", json={"note": "done"}, headers=AGENT_BOB).is_success
    closed = client.post(f"{url}/take-over", headers=AGENT_ALICE)
    assert closed.status_code == 409 and "resolved" in closed.json()["detail"]


def test_writing_into_an_open_ticket_claims_it_for_the_writer(client: TestClient) -> None:
    ticket_id = _ticket(client)
    said = client.post(
        f"/api/tickets/{ticket_id}/messages", json={"text": "Hello!"}, headers=AGENT_BOB
    )
    assert said.status_code == 200 and said.json()["claimed_by"] == "bob"
    assert said.json()["status"] == "claimed"


def test_the_inbox_offers_take_over_instead_of_the_reply_box(client: TestClient) -> None:
    ticket_id = _ticket(client)
    client.post(f"/api/tickets/{ticket_id}/claim", headers=AGENT_ALICE)
    _sign_in(client, BOB)
    page = client.get(f"/inbox/tickets/{ticket_id}")
    assert "Take over from alice" in page.text and 'id="reply"' not in page.text
    assert "the customer is told" in page.text
    csrf = _csrf(page.text)
    written = client.post(
        f"/inbox/tickets/{ticket_id}/message", data={"csrf": csrf, "text": "Hi from Bob"}
    )
    assert written.status_code == 409 and "held by alice" in written.text
    assert client.post(f"/inbox/tickets/{ticket_id}/take-over", data={}).status_code == 403
    taken = client.post(f"/inbox/tickets/{ticket_id}/take-over", data={"csrf": csrf})
    assert taken.status_code == 200 and 'id="reply"' in taken.text
    assert "Take over" not in taken.text
    sent = client.post(
        f"/inbox/tickets/{ticket_id}/message", data={"csrf": csrf, "text": "Hi from Bob"}
    )
    assert sent.status_code == 200
    twin = client.get(f"/inbox/tickets/{ticket_id}.json").json()
    assert twin["claimed_by"] == "bob" and twin["transcript"][-1]["text"] == "Hi from Bob"


def test_queue_take_over_of_a_ticket_already_held_changes_nothing(tmp_path: Path) -> None:
    queue = HandoffQueue.from_url(f"sqlite:///{tmp_path / 'q.db'}")
    ticket, _ = queue.create(NewTicket(conversation_id="conv-own-1", reason="complaint"))
    queue.claim(ticket.id, "alice")
    same = queue.take_over(ticket.id, "alice")
    assert same.claimed_by == "alice" and [e["kind"] for e in same.events][-1] == "claimed"
    queue.close()
