"""The web app factory: help centre pages (citation targets), the widget's gateway, the agent
inbox and insights, the handoff API and its docs, all behind the security headers of
bot.web.security."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.catalog.alerts import AlertStore, restock_secret
from bot.conversations import ConversationLog
from bot.dialogue.answers import Gate
from bot.handoff import HandoffQueue
from bot.handoff.auth import Authenticator
from bot.handoff.notify import RasaResumer, WebhookNotifier
from bot.handoff.sessions import SessionStore, SignInThrottle
from bot.heap import freeze_loaded
from bot.help.record import HelpRecord
from bot.insights.overview import Insights
from bot.insights.review import Review
from bot.kb.builder import options_from
from bot.kb.embedder import Embedder
from bot.kb.learned import LearnedStore
from bot.kb.learning import LearnedRouting
from bot.kb.live import LiveIndexer
from bot.kb.search import KnowledgeBase, QueryEncoder
from bot.kb.store import KBIndexError
from bot.mail.mailer import TicketMailer, open_outbox
from bot.settings import Settings
from bot.tokens import internal_token, session_secret, stored_secret
from bot.web import api, availability, chat, help, inbox, insights, mail, restock, review, shop
from bot.web.conversation_ids import ConversationIds
from bot.web.limits import RateLimits, TooManyRequests, open_counter
from bot.web.security import SecurityHeaders
from bot.web.signin import AgentSessions

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
STATIC = Path(__file__).parent / "static"
WIDGET_JS = STATIC / "widget.js"


logger = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 3600.0
MAX_BODY_BYTES = 256 * 1024
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class BodyLimit:
    """Refuse request bodies over max_bytes with a JSON 413 that names the limit.

    FastAPI's own max_body_size answers in plain text when the client sends a Content-Length.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = f"The request body is over the {max_bytes // 1024} KiB limit; send less."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self.detail}, 413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # a body without Content-Length, found while reading
                raise HTTPException(413, self.detail)
            return message

        await self.app(scope, limited, send)


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    """A 500 in JSON like every other error; the traceback goes to the server's log."""
    return JSONResponse({"detail": "Internal server error; it has been logged."}, 500)


async def too_many_requests(request: Request, exc: TooManyRequests) -> Response:
    """429 with Retry-After and the reason: a short page for the help centre's pages, JSON for
    everything else; a repeat refusal after the tarpit's delay (bot.web.limits.Tarpit)."""
    exc = await request.app.state.limits.tarpit.hold(exc)
    headers = dict(exc.headers or {})
    if request.url.path.startswith("/help/"):
        page = TEMPLATES.get_template("too_many.html").render(reason=exc.detail)
        return HTMLResponse(page, 429, headers=headers)
    return JSONResponse({"detail": exc.detail}, 429, headers=headers)


async def method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
    """A 405 whose Allow header lists every method the path takes (Starlette names one route's)."""
    allowed = [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    ]
    detail = f"{request.method} is not allowed here; use {' or '.join(allowed) or 'nothing'}."
    return JSONResponse({"detail": detail}, 405, headers={"Allow": ", ".join(allowed)})


def open_queue(settings: Settings) -> HandoffQueue:
    """The handoff queue the settings describe, with its webhook and resume hooks."""
    notifier = WebhookNotifier(
        settings.webhook_urls,
        settings.webhook_secret,
        settings.webhook_timeout_seconds,
        settings.webhook_retries,
    )
    resumer = RasaResumer(settings.rasa_base_url, internal_token(settings, "rasa"))
    queue = HandoffQueue.from_url(
        settings.queue_url, on_created=notifier.ticket_created, on_closed=resumer.ticket_closed
    )
    # a ticket's emails are queued in the ticket's own transaction (bot.mail.mailer)
    queue.mail = TicketMailer.from_settings(settings, open_outbox(settings, queue.engine))
    return queue


@asynccontextmanager
async def record_turns(app: FastAPI) -> AsyncIterator[None]:
    """While the app runs: record new turns for the insights, and apply their retention."""
    task = asyncio.create_task(
        _record_forever(
            app.state.insights, app.state.sessions.store, app.state.limits, app.state.alerts
        )
    )
    live = app.state.live
    if live is not None:
        live.start()  # kb_watch: a saved article is published while the app runs
    try:
        yield
    finally:
        if live is not None:
            await asyncio.to_thread(live.stop)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        app.state.insights.close()


