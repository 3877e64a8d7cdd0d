"""How our processes prove to Rasa that they may call it: a short-lived JWT in a header.

Rasa's HTTP API takes either `?token=<auth token>` (a query parameter: every client library, proxy
and server that logs a request's URL logs the token with it) or a JWT in `Authorization: Bearer`
(`rasa run --jwt-secret ... --jwt-method HS256`, checked by sanic-jwt). We use the JWT only: its
HS256 key is `rasa_token`, which never leaves the processes that hold it; what goes over the wire
is a token signed with it that says `{"user": {"username": "tier0", "role": "admin"}}` (the
payload Rasa's `requires_auth` reads; "admin" may call every endpoint) and expires after
LIFETIME_SECONDS. Rasa's REST channel (rasa_plugins.channels.TokenRestInput) checks the same
header with `verify`. Standard library only: Rasa's environment imports this module too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

ALGORITHM = "HS256"
USERNAME = "tier0"
LIFETIME_SECONDS = 600
# a token is made again once it is this old, well before it expires on the way
RENEW_SECONDS = 300
LEEWAY_SECONDS = 30  # clocks of the machines that share the token may differ a little


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(secret: str, now: float | None = None, lifetime: int = LIFETIME_SECONDS) -> str:
    """A JWT (HS256, signed with secret) that lets its holder call every Rasa endpoint until it
    expires."""
    issued = int(time.time() if now is None else now)
    header = _b64(json.dumps({"alg": ALGORITHM, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = {
        "user": {"username": USERNAME, "role": "admin"},
        "iat": issued,
        "exp": issued + lifetime,
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    signed = f"{header}.{body}"
    mac = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(mac)}"


def verify(token: str, secret: str, now: float | None = None) -> dict | None:
    """The payload of a JWT signed with secret (HS256) that has not expired; None otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or not secret:
        return None
    try:
        header = json.loads(_unb64(parts[0]))
        payload = json.loads(_unb64(parts[1]))
        mac = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError):
        return None
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256)
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        return None
    if not hmac.compare_digest(mac, expected.digest()) or not isinstance(payload, dict):
        return None
    expires = payload.get("exp")
    moment = time.time() if now is None else now
    if not isinstance(expires, (int, float)) or expires + LEEWAY_SECONDS < moment:
        return None
    return payload


def bearer(authorization: str, secret: str) -> dict | None:
    """The payload of an `Authorization: Bearer <jwt>` header's token, when valid."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return verify(token.strip(), secret)


class RasaAuth:
    """httpx authentication for Rasa (`httpx.Client(auth=RasaAuth(secret))`): each request
    carries a fresh-enough JWT made from the secret (remade every RENEW_SECONDS), never the
    secret itself and never in the URL."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._token = ""
        self._made = 0.0

    def header(self) -> str:
        """The Authorization header's value for a request sent now."""
        with self._lock:
            now = time.time()
            if not self._token or now - self._made >= RENEW_SECONDS or now < self._made:
                self._token, self._made = make_jwt(self._secret, now), now
            return f"Bearer {self._token}"

    def __call__(self, request: httpx.Request) -> httpx.Request:
        """Add the header to the request (httpx calls this for each request it sends)."""
        request.headers["Authorization"] = self.header()
        return request

    def __repr__(self) -> str:  # never the secret in a traceback or a debugger's view
        return "RasaAuth(<secret>)"
