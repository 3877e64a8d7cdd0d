"""The web edge (web_edge): a real HAProxy in front of the real web app refuses an address over
its limit with 429 + Retry-After before the app, serves other addresses, and works the client's
address out of X-Forwarded-For as the app (uvicorn) does; an address refused again before its
Retry-After is tarpitted, and one address holds a bounded number of connections."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from uvicorn.middleware.proxy_headers import _TrustedHosts

from bot.settings import Settings
from bot.stack import Server, own_stack_settings, start_edge, start_web, wait_all
from bot.stack.edge import edge_config
from bot.stack.plan import Tokens, plan_stack

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs Debian's haproxy")


@dataclass
class Edge:
    settings: Settings
    web: Server
    edge: Server

    def new_conversation(self, forwarded_for: str | None = None) -> httpx.Response:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        return httpx.post(f"{self.edge.url}/api/chat/conversations", headers=headers, timeout=30)


def _edge(tmp_path: Path, **fields) -> Iterator[Edge]:
    fields.setdefault("rate_limit_tarpit_seconds", 0)  # the tarpit has tests of its own below
    settings = own_stack_settings(tmp_path, web_edge=True, **fields)
    web = start_web(settings, tmp_path)
    edge = None
    try:
        edge = start_edge(settings, tmp_path)
        wait_all([web, edge])
        yield Edge(settings, web, edge)
    finally:
        if edge is not None:
            edge.stop()
        web.stop()


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    yield from _edge(tmp_path, conversations_per_hour_per_address=2)


def test_an_address_over_its_limit_gets_429_from_haproxy_while_another_is_served(
    edge: Edge,
) -> None:
    assert [edge.new_conversation("198.51.100.1").status_code for _ in range(2)] == [201, 201]
    refused = edge.new_conversation("198.51.100.1")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    detail = refused.json()["detail"]
    assert detail.startswith("Too many requests: at most 2 new conversations from one address")
    assert detail.endswith(f"Try again in {refused.headers['Retry-After']} s.")
    served = edge.new_conversation("198.51.100.2")  # another customer
    assert served.status_code == 201
    for name in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
        assert refused.headers[name] == served.headers[name]  # the app's security headers
    # the refusal is HAProxy's own: with the web app stopped, the address is still refused
    # (nothing reached the app), and another one gets HAProxy's 503 (it was sent on)
    edge.web.stop()
    assert edge.new_conversation("198.51.100.1").status_code == 429
    assert edge.new_conversation("198.51.100.3").status_code == 503


def test_refused_requests_count_nothing_at_the_edge_either(edge: Edge) -> None:
    """As in the app: a script that keeps sending past the limit does not push its own
    allowance further away (only requests let through count)."""
    statuses = [edge.new_conversation("198.51.100.7").status_code for _ in range(6)]
    assert statuses == [201, 201, 429, 429, 429, 429]
    retry = {edge.new_conversation("198.51.100.7").headers["Retry-After"] for _ in range(3)}
    # the estimate for 2 let through this hour: ceil((2 - 2 + 1) * 3600 / 2); the refusals did
    # not add to the rate it is worked out from
    assert retry == {"1800"}


@pytest.mark.parametrize(
    ("chain", "same_as"),
    [
        ("198.51.100.9, 127.0.0.1", "198.51.100.9"),  # a trusted hop on the right is skipped
        ("203.0.113.5, 198.51.100.9", "198.51.100.9"),  # the rightmost untrusted one counts
        ("198.51.100.9:4711", "198.51.100.9"),  # an IPv4 entry's port is dropped
        ("203.0.113.5, 198.51.100.9, 127.0.0.1", "198.51.100.9"),  # each entry judged alone
        ("127.0.0.1, 127.0.0.1", "127.0.0.1"),  # all trusted: the first
    ],
)
def test_the_client_is_worked_out_of_x_forwarded_for_as_the_app_does(
    tmp_path: Path, chain: str, same_as: str
) -> None:
    # what the app alone (uvicorn's ProxyHeadersMiddleware) makes of the chain
    assert _TrustedHosts(["127.0.0.1"]).get_trusted_client_address(chain)[0] == same_as
    for edge in _edge(tmp_path, conversations_per_hour_per_address=1):
        assert edge.new_conversation(chain).status_code == 201
        assert edge.new_conversation(same_as).status_code == 429


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path) -> None:
    """Only trusted_proxies may say who the client is: from anyone else (here 127.0.0.1, not
    listed) the header is ignored at the edge, and the app is told the real peer."""
    for edge in _edge(
        tmp_path, conversations_per_hour_per_address=1, trusted_proxies=["192.0.2.1"]
    ):
        assert edge.new_conversation("198.51.100.1").status_code == 201
        assert edge.new_conversation("198.51.100.2").status_code == 429


def test_a_chat_message_over_the_address_limit_is_refused_at_the_edge(tmp_path: Path) -> None:
    """Messages count per address at the edge before the app looks at the conversation (its id
    need not even be valid: the app would refuse it, but only after the edge let it through)."""
    for edge in _edge(tmp_path, chat_messages_per_minute_per_address=1):
        url = f"{edge.edge.url}/api/chat/not-a-real-id/messages"
        headers = {"X-Forwarded-For": "198.51.100.4"}
        first = httpx.post(url, json={"text": "hi"}, headers=headers, timeout=30)
        second = httpx.post(url, json={"text": "hi"}, headers=headers, timeout=30)
        other = httpx.post(url, json={"text": "hi"}, headers={"X-Forwarded-For": "198.51.100.5"})
    assert first.status_code != 429 and other.status_code != 429
    assert second.status_code == 429 and "chat messages from one address" in second.json()["detail"]


def test_the_plan_puts_haproxy_in_front_and_the_app_behind_it(tmp_path: Path) -> None:
    settings = own_stack_settings(tmp_path, web_edge=True)
    specs = {s.name: s for s in plan_stack(settings, tmp_path / "m.tar.gz", tmp_path, Tokens())}
    assert specs["web edge (HAProxy)"].port == settings.web_port
    assert specs["web app"].port == settings.web_app_port
    assert specs["web app"].env["BOT_TRUSTED_PROXIES"] == '["127.0.0.1"]'
    assert "web edge (HAProxy)" not in {
        s.name for s in plan_stack(own_stack_settings(tmp_path), tmp_path / "m", tmp_path, Tokens())
    }


def test_x_forwarded_proto_passes_only_from_a_trusted_proxy(tmp_path: Path) -> None:
    trusted = edge_config(own_stack_settings(tmp_path))
    nobody = edge_config(own_stack_settings(tmp_path, trusted_proxies=[]))
    assert "del-header x-forwarded-proto unless from_proxy" in trusted
    assert "del-header x-forwarded-proto\n" in nobody and "from_proxy" not in nobody


def test_a_limit_of_zero_is_not_counted_at_the_edge(tmp_path: Path) -> None:
    config = edge_config(own_stack_settings(tmp_path, searches_per_minute_per_address=0))
    assert "edge_search" not in config and "edge_conversations" in config


def _timed(edge: Edge, address: str, answered: list) -> None:
    started = time.monotonic()
    response = edge.new_conversation(address)
    answered.append((response, time.monotonic() - started))


def test_a_repeat_refusal_is_tarpitted_while_another_address_is_served(tmp_path: Path) -> None:
    """The first refusal is answered at once (a client that reads Retry-After needs no more);
    one sent again before that Retry-After is held for rate_limit_tarpit_seconds, then gets
    the same 429 with what is left of it; meanwhile other addresses are served."""
    tarpit = 5.0  # long enough for the other address to be served meanwhile on a busy machine
    for edge in _edge(
        tmp_path, conversations_per_hour_per_address=1, rate_limit_tarpit_seconds=tarpit
    ):
        assert edge.new_conversation("198.51.100.20").status_code == 201
        first = edge.new_conversation("198.51.100.20")
        assert first.status_code == 429
        wait = int(first.headers["Retry-After"])  # ceil(1 * 3600 / 1)
        answered: list[tuple[httpx.Response, float]] = []

        held = threading.Thread(target=_timed, args=(edge, "198.51.100.20", answered))
        held.start()
        other = edge.new_conversation("198.51.100.21")
        still_held = held.is_alive()
        held.join(timeout=30)
        assert other.status_code == 201 and still_held
        ((response, seconds),) = answered
        assert seconds >= tarpit  # held at least the tarpit's time
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) == wait - int(tarpit)
        assert response.json()["detail"].endswith(f"Try again in {wait - int(tarpit)} s.")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_one_address_holds_a_bounded_number_of_connections(tmp_path: Path) -> None:
    """So that tarpitted connections cannot fill HAProxy's maxconn: past
    edge_connections_per_address open connections from one peer, a new one is closed
    (127.0.0.1 is not a trusted proxy here; a trusted one is never capped)."""
    for edge in _edge(tmp_path, edge_connections_per_address=1, trusted_proxies=["192.0.2.1"]):
        with httpx.Client(timeout=30) as kept:  # one connection, kept open between requests
            url = f"{edge.edge.url}/api/chat/conversations"
            assert kept.post(url).status_code == 201
            with pytest.raises(httpx.TransportError):
                httpx.post(url, timeout=30)  # a second connection from the same address
            assert kept.post(url).status_code == 201  # the open one is still served


def test_the_tarpit_and_the_connection_cap_can_be_turned_off(tmp_path: Path) -> None:
    on = edge_config(own_stack_settings(tmp_path, trusted_proxies=["10.0.0.0/8"]))
    assert "http-request tarpit status 429" in on and "timeout tarpit 5000ms" in on
    assert "track-sc2 src table edge_connections if !{ src 10.0.0.0/8 }" in on
    off = edge_config(
        own_stack_settings(tmp_path, rate_limit_tarpit_seconds=0, edge_connections_per_address=0)
    )
    assert "http-request tarpit" not in off and "edge_connections" not in off
    everyone = edge_config(own_stack_settings(tmp_path, trusted_proxies=["*"]))
    assert "edge_connections" not in everyone  # every peer may be a proxy: none is capped
