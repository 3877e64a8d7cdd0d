"""The pages behind a back-in-stock email's links: confirm the alert, and unsubscribe.

GET shows what the link is for and a button; only the POST the button sends acts. A mail
provider's link scanner opens every link of an email with GET, and must neither confirm an
alert nobody asked for nor end one. The one-click unsubscribe of a mail client (RFC 8058,
List-Unsubscribe-Post) POSTs to the same address. The token in the link is the only
credential (bot.catalog.alerts.sign): a bad or expired one gets a page that says so, with 400.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from bot.catalog.alerts import AlertStore, BadToken, verify
from bot.dialogue.restock import what

logger = logging.getLogger(__name__)

Token = Annotated[str, Query(max_length=200, description="The token of the email's link.")]
FormToken = Annotated[str, Form(max_length=200)]


def build_router(store: AlertStore, secret: str, templates: Jinja2Templates) -> APIRouter:
    """Routes under /restock."""
    router = APIRouter(include_in_schema=False)

    def page(request: Request, status: int = 200, **values) -> HTMLResponse:
        defaults = {"token": "", "done": False}
        response = templates.TemplateResponse(
            request, "restock.html", defaults | values, status_code=status
        )
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"  # the token stays here
        return response

    def alert_of(purpose: str, token: str):
        alert_id = verify(secret, purpose, token)
        alert = store.get(alert_id)
        if alert is None:
            raise BadToken("This alert no longer exists: ask the assistant again to be told.")
        return alert

    @router.get("/restock/confirm", response_class=HTMLResponse)
    def confirm_page(request: Request, t: Token = "") -> HTMLResponse:
        try:
            alert = alert_of("confirm", t)
        except BadToken as exc:
            return page(request, 400, kind="bad", problem=str(exc))
        return page(request, kind="confirm", alert=alert, what=_what(alert), token=t)

    @router.post("/restock/confirm", response_class=HTMLResponse)
    def confirm(request: Request, t: FormToken = "") -> HTMLResponse:
        try:
            alert = alert_of("confirm", t)
        except BadToken as exc:
            return page(request, 400, kind="bad", problem=str(exc))
        if alert.status == "unsubscribed":
            return page(request, 409, kind="bad", problem="You unsubscribed from this alert.")
        alert = store.confirm(alert.id) or alert
        logger.info("back-in-stock alert %s confirmed", alert.id)
        return page(request, kind="confirm", alert=alert, what=_what(alert), done=True)

    @router.get("/restock/unsubscribe", response_class=HTMLResponse)
    def unsubscribe_page(request: Request, t: Token = "") -> HTMLResponse:
        try:
            alert = alert_of("unsubscribe", t)
        except BadToken as exc:
            return page(request, 400, kind="bad", problem=str(exc))
        return page(request, kind="unsubscribe", alert=alert, what=_what(alert), token=t)

    @router.post("/restock/unsubscribe", response_class=HTMLResponse)
    def unsubscribe(
        request: Request, t: Token = "", token: Annotated[str, Form(max_length=200)] = ""
    ) -> HTMLResponse:
        # the page's button sends the token in the form; a mail client's one-click POST keeps
        # it in the address (and sends List-Unsubscribe=One-Click as the body)
        try:
            alert = alert_of("unsubscribe", token or t)
        except BadToken as exc:
            return page(request, 400, kind="bad", problem=str(exc))
        alert = store.unsubscribe(alert.id) or alert
        logger.info("back-in-stock alert %s unsubscribed", alert.id)
        return page(request, kind="unsubscribe", alert=alert, what=_what(alert), done=True)

    return router


def _what(alert) -> str:
    return what({"title": alert.product_title, "variant_title": alert.variant_title})
