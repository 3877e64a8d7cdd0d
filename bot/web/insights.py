"""The /insights pages for signed-in agents and leads: the report, its JSON twin, charts, drafts.

Signed in with the inbox's session (an agent's token at /inbox/login), or, for the JSON twin and
the drafts, `Authorization: Bearer <agent token>`. No token, no page. The one form (retrying an
email that failed for good) needs the session and its CSRF token. Each request first records
what Rasa stored since the last time, so the page is never more than a moment behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bot.catalog.store import read_status
from bot.conversations import ConversationStoreUnavailable
from bot.insights.overview import Insights, period
from bot.insights.plots import PLOTS
from bot.mail.mailer import open_outbox
from bot.web.signin import AgentSessions

logger = logging.getLogger(__name__)

Day = Annotated[dt.date | None, Query(description="First day (YYYY-MM-DD, UTC).")]
Days = Annotated[int, Query(ge=1, le=366, description="Days back from `until` (default 7).")]
GapKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A gap's key.")]


def build_router(
    insights: Insights, templates: Jinja2Templates, sessions: AgentSessions
) -> APIRouter:
    """Routes under /insights."""
    router = APIRouter(include_in_schema=False)

    who = sessions.agent_or_bearer

    def report(since, until, days: int, include_test: bool, with_gaps: bool = True) -> dict:
        try:
            start, end = period(since, until, days)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        try:
            insights.record()
        except ConversationStoreUnavailable as exc:
            logger.warning("insights: conversations not recorded just now (%s)", exc)
        return insights.report(start, end, include_test=include_test, with_gaps=with_gaps)

    def unauthorised() -> JSONResponse:
        return JSONResponse({"detail": "Sign in at /inbox/login or send an agent's token."}, 401)

    @router.get("/insights.json")
    def insights_json(
        request: Request,
        since: Day = None,
        until: Day = None,
        days: Days = 7,
        include_test: bool = False,
    ) -> JSONResponse:
        if who(request) is None:
            return unauthorised()
        return JSONResponse(report(since, until, days, include_test))

    @router.get("/insights", response_class=HTMLResponse)
    def insights_page(
        request: Request,
        since: Day = None,
        until: Day = None,
        days: Days = 7,
        include_test: bool = False,
    ) -> Response:
        agent = who(request)
        if agent is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/inbox/login?{urlencode({'next': here})}", status_code=303)
        data = report(since, until, days, include_test)
        query = urlencode({k: v for k, v in request.query_params.items() if k in PERIOD_PARAMS})
        return templates.TemplateResponse(
            request,
            "insights.html",
            {
                "agent": agent,
                "csrf": request.session.get("csrf", ""),
                "r": data,
                "query": query,
                "days": days,
                "plots": {name: label for name, (_, label) in PLOTS.items()},
                "article_activity": any(
                    a["served"] or a["up"] or a["down"] or a["handoffs_after"]
                    for a in data["articles"]
                ),
                "pct": percent,
                "duration": duration,
                "catalog": read_status(insights.settings.catalog_dir),
            },
        )

    @router.get("/insights/plots/{name}.png")
    def plot(
        request: Request,
        name: Annotated[str, Path(pattern=r"^[a-z]{1,20}$")],
        since: Day = None,
        until: Day = None,
        days: Days = 7,
        include_test: bool = False,
    ) -> Response:
        if who(request) is None:
            return unauthorised()
        if name not in PLOTS:
            raise HTTPException(404, f"No chart '{name}'; there are: {', '.join(PLOTS)}.")
        data = report(since, until, days, include_test, with_gaps=False)
        return Response(
            PLOTS[name][0](data), media_type="image/png", headers={"Cache-Control": "no-store"}
        )

    @router.get("/insights/gaps/{key}/draft.md")
    def gap_draft(
        request: Request,
        key: GapKey,
        since: Day = None,
        until: Day = None,
        days: Days = 7,
    ) -> Response:
        if who(request) is None:
            return unauthorised()
        try:
            start, end = period(since, until, days)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        text = insights.draft(key, start, end)
        if text is None:
            raise HTTPException(
                404, f"No content gap '{key}' in this period; reload /insights for the list."
            )
        found = re.search(r"^id: *([a-z0-9-]+) *$", text, re.MULTILINE)  # the file it asks for
        filename = (found.group(1) if found else f"draft-{key}") + ".md"
        return Response(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.post("/insights/mail/{email_id}/retry")
    def retry_email(
        request: Request,
        email_id: Annotated[int, Path(ge=1, le=2**62, description="The email's id.")],
        csrf: Annotated[str, Form(max_length=128)] = "",
        back: Annotated[str, Form(max_length=300, pattern=r"^[A-Za-z0-9_=&.%+-]*$")] = "",
    ) -> Response:
        """Queue an email that failed for good again (after its cause was fixed)."""
        agent = sessions.agent(request)
        if agent is None:
            raise HTTPException(401, "Sign in at /inbox/login to retry an email.")
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(expected, csrf):
            raise HTTPException(403, "The form expired or did not come from this site; reload it.")
        outbox = open_outbox(insights.settings, insights.engine)
        email = outbox.get(email_id)
        if email is None:
            raise HTTPException(404, f"Email {email_id} doesn't exist.")
        if not outbox.retry(email_id):
            raise HTTPException(
                409, f"Email {email_id} is {email.status}, not failed: there is nothing to retry."
            )
        logger.info("insights: %s queued email %s again", agent, email_id)
        return RedirectResponse(f"/insights?{back}#mail-h" if back else "/insights#mail-h", 303)

    return router


PERIOD_PARAMS = ("since", "until", "days", "include_test")


def percent(value: float | None) -> str:
    """0.4567 -> '45.7 %'; no value -> '—'."""
    return "—" if value is None else f"{100 * value:.1f} %"


def duration(seconds: float | None) -> str:
    """Seconds as '45 s', '12 min', '3.5 h'; no value -> '—'."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
