"""Security headers on every response: Content-Security-Policy, framing, sniffing, referrer, HSTS.

Every page runs without inline script or inline style: templates load their scripts and styles
from /static, and the widget styles its shadow root with a constructed stylesheet. The signed-in
pages (the inbox, its sign-in, the insights and the review queue) may not be framed at all and
are never cached; the public pages (the store, the help centre) may be framed by this site only.
The API docs (/docs, /redoc) run their self-hosted bundles, which set styles inline, so their
policy allows inline style (never inline script). HSTS is sent when the request came over HTTPS
(directly, or through a proxy uvicorn trusts for X-Forwarded-Proto).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRIVATE_PREFIXES = ("/inbox", "/insights", "/review")
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"


def _policy(frame_ancestors: str, styles: str = "'self'", extra: str = "") -> str:
    return (
        "default-src 'self'; script-src 'self'; "
        f"style-src {styles}; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}{extra}"
    )


PRIVATE_POLICY = _policy("'none'")
PUBLIC_POLICY = _policy("'self'")
# Help articles may show writers' images from other https sites (bot.kb.render allows them).
HELP_POLICY = PUBLIC_POLICY.replace("img-src 'self' data:", "img-src 'self' data: https:")
DOCS_POLICY = _policy("'none'", "'self' 'unsafe-inline'", "; worker-src 'self' blob:")
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def headers_for(path: str, https: bool) -> dict[str, str]:
    """The security headers of a response to path."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if path.startswith(PRIVATE_PREFIXES):
        headers.update(
            {
                "Content-Security-Policy": PRIVATE_POLICY,
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "same-origin",
                "Cross-Origin-Opener-Policy": "same-origin",
            }
        )
    elif path in DOCS_PATHS:
        headers.update({"Content-Security-Policy": DOCS_POLICY, "X-Frame-Options": "DENY"})
    elif path.startswith("/api/") or path == "/openapi.json":
        headers["Content-Security-Policy"] = API_POLICY
    elif path.startswith("/help"):
        headers.update({"Content-Security-Policy": HELP_POLICY, "X-Frame-Options": "SAMEORIGIN"})
    else:
        headers.update({"Content-Security-Policy": PUBLIC_POLICY, "X-Frame-Options": "SAMEORIGIN"})
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """ASGI middleware that adds headers_for(path) to every HTTP response; the signed-in pages
    also get Cache-Control: no-store, and /static files no-cache, unless they set their own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = headers_for(path, scope.get("scheme") == "https")
        private = path.startswith(PRIVATE_PREFIXES)
        # the pages' scripts and styles: revalidated (a 304 when unchanged), never stale
        cache = "no-store" if private else "no-cache" if path.startswith("/static/") else None

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
                if cache:
                    headers.setdefault("Cache-Control", cache)
            await send(message)

        await self.app(scope, receive, with_headers)
