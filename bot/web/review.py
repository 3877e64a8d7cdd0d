"""The review queue (/review) for signed-in writers and agents: place the questions the bot missed.

Each group of missed questions (bot.insights.review) comes with the router's best suggestions;
one click confirms where the ticked questions belong (an article, a flow, a person, or "not
something we answer"), or marks them as needing a new article and offers the draft. A
confirmation is stored with who made it and when (bot.kb.learned), can be undone from the same
page, and reaches the bot's router within seconds (bot.kb.learning). The page has a JSON twin
(/review.json, also with `Authorization: Bearer <agent token>`); its forms need the inbox's
session and CSRF token, and work without any script.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bot.conversations import ConversationStoreUnavailable
from bot.inbound import MAX_CHARS
from bot.insights.gaps import draft
from bot.insights.overview import Insights, period
from bot.insights.review import Review
from bot.kb.learned import NEW_ARTICLE, BadQuestion, BadTarget, LearnedStore, check_target
from bot.kb.search import KnowledgeBase
from bot.web.signin import AgentSessions

logger = logging.getLogger(__name__)

Days = Annotated[int, Query(ge=1, le=366, description="Days back from today (default 30).")]
Batch = Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$")]
GapKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A group's key.")]
DEFAULT_DAYS = 30
MAX_QUESTIONS = 20  # a group shows at most five; more in one form is not a person's click


def build_router(
    review: Review,
    store: LearnedStore,
    insights: Insights,
    knowledge_base: Callable[[], KnowledgeBase],
    templates: Jinja2Templates,
    sessions: AgentSessions,
) -> APIRouter:
    """Routes under /review."""
    router = APIRouter(include_in_schema=False)

    who = sessions.agent_or_bearer

    def signed_in_form(request: Request, csrf: str) -> str:
        """The session's agent after a form's CSRF check; 401/403 otherwise."""
        agent = sessions.agent(request)
        if agent is None:
            raise HTTPException(401, "Sign in at /inbox/login to confirm questions.")
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(expected, csrf or ""):
            raise HTTPException(403, "The form expired or did not come from this site; reload it.")
        return agent

    def data(days: int, include_test: bool, done: str | None = None) -> dict:
        since, until = period(None, None, days)
        try:
            insights.record()  # what customers said a moment ago is in the queue
        except ConversationStoreUnavailable as exc:
            logger.warning("review: conversations not recorded just now (%s)", exc)
        try:
            kb = knowledge_base()
        except HTTPException:
            kb = None  # no index built yet: nothing to group the questions against
        return review.build(kb, since, until, include_test, done)

    @router.get("/review.json")
    def review_json(
        request: Request, days: Days = DEFAULT_DAYS, include_test: bool = False
    ) -> JSONResponse:
        if who(request) is None:
            return JSONResponse(
                {"detail": "Sign in at /inbox/login or send an agent's token."}, 401
            )
        return JSONResponse(data(days, include_test))

    @router.get("/review", response_class=HTMLResponse)
    def review_page(
        request: Request, days: Days = DEFAULT_DAYS, include_test: bool = False, done: Batch = None
    ) -> Response:
        agent = who(request)
        if agent is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/inbox/login?{urlencode({'next': here})}", status_code=303)
        return templates.TemplateResponse(
            request,
            "review.html",
            {
                "agent": agent,
                "csrf": request.session.get("csrf", ""),
                "r": data(days, include_test, done),
                "days": days,
                "include_test": include_test,
            },
        )

    def back(days: int, include_test: bool, done: str | None = None) -> RedirectResponse:
        query = {"days": days, **({"include_test": "true"} if include_test else {})}
        if done:
            query["done"] = done
        return RedirectResponse(f"/review?{urlencode(query)}", status_code=303)

    @router.post("/review/confirm")
    def confirm(
        request: Request,
        target: Annotated[str, Form(max_length=300)],
        question: Annotated[list[str], Form()],
        csrf: Annotated[str, Form(max_length=128)] = "",
        key: Annotated[str, Form(max_length=64)] = "",
        days: Annotated[int, Form(ge=1, le=366)] = DEFAULT_DAYS,
        include_test: Annotated[bool, Form()] = False,
    ) -> Response:
        agent = signed_in_form(request, csrf)
        texts = [q for q in question if q.strip()]
        if not texts:
            raise HTTPException(422, "Tick at least one question to confirm.")
        if len(texts) > MAX_QUESTIONS or any(len(q) > 4 * MAX_CHARS for q in texts):
            raise HTTPException(422, f"Confirm at most {MAX_QUESTIONS} questions at a time.")
        kb = knowledge_base()
        try:
            target = check_target(target, [a["id"] for a in kb.reader.articles()])
            text = None
            if target == NEW_ARTICLE:
                text = _draft(review, kb, key, days, include_test, texts)
            rows = store.confirm(texts, target, agent, draft=text)
        except (BadTarget, BadQuestion) as exc:
            raise HTTPException(422, str(exc)) from exc
        logger.info("review: %s confirmed %d question(s) as %s", agent, len(rows), target)
        return back(days, include_test, rows[0].batch)

    @router.post("/review/undo")
    def undo(
        request: Request,
        batch: Annotated[str, Form(pattern=r"^[0-9a-f]{32}$")],
        csrf: Annotated[str, Form(max_length=128)] = "",
        days: Annotated[int, Form(ge=1, le=366)] = DEFAULT_DAYS,
        include_test: Annotated[bool, Form()] = False,
    ) -> Response:
        agent = signed_in_form(request, csrf)
        if not store.batch(batch):
            raise HTTPException(404, f"No confirmation '{batch}'; reload /review for the list.")
        undone = store.remove(batch=batch, by=agent)
        logger.info("review: %s undid %d confirmation(s)", agent, undone)
        return back(days, include_test)

    @router.get("/review/drafts/{row_id}.md")
    def saved_draft(request: Request, row_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
        if who(request) is None:
            return JSONResponse(
                {"detail": "Sign in at /inbox/login or send an agent's token."}, 401
            )
        row = store.get(row_id)
        if row is None or row.draft is None:
            raise HTTPException(404, f"No draft with id {row_id}; reload /review for the list.")
        found = re.search(r"^id: *([a-z0-9-]+) *$", row.draft, re.MULTILINE)
        filename = (found.group(1) if found else f"draft-{row_id}") + ".md"
        return Response(
            row.draft,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.get("/review/groups/{key}/draft.md")
    def group_draft(
        request: Request, key: GapKey, days: Days = DEFAULT_DAYS, include_test: bool = False
    ) -> Response:
        if who(request) is None:
            return JSONResponse(
                {"detail": "Sign in at /inbox/login or send an agent's token."}, 401
            )
        since, until = period(None, None, days)
        gap = next(
            (
                g
                for g in review.groups(knowledge_base(), since, until, include_test)
                if g.key == key
            ),
            None,
        )
        if gap is None:
            raise HTTPException(404, f"No group '{key}' in the queue; reload /review for the list.")
        text = draft(gap, dt.datetime.now(dt.UTC).date())
        found = re.search(r"^id: *([a-z0-9-]+) *$", text, re.MULTILINE)
        filename = (found.group(1) if found else f"draft-{key}") + ".md"
        return Response(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return router


def _draft(
    review: Review, kb: KnowledgeBase, key: str, days: int, include_test: bool, texts: list[str]
) -> str:
    """The article draft for a group marked as needing a new article (its questions ticked)."""
    import dataclasses

    since, until = period(None, None, days)
    gap = next((g for g in review.groups(kb, since, until, include_test) if g.key == key), None)
    if gap is None:
        raise BadQuestion(f"no group '{key[:64]}' in the queue; reload /review")
    return draft(dataclasses.replace(gap, examples=texts[:5]), dt.datetime.now(dt.UTC).date())