async def _record_forever(
    insights: Insights, sessions: SessionStore, limits: RateLimits, alerts: AlertStore
) -> None:
    last_purge = 0.0
    while True:
        try:
            await asyncio.to_thread(insights.record)
            if time.monotonic() - last_purge > PURGE_EVERY_SECONDS:
                await asyncio.to_thread(insights.purge)
                await asyncio.to_thread(sessions.purge)  # expired inbox sessions
                await asyncio.to_thread(limits.counter.purge)  # rate-limit counters gone by
                settings = insights.settings  # back-in-stock alerts' emails past retention
                await asyncio.to_thread(
                    alerts.purge, settings.restock_retention_days, settings.restock_confirm_days
                )
                last_purge = time.monotonic()
        except Exception:  # a database away for a moment: try again next time
            logger.exception("insights: recording failed; retrying")
        await asyncio.sleep(insights.settings.insights_record_seconds)


DEMO_AGENT_VARIABLE = "TIER0_DEMO_AGENT"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """One line per turn (bot.turns) at INFO; uvicorn's access log stays off, and so do the HTTP
    clients' per-request lines (httpx logs each request's full URL at INFO: a webhook's URL may
    carry its secret, and every turn would add two lines). Their warnings still show."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def action_health_url(webhook_url: str) -> str:
    """The action server's /health, beside its /webhook (rasa-sdk serves both at its root)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(webhook_url)
    path = parts.path.removesuffix("/webhook").rstrip("/") + "/health"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def with_demo_agent(settings: Settings) -> tuple[Settings, Path]:
    """A local demo agent whose token lives only in a private file under data_dir (the same
    token for every worker and every restart)."""
    from bot.handoff.auth import hash_token

    token_file = settings.data_dir / "demo-agent.token"
    token = stored_secret(token_file, nbytes=24)
    updated = settings.model_copy(
        update={"agent_tokens": {"demo": hash_token(token)}, "cookie_secure": False}
    )
    return updated, token_file


def from_environment() -> FastAPI:
    """The app for one of several uvicorn workers: settings from the environment (BOT_*),
    and the demo agent when `bot serve --demo` asked for it."""
    import os

    from bot.settings import load_settings

    configure_logging()
    settings = load_settings()
    if os.environ.get(DEMO_AGENT_VARIABLE) == "1" and not settings.agent_tokens:
        settings, _ = with_demo_agent(settings)
    app = create_app(settings)
    freeze_loaded("the web app")  # no collector pauses for what the worker keeps (bot.heap)
    return app


def question_encoder(settings: Settings) -> Callable[[], QueryEncoder] | None:
    """What embeds a search in the help centre: the action server's ONNX encoder, on one
    thread (a web worker answers many searches at once), unless the settings ask for torch."""
    if settings.query_encoder != "onnx":
        return None
    from functools import partial

    from bot.kb.encoder import load_query_encoder

    return partial(load_query_encoder, settings.embedding_model, settings.encoder_dir, 1)


def live_embedder(settings: Settings) -> Callable[[], Embedder]:
    """What embeds a saved article in the live indexer: the ONNX encoder on one thread (torch
    on one thread when the settings ask for torch, or when it cannot be made)."""
    from functools import partial

    from bot.kb.encoder import load_live_embedder

    return partial(
        load_live_embedder,
        settings.embedding_model,
        settings.encoder_dir,
        settings.query_encoder == "onnx",
    )


