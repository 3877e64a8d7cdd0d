"""Store backends: the deterministic demo store, and the HTTP store against a real server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import uvicorn

from bot.store.api_server import create_store_api
from bot.store.base import STATUSES, StoreUnavailable, extract_email, extract_order_number
from bot.store.demo import DemoStore
from bot.store.http import HttpStore
from bot.store.ratelimit import RateLimiter
from tests.recorder import Recorder


@pytest.fixture
def demo(tmp_path: Path) -> DemoStore:
    return DemoStore(tmp_path / "store.db")


def test_the_demo_store_is_seeded_the_same_way_every_time(demo: DemoStore, tmp_path: Path) -> None:
    again = DemoStore(tmp_path / "other.db")
    assert demo.sample("delivered") == again.sample("delivered")
    counts = {
        s: demo._db.execute("SELECT count(*) FROM orders WHERE status = ?", (s,)).fetchone()[0]
        for s in STATUSES
    }
    assert sum(counts.values()) == 1000 and min(counts.values()) > 100
    assert demo._db.execute("SELECT count(*) FROM customers").fetchone()[0] == 500


def test_orders_are_found_only_with_the_matching_email(demo: DemoStore) -> None:
    number, email = demo.sample("shipped")
    order = demo.find_order(number, email.upper())
    assert order.status == "shipped" and order.carrier and order.tracking_url.startswith("https://")
    assert order.estimated_delivery is not None
    assert demo.find_order(number, "someone@else.com") is None
    assert demo.find_order("000-0000", email) is None


def test_resets_do_not_reveal_accounts_and_are_rate_limited(demo: DemoStore) -> None:
    email = demo.customer_emails(1)[0]
    assert demo.request_password_reset(email) == "sent"
    assert demo.request_password_reset("nobody@nowhere.example") == "sent"
    assert len(demo.outbox(email)) == 1 and demo.outbox("nobody@nowhere.example") == []
    assert "reset-password?token=" in demo.outbox(email)[0]["link"]
    assert demo.request_password_reset(email) == "sent"
    assert demo.request_password_reset(email) == "sent"
    assert demo.request_password_reset(email) == "rate_limited"
    assert len(demo.outbox(email)) == 3


def test_the_rate_limit_window_slides(tmp_path: Path) -> None:
    limiter = RateLimiter(tmp_path / "limits.db", limit=3, window_seconds=3600)
    assert all(limiter.hit("a", now=1000.0 + i) for i in range(3))
    assert not limiter.hit("a", now=1010.0)
    assert limiter.hit("b", now=1010.0)
    assert limiter.hit("a", now=1000.0 + 3601)


def test_extraction_from_messages() -> None:
    assert extract_order_number("where is my order 123-4567?") == "123-4567"
    assert extract_order_number("call 1-800-555-0142") is None
    assert extract_email("it's Ana.Silva@Example.com thanks") == "Ana.Silva@Example.com"


class _Server:
    """Serve an ASGI app with uvicorn on a free local port, in a thread."""

    def __init__(self, app) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_the_http_store_speaks_the_documented_contract(demo: DemoStore, tmp_path: Path) -> None:
    with _Server(create_store_api(demo, token="store-secret")) as url:
        store = HttpStore(url, token="store-secret", limiter_path=tmp_path / "limits.db")
        number, email = demo.sample("out_for_delivery")
        order = store.find_order(number, email)
        assert order == demo.find_order(number, email)
        assert store.find_order(number, "wrong@example.com") is None
        customer = demo.customer_emails(1)[0]
        assert store.request_password_reset(customer) == "sent"
        assert len(demo.outbox(customer)) == 1
        wrong_token = HttpStore(url, token="nope")
        with pytest.raises(StoreUnavailable, match="401"):
            wrong_token.find_order(number, email)


def test_the_http_store_retries_and_then_gives_up_cleanly(tmp_path: Path) -> None:
    with Recorder(status=503) as flaky:
        store = HttpStore(flaky.url, retries=2, timeout=1)
        with pytest.raises(StoreUnavailable, match="HTTP 503"):
            store.request_password_reset("a@b.co")
        assert len(flaky.requests) == 3
    unreachable = HttpStore("http://127.0.0.1:9", retries=1, timeout=0.5)
    with pytest.raises(StoreUnavailable, match="ConnectError"):
        unreachable.find_order("123-4567", "a@b.co")


def test_live_availability_from_the_demo_store_and_over_http(demo: DemoStore) -> None:
    import datetime as dt
    from decimal import Decimal

    assert demo.product_availability(["P0101-01"]) == {}  # not tracked: the feed answers
    demo.set_stock("P0101-01", "in_stock", quantity=4, price="25.00")
    demo.set_stock("P1701-02", "out_of_stock", availability_date=dt.date(2027, 1, 10))
    live = demo.product_availability(["P0101-01", "P1701-02", "unknown"])
    assert live["P0101-01"].availability == "in_stock"
    assert live["P0101-01"].price == Decimal("25.00") and live["P0101-01"].quantity == 4
    assert live["P1701-02"].availability_date == dt.date(2027, 1, 10)
    assert "unknown" not in live
    with pytest.raises(ValueError, match="availability must be one of"):
        demo.set_stock("P0101-01", "plenty")
    with _Server(create_store_api(demo, token="store-secret")) as url:
        store = HttpStore(url, token="store-secret")
        assert store.product_availability(["P0101-01", "P1701-02", "unknown"]) == live
        assert store.product_availability([]) == {}
    from fastapi import FastAPI

    with _Server(FastAPI()) as old_api:  # a store API without the endpoint: the feed answers
        assert HttpStore(old_api, retries=0).product_availability(["P0101-01"]) == {}
