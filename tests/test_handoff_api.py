"""Handoff API and agent inbox over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.handoff import HandoffQueue
from bot.handoff.auth import hash_token
from bot.rasa_auth import verify
from bot.settings import Settings
from bot.stack import child_env
from bot.web.app import create_app
from tests.recorder import Recorder

ROOT = Path(__file__).resolve().parent.parent
ALICE, BOB, SERVICE = "alice-token-0123456789", "bob-token-0123456789", "service-token-0123456789"
AGENT = {"Authorization": f"Bearer {ALICE}"}
AGENT_BOB = {"Authorization": f"Bearer {BOB}"}
ACTION_SERVER = {"Authorization": f"Bearer {SERVICE}"}


def _settings(url: str, tmp_path: Path, **extra) -> Settings:
    return Settings(
        settings_file=tmp_path / "none.toml",
        data_dir=tmp_path / "var",
        database_url=url,
        agent_tokens={"alice": hash_token(ALICE), "bob": hash_token(BOB)},
        service_token=hash_token(SERVICE),
        **extra,
    )


@pytest.fixture
def hooks():
    with Recorder() as webhook, Recorder() as rasa:
        yield webhook, rasa


@pytest.fixture
def client(queue_url: str, tmp_path: Path, hooks) -> TestClient:
    webhook, rasa = hooks
    settings = _settings(
        queue_url,
        tmp_path,
        webhook_urls=[webhook.url + "/hook"],
        webhook_secret="s3cret",
        rasa_url=rasa.url,
        rasa_token="rasa-token",
    )
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client
    app.state.queue.close()


def _new(conversation: str = "conv-1", reason: str = "customer_request", **extra) -> dict:
    return {
        "conversation_id": conversation,
        "reason": reason,
        "customer_email": extra.pop("customer_email", "ana@example.com"),
        "order_number": "123-4567",
        "intents": [{"name": "request_human", "confidence": 0.91}],
        "articles": [
            {"id": "track-order", "title": "Where is my order?", "url": "https://h/t", "score": 0.4}
        ],
        "transcript": [
            {"sender": "customer", "text": "where is my order?"},
            {"sender": "customer", "text": "let me talk to a person"},
        ],
        **extra,
    }


def test_the_agent_workflow_over_the_api(client: TestClient, hooks) -> None:
    created = client.post("/api/tickets", json=_new(), headers=ACTION_SERVER)
    assert created.status_code == 201, created.text
    body = created.json()
    ticket_id = body["ticket"]["id"]
    assert body["created"] and body["position"] == 1
    again = client.post("/api/tickets", json=_new(), headers=ACTION_SERVER)
    assert again.status_code == 200 and again.json()["ticket"]["id"] == ticket_id

    status = client.get("/api/conversations/conv-1/ticket", headers=ACTION_SERVER).json()
    assert status["position"] == 1 and status["status"] == "open"

    claimed = client.post(f"/api/tickets/{ticket_id}/claim", headers=AGENT).json()
    assert claimed["claimed_by"] == "alice" and claimed["seconds_to_claim"] >= 0
    conflict = client.post(f"/api/tickets/{ticket_id}/claim", headers=AGENT_BOB)
    assert conflict.status_code == 409 and "claimed by alice" in conflict.json()["detail"]

    url = f"/api/tickets/{ticket_id}"
    client.post(f"{url}/messages", json={"text": "Hi, I'm Alice."}, headers=AGENT)
    client.post(f"{url}/messages", json={"text": "thanks"}, headers=ACTION_SERVER)
    ticket = client.get(url, headers=AGENT).json()
    senders = [m["sender"] for m in ticket["transcript"]]
    assert senders == ["customer", "customer", "agent", "customer"]

    done = client.post(f"{url}/resolve", json={"note": "sent link"}, headers=AGENT)
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert client.post("/api/tickets/claim-next", headers=AGENT).status_code == 204

    webhook, rasa = hooks
    assert webhook.received.wait(10) and rasa.received.wait(10)
    hook = webhook.requests[0]
    expected = "sha256=" + hmac.new(b"s3cret", hook["body"], hashlib.sha256).hexdigest()
    assert hook["headers"]["X-Tier0-Signature"] == expected
    assert json.loads(hook["body"])["ticket"]["id"] == ticket_id
    resume = rasa.requests[0]
    assert resume["path"].startswith("/conversations/conv-1/trigger_intent?")
    assert "output_channel=latest" in resume["path"] and "token" not in resume["path"]
    assert verify(resume["headers"]["Authorization"].removeprefix("Bearer "), "rasa-token")
    assert json.loads(resume["body"])["name"] == "EXTERNAL_handoff_resolved"


def test_tokens_are_required_and_checked(client: TestClient) -> None:
    missing = client.get("/api/tickets")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/tickets", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/tickets", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.post("/api/tickets", json=_new(), headers=AGENT).status_code == 403
    assert client.get("/api/tickets", headers=ACTION_SERVER).status_code == 403


def test_malformed_and_oversized_input_gets_a_reason(client: TestClient) -> None:
    bad_reason = client.post("/api/tickets", json=_new(reason="bored"), headers=ACTION_SERVER)
    assert bad_reason.status_code == 422 and "reason" in bad_reason.text
    extra = client.post("/api/tickets", json=_new(color="blue"), headers=ACTION_SERVER)
    assert extra.status_code == 422 and "color" in extra.text
    as_json = {**ACTION_SERVER, "Content-Type": "application/json"}
    broken = client.post("/api/tickets", content=b"{not json", headers=as_json)
    assert broken.status_code == 422
    long_text = _new(transcript=[{"sender": "customer", "text": "x" * 5000}])
    assert client.post("/api/tickets", json=long_text, headers=ACTION_SERVER).status_code == 422
    assert client.get("/api/tickets?limit=1000", headers=AGENT).status_code == 422
    assert client.get("/api/tickets/999999", headers=AGENT).status_code == 404


def test_a_body_over_256_kib_gets_a_413_in_json(client: TestClient) -> None:
    as_json = {**ACTION_SERVER, "Content-Type": "application/json"}
    declared = client.post("/api/tickets", content=b"x" * (300 * 1024), headers=as_json)
    chunks = (b"x" * 1024 for _ in range(300))  # no Content-Length: found while reading
    streamed = client.post("/api/tickets", content=chunks, headers=as_json)
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/json"
        assert "256 KiB" in response.json()["detail"]
    assert client.get("/api/tickets", headers=AGENT).json()["total"] == 0


HUGE = "99999999999999999999999"  # more than 64 bits


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", f"/api/tickets/{HUGE}", None, "ticket_id"),
        ("GET", "/api/tickets/2147483648", None, "ticket_id"),  # PostgreSQL's INTEGER ends here
        ("GET", "/api/tickets/0", None, "ticket_id"),
        ("GET", f"/api/tickets?offset={HUGE}", None, "offset"),
        ("POST", f"/api/tickets/{HUGE}/claim", None, "ticket_id"),
        ("POST", f"/api/tickets/{HUGE}/resolve", {"note": "done"}, "ticket_id"),
        ("POST", f"/api/tickets/{HUGE}/return", {"note": ""}, "ticket_id"),
        ("POST", f"/api/tickets/{HUGE}/messages", {"text": "hello"}, "ticket_id"),
        ("GET", "/api/tickets?since=0.5", None, "since"),  # not a Unix time: ISO 8601 only
        ("GET", "/api/tickets?since=0001-01-01T00:00:00%2B01:00", None, "since"),
    ],
)
def test_numbers_the_database_cannot_hold_get_a_422_that_names_the_field(
    client: TestClient, method: str, url: str, body: dict | None, field: str
) -> None:
    response = client.request(method, url, json=body, headers=AGENT)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"][-1] == field and error["msg"]


def test_text_the_database_cannot_hold_is_refused_or_cleaned(client: TestClient) -> None:
    nul_id = client.post("/api/tickets", json=_new("conv\x00nul"), headers=ACTION_SERVER)
    assert nul_id.status_code == 422 and nul_id.json()["detail"][0]["loc"][-1] == "conversation_id"
    past_year_9999 = _new(
        transcript=[{"sender": "customer", "text": "hi", "at": "9999-12-31T23:59:59-01:00"}]
    )
    late = client.post("/api/tickets", json=past_year_9999, headers=ACTION_SERVER)
    assert late.status_code == 422 and late.json()["detail"][0]["loc"][-1] == "at"
    path = client.get("/api/conversations/conv%00nul/ticket", headers=AGENT)
    assert path.status_code == 422

    created = client.post("/api/tickets", json=_new(), headers=ACTION_SERVER).json()
    url = f"/api/tickets/{created['ticket']['id']}"
    sent = client.post(f"{url}/messages", json={"text": "a\x00b"}, headers=AGENT)
    assert sent.status_code == 200 and sent.json()["transcript"][-1]["text"] == "ab"
    note = client.post(f"{url}/resolve", json={"note": "ok\x00"}, headers=AGENT)
    assert note.status_code == 200 and note.json()["resolution_note"] == "ok"


def test_since_with_a_utc_offset_means_that_moment(client: TestClient) -> None:
    client.post("/api/tickets", json=_new(), headers=ACTION_SERVER)
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    in_karachi = an_hour_ago.astimezone(dt.timezone(dt.timedelta(hours=5))).isoformat()
    found = client.get("/api/tickets", params={"since": in_karachi}, headers=AGENT).json()
    assert found["total"] == 1


def test_a_wrong_method_gets_a_405_that_lists_the_right_ones(client: TestClient) -> None:
    response = client.request("DELETE", "/api/tickets", headers=AGENT)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert "use GET or POST" in response.json()["detail"]


def test_pagination_and_filters(client: TestClient) -> None:
    for i in range(5):
        reason = "complaint" if i < 2 else "low_confidence"
        new = _new(f"c-{i}", reason, customer_email=f"u{i}@example.com")
        client.post("/api/tickets", json=new, headers=ACTION_SERVER)
    first = client.get("/api/tickets?status=open&limit=2", headers=AGENT).json()
    assert first["total"] == 5 and len(first["tickets"]) == 2 and first["next_offset"] == 2
    assert [t["reason"] for t in first["tickets"]] == ["complaint", "complaint"]
    last = client.get("/api/tickets?status=open&limit=2&offset=4", headers=AGENT).json()
    assert len(last["tickets"]) == 1 and last["next_offset"] is None
    complaints = client.get("/api/tickets?reason=complaint", headers=AGENT).json()
    assert complaints["total"] == 2
    later = client.get("/api/tickets?since=2999-01-01T00:00:00", headers=AGENT).json()
    assert later["total"] == 0


def test_openapi_schema_is_served_with_bounds_and_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/tickets" in schema["paths"] and "/api/tickets/{ticket_id}/claim" in schema["paths"]
    claim = schema["paths"]["/api/tickets/{ticket_id}/claim"]["post"]
    ticket_id = next(p for p in claim["parameters"] if p["name"] == "ticket_id")["schema"]
    assert ticket_id["minimum"] == 1 and ticket_id["maximum"] == 2**31 - 1
    assert {"401", "403", "404", "409", "422"} <= set(claim["responses"])
    assert {"400", "413", "422"} <= set(schema["paths"]["/api/tickets"]["post"]["responses"])


def test_a_failing_webhook_never_blocks_or_loses_a_ticket(queue_url: str, tmp_path: Path) -> None:
    answer = threading.Event()  # the broken webhook answers (500) only once this is set
    with Recorder(status=500, hold=answer) as broken:
        settings = _settings(
            queue_url,
            tmp_path,
            webhook_urls=[broken.url, "http://127.0.0.1:9/unreachable"],
            webhook_retries=2,
            webhook_timeout_seconds=60,
        )
        app = create_app(settings)
        with TestClient(app, base_url="https://testserver") as client:
            response = client.post("/api/tickets", json=_new(), headers=ACTION_SERVER)
            assert response.status_code == 201
            # delivery happens in the background: the ticket is made while the first call to
            # the webhook still waits for its answer, and no retry has been made
            assert len(broken.requests) <= 1 and not answer.is_set()
            answer.set()
            ticket_id = response.json()["ticket"]["id"]
            deadline = time.monotonic() + 30
            while len(broken.requests) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(broken.requests) == 3  # first try plus two retries
            assert client.get(f"/api/tickets/{ticket_id}", headers=AGENT).status_code == 200
        app.state.queue.close()


# -- inbox ----------------------------------------------------------------------------------------


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


def test_inbox_requires_sign_in_with_a_secure_cookie(client: TestClient) -> None:
    redirect = client.get("/inbox", follow_redirects=False)
    assert redirect.headers["location"].startswith("/inbox/login")
    assert client.get("/inbox.json").status_code == 401
    form = client.get("/inbox/login")
    wrong = client.post("/inbox/login", data={"token": "nope", "csrf": _csrf(form.text)})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    service = client.post("/inbox/login", data={"token": SERVICE, "csrf": _csrf(form.text)})
    assert service.status_code == 401
    no_csrf = client.post("/inbox/login", data={"token": ALICE})
    assert no_csrf.status_code == 403
    form = client.get("/inbox/login")
    data = {"token": ALICE, "csrf": _csrf(form.text)}
    ok = client.post("/inbox/login", data=data, follow_redirects=False)
    cookie = ok.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_inbox_pages_show_a_real_ticket_and_match_their_json_twins(client: TestClient) -> None:
    created = client.post("/api/tickets", json=_new(reason="complaint"), headers=ACTION_SERVER)
    ticket_id = created.json()["ticket"]["id"]
    _sign_in(client)
    page = client.get("/inbox")
    twin = client.get("/inbox.json").json()
    assert page.status_code == 200 and twin["total"] == 1
    assert f'href="/inbox/tickets/{ticket_id}"' in page.text
    assert twin["tickets"][0]["summary"] in page.text.replace("&#34;", '"')
    assert twin["counts"]["open"] == 1

    page = client.get(f"/inbox/tickets/{ticket_id}")
    twin = client.get(f"/inbox/tickets/{ticket_id}.json").json()
    assert page.status_code == 200
    for message in twin["transcript"]:
        assert message["text"] in page.text
    assert "Where is my order?" in page.text and 'href="https://h/t"' in page.text
    assert "request_human (0.91)" in page.text and "ana@example.com" in page.text

    csrf = _csrf(page.text)
    assert client.post(f"/inbox/tickets/{ticket_id}/claim", data={}).status_code == 403  # no token
    claimed = client.post(f"/inbox/tickets/{ticket_id}/claim", data={"csrf": csrf})
    assert claimed.status_code == 200 and "nobody yet" not in claimed.text
    client.post(f"/inbox/tickets/{ticket_id}/message", data={"csrf": csrf, "text": "On it!"})
    data = {"csrf": csrf, "text": "Fixed."}
    resolved = client.post(f"/inbox/tickets/{ticket_id}/resolve", data=data)
    assert resolved.status_code == 200
    twin = client.get(f"/inbox/tickets/{ticket_id}.json").json()
    assert twin["status"] == "resolved" and twin["resolution_note"] == "Fixed."
    assert twin["transcript"][-1] == {**twin["transcript"][-1], "sender": "agent", "text": "On it!"}


def test_inbox_ticket_ids_beyond_the_database_get_a_422(client: TestClient) -> None:
    _sign_in(client)
    for url in (f"/inbox/tickets/{HUGE}.json", f"/inbox/tickets/{HUGE}"):
        response = client.get(url)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == "ticket_id"


def test_inbox_escapes_what_customers_typed(client: TestClient) -> None:
    evil = _new(transcript=[{"sender": "customer", "text": "<script>alert(1)</script>"}])
    ticket_id = client.post("/api/tickets", json=evil, headers=ACTION_SERVER).json()["ticket"]["id"]
    _sign_in(client)
    page = client.get(f"/inbox/tickets/{ticket_id}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def _file(client: TestClient, conversation: str, reason: str, email: str, order: str, *lines):
    transcript = [{"sender": "customer", "text": line} for line in lines]
    new = _new(
        conversation, reason, customer_email=email, order_number=order, transcript=transcript
    )
    return client.post("/api/tickets", json=new, headers=ACTION_SERVER).json()["ticket"]["id"]


def test_inbox_searches_and_filters_and_its_links_keep_the_filters(client: TestClient) -> None:
    parcel = _file(client, "c1", "complaint", "ana@example.com", "100-1111", "my parcel is WET")
    refund = _file(client, "c2", "flow_failure", "bo@example.com", "100-2222", "where's my refund")
    other = _file(client, "c3", "complaint", "cy@example.com", "100-3333", "rude courier")
    _sign_in(client)

    def shown(**params) -> list[int]:
        twin = client.get("/inbox.json", params=params)
        assert twin.status_code == 200, twin.text
        ids = [t["id"] for t in twin.json()["tickets"]]
        page = client.get("/inbox", params=params).text
        assert sorted(map(int, re.findall(r'href="/inbox/tickets/(\d+)"', page))) == sorted(ids)
        return ids

    assert shown(q="Parcel") == [parcel]  # the transcript, any case
    assert shown(q="BO@example") == [refund]  # the email
    assert shown(q="100-3333") == [other]  # the order number
    assert sorted(shown(reason="complaint")) == [parcel, other]
    assert shown(q="example.com", reason="flow_failure", status="open") == [refund]
    assert shown(q="", reason="", status="") == [parcel, other, refund]  # an empty form
    client.post(f"/inbox/tickets/{other}/claim", data={"csrf": _csrf(client.get("/inbox").text)})
    assert shown(reason="complaint") == [parcel]
    assert shown(reason="complaint", status="claimed") == [other]
    assert sorted(shown(reason="complaint", status="all")) == [parcel, other]

    page = client.get("/inbox", params={"q": "wet parcel", "reason": "complaint"}).text
    assert 'value="wet parcel"' in page and '<option value="complaint" selected>' in page
    # every status tab keeps the search and the reason
    assert 'href="/inbox?status=claimed&amp;reason=complaint&amp;q=wet+parcel"' in page
    twin = client.get("/inbox.json", params={"q": "wet parcel", "reason": "complaint"}).json()
    assert twin["q"] == "wet parcel" and twin["reason"] == "complaint"
    assert twin["counts"] == {
        "open": 1,
        "claimed": 0,
        "resolved": 0,
        "returned_to_bot": 0,
        "all": 1,
    }


def test_inbox_refuses_bad_filters_with_the_reason(client: TestClient) -> None:
    _sign_in(client)
    for params, named in (
        ({"reason": "bored"}, "reason must be one of customer_request"),
        ({"status": "deleted"}, "status must be one of open"),
        ({"q": "x" * 201}, "at most 200"),
    ):
        twin = client.get("/inbox.json", params=params)
        assert twin.status_code == 422 and named in twin.json()["detail"]
        page = client.get("/inbox", params=params)
        assert page.status_code == 422 and named in page.text
        assert 'role="alert"' in page.text and "Claim next ticket" in page.text
    for params in ({"q": "x" * 5000}, {"reason": "r" * 100}, {"q": "\x00%_'\";--"}):
        for url in ("/inbox.json", "/inbox"):
            assert client.get(url, params=params).status_code in (200, 422)


def test_bot_messages_show_as_safe_markdown_and_lines_show_when_they_were_said(
    client: TestClient,
) -> None:
    transcript = [
        {"sender": "customer", "text": "**not bold** <b>hi</b>", "at": "2026-03-02T09:00:05Z"},
        {
            "sender": "bot",
            "text": "To cancel, **go to Orders**:\n1. Open the order\n2. Choose *Cancel*\n\n"
            "See [Cancel an order](/help/cancel-order#cancel) or "
            "[the policy](https://shop.example/terms).\nStill stuck? Ask me.\n"
            "[click](javascript:alert(1)) [data](data:text/html,hi) <img src=x onerror=alert(1)>",
            "at": "2026-03-02T09:00:06Z",
        },
        {"sender": "customer", "text": "a person please"},
    ]
    ticket_id = client.post(
        "/api/tickets", json=_new(transcript=transcript), headers=ACTION_SERVER
    ).json()["ticket"]["id"]
    _sign_in(client)
    page = client.get(f"/inbox/tickets/{ticket_id}").text
    assert "<strong>go to Orders</strong>" in page and "**go to" not in page
    assert "<li>Open the order</li>" in page and "<em>Cancel</em>" in page
    assert "<br />\nStill stuck?" in page  # a line break stays a line break
    assert (
        '<a href="/help/cancel-order#cancel" rel="noopener noreferrer" target="_blank">'
        "Cancel an order</a>" in page
    )
    assert '<a href="https://shop.example/terms" rel="noopener noreferrer"' in page
    assert "](/help" not in page and "](https" not in page
    # links that are not the web's stay text: never a javascript: or data: link
    assert 'href="javascript' not in page and 'href="data' not in page
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    # the customer's text is plain text
    assert "**not bold** &lt;b&gt;hi&lt;/b&gt;" in page
    # each line carries its own time; a line without one says so
    assert (
        '<time class="at" datetime="2026-03-02T09:00:05+00:00">2026-03-02 09:00:05</time>' in page
    )
    assert '<time class="at" datetime="2026-03-02T09:00:06+00:00">09:00:06</time>' in page
    assert "time not recorded" in page
    twin = client.get(f"/inbox/tickets/{ticket_id}.json").json()
    assert [m["at"] for m in twin["transcript"]] == [
        "2026-03-02T09:00:05+00:00",
        "2026-03-02T09:00:06+00:00",
        None,
    ]
    assert "<strong>go to Orders</strong>" in twin["transcript"][1]["html"]
    assert "html" not in twin["transcript"][0]  # customers' lines are text only


# -- a real server process, killed -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
    process.kill()
    raise AssertionError("server did not start")


def test_acknowledged_tickets_survive_kill_9_of_the_server(queue_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = child_env(
        {
            "BOT_SETTINGS_FILE": str(tmp_path / "none.toml"),
            "BOT_DATA_DIR": str(tmp_path / "var"),
            "BOT_DATABASE_URL": queue_url,
            "BOT_SERVICE_TOKEN": hash_token(SERVICE),
            "BOT_AGENT_TOKENS": json.dumps({"alice": hash_token(ALICE)}),
            "BOT_INDEX_DIR": str(tmp_path / "no-index"),
        }
    )
    server = _start_server(env, port)
    acknowledged = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=ACTION_SERVER) as http:
            for i in range(20):
                response = http.post("/api/tickets", json=_new(f"kill-{i}"))
                assert response.status_code == 201
                acknowledged.append(response.json()["ticket"]["id"])
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    server = _start_server(env, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AGENT) as http:
            for ticket_id in acknowledged:
                ticket = http.get(f"/api/tickets/{ticket_id}").json()
                assert ticket["transcript"][0]["text"] == "where is my order?"
    finally:
        server.terminate()
        server.wait(timeout=20)
    queue = HandoffQueue.from_url(queue_url)
    assert queue.list(limit=100)[1] == 20
    queue.close()