def create_app(
    settings: Settings, kb: KnowledgeBase | None = None, queue: HandoffQueue | None = None
) -> FastAPI:
    """Build the web app; tests pass their own settings (a temporary KB, index and database)."""
    app = FastAPI(
        title="Tier-0 support bot",
        lifespan=record_turns,
        version="0.1.0",
        middleware=[Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)],  # innermost: CORS applies
        exception_handlers={
            Exception: server_error,
            405: method_not_allowed,
            TooManyRequests: too_many_requests,
        },
        docs_url=None,  # self-hosted below (api_docs), never from a CDN
        redoc_url=None,
    )
    state: dict[str, KnowledgeBase | None] = {"kb": kb}
    queue = queue or open_queue(settings)
    auth = Authenticator(settings.agent_tokens, settings.service_token)
    app.state.queue = queue
    lifetime = settings.session_lifetime_hours * 3600
    sessions = AgentSessions(
        SessionStore(queue.engine, settings.session_idle_minutes * 60, lifetime),
        SignInThrottle(
            queue.engine, settings.sign_in_max_failures, settings.sign_in_window_minutes * 60
        ),
        auth,
    )
    app.state.sessions = sessions
    # The cookie carries the session's random id and the forms' CSRF token, signed; the
    # session itself is in the database (bot.handoff.sessions).
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(settings),
        session_cookie="tier0_inbox",
        max_age=int(lifetime),
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    # The widget may sit on the store's own domain (listed in widget_origins); it sends no
    # cookies, so CORS stays simple. No wildcard: an unlisted site cannot call the gateway.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.widget_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        max_age=600,
    )
    app.add_middleware(SecurityHeaders)  # outermost: every response, CORS preflights included
    app.include_router(api.build_router(queue, auth))
    app.include_router(inbox.build_router(queue, auth, sessions))
    rasa = chat.RasaClient(
        settings.rasa_base_url,
        internal_token(settings, "rasa"),
        actions_health_url=action_health_url(settings.action_webhook_url),
    )
    limits = RateLimits(settings, open_counter(settings, queue.engine))
    app.state.limits = limits
    guard = chat.Guard(
        ConversationIds.for_settings(settings),
        limits,
        client_secret=session_secret(settings),
        history_max_items=settings.history_max_items,
    )
    app.include_router(
        chat.build_router(queue, rasa, ConversationLog(settings.conversations_url), guard)
    )
    app.include_router(availability.build_router(settings, queue.engine))
    app.include_router(mail.build_router(settings, queue))

    learned = LearnedStore(queue.engine)

    def knowledge_base() -> KnowledgeBase:
        if state["kb"] is None:
            try:
                state["kb"] = KnowledgeBase(
                    settings.index_dir,
                    settings.embedding_model,
                    query_encoder=question_encoder(settings),
                    learning=lambda kb: LearnedRouting(
                        learned, kb.encode, settings.learned_poll_seconds
                    ),
                )
            except KBIndexError as exc:
                raise HTTPException(503, str(exc)) from exc
        return state["kb"]

    def index_if_built() -> KnowledgeBase | None:
        try:
            return knowledge_base()
        except HTTPException:
            return None  # no index yet: the report has no article titles or content gaps

    app.state.insights = Insights(settings, queue.engine, index_if_built)
    app.include_router(insights.build_router(app.state.insights, TEMPLATES, sessions))
    gate = Gate(
        settings.answer_threshold, settings.clarify_threshold, settings.similarity_threshold
    )
    app.state.review = Review(queue.engine, learned, gate, settings.nlu_weight)
    app.include_router(
        review.build_router(
            app.state.review, learned, app.state.insights, knowledge_base, TEMPLATES, sessions
        )
    )
    if settings.api_docs:
        add_api_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.include_router(
        shop.build_router(shop.Shop(settings.catalog_dir), TEMPLATES, settings.theme_color)
    )
    app.state.alerts = AlertStore(queue.engine)
    app.include_router(restock.build_router(app.state.alerts, restock_secret(settings), TEMPLATES))

    @app.get("/widget.js", include_in_schema=False)
    def widget_js() -> FileResponse:
        """The chat widget: one self-contained script, no third-party code."""
        return FileResponse(
            WIDGET_JS,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/theme.css", include_in_schema=False)
    def theme_css() -> Response:
        """The store's accent colour (setting theme_color) for the help centre's stylesheet."""
        css = f":root{{--brand:{settings.theme_color}}}\n"
        return Response(
            css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/healthz")
    def health() -> dict:
        """Liveness and the index version being served."""
        return {"status": "ok", "index_version": knowledge_base().reader.version}

    @app.get("/api/search", responses={429: {"description": "Over the search rate limit."}})
    def search(
        request: Request,
        q: str = Query(..., min_length=1, max_length=500, description="A customer question."),
        k: int = Query(5, ge=1, le=20, description="Number of articles."),
    ) -> list[dict]:
        """The best articles for a question, each with its best section and a citation link."""
        limits.search(request)
        return [hit.to_dict() for hit in knowledge_base().search(q, k)]

    app.state.live = None
    if settings.kb_watch:
        app.state.live = LiveIndexer(options_from(settings), live_embedder(settings))
    help_record = HelpRecord(queue.engine, session_secret(settings))
    app.state.help_record = help_record
    app.include_router(
        help.build_router(
            help.HelpCentre(
                settings,
                knowledge_base,
                help_record,
                sessions,
                TEMPLATES,
                session_secret(settings).encode(),
                problems=app.state.live.problems if app.state.live else list,
                limit_search=limits.search,
            )
        )
    )

    return app


def add_api_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) from the files fastapi-standalone-docs installs,
    started by a script of ours: no CDN, no inline script."""
    import fastapi_standalone_docs

    assets = Path(fastapi_standalone_docs.__file__).parent / "static"
    app.mount("/static/docs", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        """The API's interactive docs."""
        return TEMPLATES.TemplateResponse(
            request,
            "api_docs.html",
            {"kind": "swagger", "title": app.title, "openapi_url": app.openapi_url},
        )

    @app.get("/redoc", response_class=HTMLResponse, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        """The API's reference docs."""
        return TEMPLATES.TemplateResponse(
            request,
            "api_docs.html",
            {"kind": "redoc", "title": app.title, "openapi_url": app.openapi_url},
        )
