"""A real store's HTTP API, with timeouts and retries; failures become StoreUnavailable.

The contract (JSON; `Authorization: Bearer <store_api_token>` when a token is set):

- `POST {base}/password-resets` with `{"email": "..."}` → `202` whether or not the account exists,
  `429` when the store's own limit is hit.
- `GET {base}/orders/{number}?email=...` → `200` with an order (`number`, `status`, `carrier`,
  `tracking_url`, `estimated_delivery`, `placed_on`, `items`), or `404` when the number is unknown
  or the email does not match (the store must not tell which).
- `GET {base}/products/availability?ids=A,B` (feed item ids, at most 50) → `200` with
  `{"items": [{"id", "availability", "price", "sale_price", "currency", "quantity",
  "availability_date"}]}` for the variants the store tracks (the feed answers for the others);
  `404` when the store has no such endpoint (the feed answers for all).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from bot.store.base import (
    MAX_AVAILABILITY_IDS,
    STATUSES,
    Availability,
    Order,
    ResetOutcome,
    StoreUnavailable,
    normalize_email,
)
from bot.store.ratelimit import RateLimiter

RETRYABLE = {502, 503, 504}


class HttpStore:
    """Talks to the store's API; our own reset limit applies on top of the store's."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 3.0,
        retries: int = 2,
        limiter_path: Path | None = None,
        resets_per_hour: int = 3,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, headers=headers)
        self.retries = retries
        self._limiter = RateLimiter(limiter_path, resets_per_hour, 3600) if limiter_path else None

    def _request(self, method: str, url: str, **kwargs) -> httpx.Response:
        problem = ""
        for attempt in range(self.retries + 1):
            try:
                response = self._client.request(method, url, **kwargs)
                if response.status_code not in RETRYABLE:
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{exc.__class__.__name__}"
            if attempt < self.retries:
                time.sleep(0.2 * 2**attempt)
        raise StoreUnavailable(f"store API {method} {url} failed: {problem}")

    def request_password_reset(self, email: str) -> ResetOutcome:
        """Ask the store to send a reset link."""
        email = normalize_email(email)
        if self._limiter is not None and not self._limiter.hit(email):
            return "rate_limited"
        response = self._request("POST", "/password-resets", json={"email": email})
        if response.status_code == 429:
            return "rate_limited"
        if response.status_code not in (200, 202, 204):
            raise StoreUnavailable(f"store API answered {response.status_code} to a reset")
        return "sent"

    def find_order(self, order_number: str, email: str) -> Order | None:
        """The order if the store confirms the number and email belong together."""
        response = self._request(
            "GET", f"/orders/{order_number.strip()}", params={"email": normalize_email(email)}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise StoreUnavailable(f"store API answered {response.status_code} to an order lookup")
        try:
            order = Order.from_dict(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreUnavailable(f"store API sent an order we cannot read: {exc}") from exc
        if order.status not in STATUSES:
            raise StoreUnavailable(f"store API sent an unknown status {order.status!r}")
        return order

    def product_availability(self, item_ids: list[str]) -> dict[str, Availability]:
        """Live stock and price from the store; without the endpoint the feed answers."""
        ids = list(dict.fromkeys(item_ids))[:MAX_AVAILABILITY_IDS]
        if not ids:
            return {}
        response = self._request("GET", "/products/availability", params={"ids": ",".join(ids)})
        if response.status_code == 404:
            return {}
        if response.status_code != 200:
            raise StoreUnavailable(f"store API answered {response.status_code} to availability")
        try:
            items = [Availability.from_dict(item) for item in response.json()["items"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreUnavailable(f"store API sent availability we cannot read: {exc}") from exc
        return {item.item_id: item for item in items if item.item_id in ids}

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
