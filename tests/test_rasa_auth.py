"""The JWT our processes send Rasa: what Rasa's requires_auth reads, and what our channel checks."""

from __future__ import annotations

import base64
import json

import httpx

from bot.rasa_auth import LIFETIME_SECONDS, RasaAuth, bearer, make_jwt, verify

SECRET = "rasa-secret-for-the-test"


def _payload(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_a_token_says_admin_and_expires() -> None:
    token = make_jwt(SECRET, now=1_000_000)
    assert _payload(token) == {
        "user": {"username": "tier0", "role": "admin"},  # what Rasa's requires_auth reads
        "iat": 1_000_000,
        "exp": 1_000_000 + LIFETIME_SECONDS,
    }
    assert verify(token, SECRET, now=1_000_000 + 60) == _payload(token)
    assert verify(token, SECRET, now=1_000_000 + LIFETIME_SECONDS + 3600) is None  # expired
    assert verify(token, "another secret", now=1_000_060) is None
    header, body, mac = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    assert verify(f"{forged}.{body}.", SECRET, now=1_000_060) is None
    assert verify(f"{header}.{body}.{mac[:-2]}AA", SECRET, now=1_000_060) is None
    assert verify("not a token", SECRET) is None and verify(SECRET, SECRET) is None


def test_the_header_never_carries_the_secret_and_never_the_url() -> None:
    request = RasaAuth(SECRET)(httpx.Request("GET", "http://rasa/conversations/c1/tracker"))
    assert "token" not in str(request.url) and SECRET not in request.headers["Authorization"]
    assert bearer(request.headers["Authorization"], SECRET)["user"]["role"] == "admin"
    assert bearer(f"Bearer {SECRET}", SECRET) is None  # the token itself is no credential
    assert SECRET not in repr(RasaAuth(SECRET))
