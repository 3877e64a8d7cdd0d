"""Who a browser request is from: the inbox's server-side sessions and its sign-in throttle.

The inbox cookie (signed, HttpOnly, SameSite=Lax, Secure unless cookie_secure is off) carries
a random session id and the form's CSRF token; the session itself lives in the handoff database
(bot.handoff.sessions), so signing out, an idle timeout, the absolute lifetime and removing or
changing an agent's token end it for every web worker at once. Failed sign-ins are logged with
the client's address (never the token) and throttled per address.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import Request

from bot.handoff.auth import Authenticator
from bot.handoff.sessions import SessionStore, SignInThrottle
from bot.web.limits import client_address

logger = logging.getLogger("bot.web.signin")
SESSION_KEY = "sid"
CSRF_KEY = "csrf"


class AgentSessions:
    """Signs agents in and out and tells which agent, if any, a request comes from."""

    def __init__(self, store: SessionStore, throttle: SignInThrottle, auth: Authenticator) -> None:
        self.store = store
        self.throttle = throttle
        self.auth = auth

    def agent(self, request: Request) -> str | None:
        """The signed-in agent of this request, checked against the database once per request."""
        if hasattr(request.state, "agent"):
            return request.state.agent
        session = self.store.check(request.session.get(SESSION_KEY), self.auth.credential)
        if session is None and SESSION_KEY in request.session:
            request.session.pop(SESSION_KEY)  # ended, expired or revoked: the cookie forgets it
        request.state.agent = session.agent if session else None
        return request.state.agent

    def agent_or_bearer(self, request: Request) -> str | None:
        """The signed-in agent, or the agent whose token the request carries as a Bearer header
        (a script reading a signed-in page's JSON twin)."""
        agent = self.agent(request)
        if agent:
            return agent
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            principal = self.auth.identify(header[7:].strip())
            if principal is not None and principal.kind == "agent":
                return principal.name
        return None

    def sign_in(self, request: Request, agent: str) -> None:
        """Begin a new session (a new id and a new CSRF token: nothing carries over)."""
        credential = self.auth.credential(agent)
        if credential is None:
            raise ValueError(f"'{agent}' is not an agent in agent_tokens.")
        self.throttle.succeeded(client_address(request))
        request.session.clear()
        request.session[SESSION_KEY] = self.store.create(agent, credential)
        request.session[CSRF_KEY] = secrets.token_urlsafe(32)
        request.state.agent = agent
        logger.info("inbox sign-in: %s from %s", agent, client_address(request))

    def sign_out(self, request: Request) -> None:
        """End this request's session in the database and forget the cookie's contents."""
        self.store.end(request.session.get(SESSION_KEY))
        request.session.clear()
        request.state.agent = None

    def attempt(self, request: Request) -> int | None:
        """Count a sign-in attempt from this client (as failed until sign_in); the seconds it
        must wait first when it has too many failures, else None."""
        wait = self.throttle.attempt(client_address(request))
        if wait is not None:
            logger.warning(
                "inbox sign-in refused: %s had %d failed sign-ins in %d min; %d s to wait",
                client_address(request),
                self.throttle.max_failures,
                self.throttle.window_seconds // 60,
                wait,
            )
        return wait

    def failed(self, request: Request, reason: str) -> None:
        """Log a failed sign-in (the address and why, never the token); attempt() counted it."""
        client = client_address(request)
        logger.warning(
            "inbox sign-in failed from %s: %s (failure %d; %d allowed per %d min)",
            client,
            reason,
            self.throttle.failures(client),
            self.throttle.max_failures,
            self.throttle.window_seconds // 60,
        )
