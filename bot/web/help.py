"""The help centre: article pages (the bot's citation targets), search with suggestions,
"Was this helpful?" votes, related articles and the sitemap.

Every page works without JavaScript (the search box is a GET form, a vote a POST form that
redirects back); /static/help.js adds suggestions as the visitor types. Article text is
rendered by bot.kb.render (no raw HTML); search snippets are plain text whose highlights the
template marks, so nothing an article or a visitor types becomes markup. A visitor is a random
id in a cookie (no sign-in); a vote carries a token bound to that id and the article, so
another site cannot vote in a visitor's name. Signed-in agents (writers) also see drafts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import posixpath
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from bot.dialogue.replies import HELP_ARTICLE_GREETING, HELP_VOTE_REASONS
from bot.help.record import HelpRecord, RateLimited, Vote
from bot.help.schema import REASONS
from bot.help.search import HelpSearch
from bot.kb.chunker import plain_text
from bot.kb.guide import find_guides, guide_html, parse_guide
from bot.kb.loader import Article, parse_article, rewrite_links
from bot.kb.media import MEDIA_TYPES, media_path, rewrite_media
from bot.kb.render import render_markdown
from bot.kb.search import KnowledgeBase
from bot.settings import Settings
from bot.web.signin import AgentSessions, client_address

logger = logging.getLogger(__name__)
VISITOR_COOKIE = "tier0_visitor"
VISITOR_DAYS = 365
MAX_QUERY = 500
SUGGESTIONS = 6
RESULTS = 10
RELATED = 5
TOC_MIN_HEADINGS = 3  # a table of contents from this many sections up
DESCRIPTION_CHARS = 155
ALIGNED_CELL = re.compile(r' style="text-align: (left|center|right);"')


@dataclass
class HelpCentre:
    """What the help centre's routes share."""

    settings: Settings
    knowledge_base: Callable[[], KnowledgeBase]
    record: HelpRecord
    sessions: AgentSessions
    templates: Jinja2Templates
    secret: bytes
    search: HelpSearch | None = None
    problems: Callable[[], list] = list  # the live indexer's last refused saves (kb_watch)
    limit_search: Callable[[Request], None] | None = None  # the searches' rate limit (429)

    def searcher(self) -> HelpSearch:
        """The help centre's search over the index being served."""
        kb = self.knowledge_base()
        if self.search is None or self.search.kb is not kb:
            self.search = HelpSearch(kb, self.settings.help_search_min_score)
        return self.search

    def token(self, visitor: str, article_id: str) -> str:
        """The vote form's token for this visitor and article."""
        message = f"vote\0{visitor}\0{article_id}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def canonical(self, request: Request, path: str) -> str:
        """The absolute address of a help-centre path, on the public help-centre host."""
        base = self.settings.help_base_url
        if base.startswith(("http://", "https://")):
            return base.rstrip("/") + "/" + path.removeprefix("/help/").lstrip("/")
        return str(request.base_url).rstrip("/") + path


def visitor_of(request: Request) -> tuple[str, bool]:
    """This browser's visitor id, and whether it is new (then the response sets the cookie)."""
    if not hasattr(request.state, "visitor"):
        found = request.cookies.get(VISITOR_COOKIE, "")
        if re.fullmatch(r"[A-Za-z0-9_-]{22,64}", found):
            request.state.visitor = (found, False)
        else:
            request.state.visitor = (secrets.token_urlsafe(24), True)
    return request.state.visitor


def with_visitor(response: Response, visitor: str, new: bool, secure: bool) -> Response:
    """Set the visitor cookie on a response when the visitor is new."""
    if new:
        response.set_cookie(
            VISITOR_COOKIE,
            visitor,
            max_age=VISITOR_DAYS * 86400,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
    return response


def build_router(centre: HelpCentre) -> APIRouter:
    """The help centre's routes: /help/..., and /sitemap.xml."""
    router = APIRouter()
    settings, templates = centre.settings, centre.templates

    def page(request: Request, name: str, context: dict, status: int = 200) -> Response:
        visitor, new = visitor_of(request)
        context = {
            "q": "",
            "writer": centre.sessions.agent(request),
            "theme_color": settings.theme_color,
            "greeting": None,
            "category_name": category_name,
            "category_anchor": category_anchor,
            "reason_names": HELP_VOTE_REASONS,
            "drafts": [],
            "problems": [],
            **context,
        }
        response = templates.TemplateResponse(request, name, context, status_code=status)
        return with_visitor(response, visitor, new, settings.cookie_secure)

    @router.get("/help/", response_class=HTMLResponse)
    def help_index(request: Request) -> Response:
        """Every article, by category, with the search box."""
        kb = centre.knowledge_base()
        kb.reload_if_stale()
        groups: dict[str, list[dict]] = {}
        for article in kb.reader.articles():
            groups.setdefault(article["category"] or "General", []).append(article)
        context: dict[str, Any] = {"groups": dict(sorted(groups.items()))}
        if centre.sessions.agent(request):
            drafts = kb.reader.manifest.get("drafts", {})
            context["drafts"] = [{"id": i, **d} for i, d in sorted(drafts.items())]
            context["problems"] = centre.problems()
        return page(request, "help_index.html", context)

    @router.get("/help/search", response_class=HTMLResponse)
    def search_page(
        request: Request,
        q: str = Query("", max_length=MAX_QUERY, description="What the visitor searches for."),
    ) -> Response:
        """Search results: each article's best section, with a highlighted snippet. A search
        with no good result says so, offers the chat, and is kept for the content-gap report."""
        if centre.limit_search is not None:
            centre.limit_search(request)
        found = centre.searcher().search(q, RESULTS)
        visitor, _ = visitor_of(request)
        if found.query and not found.good:
            best = (found.results[0].id, found.results[0].score) if found.results else None
            centre.record.no_result(visitor, found.query, best)
        return page(request, "help_search.html", {"q": found.query, "found": found})

    @router.get("/help/search.json")
    def search_json(
        request: Request,
        q: str = Query(..., min_length=1, max_length=MAX_QUERY, description="The search."),
        k: int = Query(RESULTS, ge=1, le=20, description="Number of articles."),
        record: bool = Query(
            False,
            description="Keep a search with no good result for the content-gap report "
            "(a submitted search; not a suggestion while typing).",
        ),
    ) -> JSONResponse:
        """The search page's JSON twin: article id, title, URL with the section's anchor,
        snippet (with the spans to highlight) and score, best first."""
        if centre.limit_search is not None:
            centre.limit_search(request)
        found = centre.searcher().search(q, k)
        if record and found.query and not found.good:
            visitor, _ = visitor_of(request)
            best = (found.results[0].id, found.results[0].score) if found.results else None
            centre.record.no_result(visitor, found.query, best)
        return JSONResponse(found.to_dict(), headers={"Cache-Control": "no-store"})

    @router.get("/help/for-page.json")
    def for_page(
        request: Request,
        path: str = Query(
            ..., min_length=1, max_length=MAX_QUERY, description="The page's path, e.g. /shop/x."
        ),
        k: int = Query(3, ge=1, le=10, description="Number of articles."),
    ) -> JSONResponse:
        """The articles the widget suggests on a page (setting widget_page_topics): the topic
        of the longest path prefix that matches, searched; no topic, no articles."""
        topic = page_topic(centre.settings.widget_page_topics, path)
        if topic is None:
            return JSONResponse({"topic": None, "results": []})
        if centre.limit_search is not None:
            centre.limit_search(request)
        found = centre.searcher().search(topic, k)
        results = [r.to_dict() for r in found.results] if found.good else []
        return JSONResponse({"topic": topic, "results": results})

    @router.get("/help/{article_id}", response_class=HTMLResponse)
    def help_article(request: Request, article_id: str) -> Response:
        """One article, with its table of contents, related articles and the vote."""
        kb = centre.knowledge_base()
        kb.reload_if_stale()
        articles = kb.reader.articles()
        meta = next((a for a in articles if a["id"] == article_id), None)
        draft = kb.reader.manifest.get("drafts", {}).get(article_id)
        if meta is None and draft is not None and centre.sessions.agent(request):
            meta = {"id": article_id, **draft}  # a writer's preview
        if meta is None and article_id.endswith(".md"):
            # a writer's file link that reached a customer unresolved (in a conversation kept
            # from before links were rewritten): send them to the article's page
            target = _by_file_name(article_id, articles)
            if target is not None:
                return RedirectResponse(f"/help/{target['id']}", status_code=301)
        if meta is None:
            # a customer followed a stale or mistyped link: a page that helps, not JSON
            return page(
                request,
                "help_missing.html",
                {"article_id": article_id, "articles": articles},
                status=404,
            )
        article, _ = parse_article(
            settings.kb_dir / meta["path"], settings.kb_dir, settings.help_base_url
        )
        if article is None or article.id != article_id:
            raise HTTPException(404, f"Article '{article_id}' cannot be shown: it has errors.")
        if article.draft and not centre.sessions.agent(request):
            # saved as a draft since the index was built: not for customers
            return page(
                request,
                "help_missing.html",
                {"article_id": article_id, "articles": articles},
                status=404,
            )
        visitor, _ = visitor_of(request)
        context = article_context(centre, request, article, articles, kb)
        context["token"] = centre.token(visitor, article.id)
        context["vote"] = centre.record.visitor_vote(article.id, visitor)
        context["voted"] = request.query_params.get("voted", "")
        if centre.sessions.agent(request):  # a writer sees why their last save is not live
            context["problems"] = [p for p in centre.problems() if p.path.endswith(meta["path"])]
        return page(request, "article.html", context)

    @router.post("/help/{article_id}/vote", include_in_schema=False)
    def vote(
        request: Request,
        article_id: str,
        token: str = Form(..., max_length=64),
        helpful: str = Form("", max_length=8),
        reason: str = Form("", max_length=32),
        comment: str = Form("", max_length=2000),
    ) -> Response:
        """ "Was this helpful?": yes or no (a no may say why); back to the article after."""
        visitor, new = visitor_of(request)
        if new or not hmac.compare_digest(token, centre.token(visitor, article_id)):
            raise HTTPException(
                403, "This vote's form has expired or came from another site: reload the page."
            )
        known = {a["id"] for a in centre.knowledge_base().reader.articles()}
        if article_id not in known:
            raise HTTPException(404, f"There is no help article '{article_id}' to vote on.")
        previous = centre.record.visitor_vote(article_id, visitor)
        if helpful not in ("yes", "no", ""):
            raise HTTPException(400, "helpful must be 'yes' or 'no'.")
        if not helpful and previous is None:
            raise HTTPException(400, "Say whether the article helped (helpful: yes or no).")
        if reason and reason not in REASONS:
            raise HTTPException(400, f"reason must be one of {', '.join(REASONS)}.")
        is_helpful = helpful == "yes" if helpful else bool(previous and previous.helpful)
        try:
            centre.record.vote(
                Vote(article_id, is_helpful, reason or None, comment or None),
                visitor,
                client_address(request),
            )
        except RateLimited:
            raise HTTPException(
                429,
                "Too many votes from your network in the last hour; please try again later.",
                headers={"Retry-After": "3600"},
            ) from None
        step = "reason" if helpful == "no" else "thanks"
        return RedirectResponse(f"/help/{article_id}?voted={step}#helpful", status_code=303)

    @router.get("/help/media/{rel:path}", include_in_schema=False)
    def media(rel: str) -> Response:
        """A picture or video stored beside the articles (kb_articles/**/images/)."""
        path = media_path(settings.kb_dir, rel)
        if path is None:
            raise HTTPException(404, f"There is no picture or video '{rel}' in the help centre.")
        return FileResponse(
            path,
            media_type=MEDIA_TYPES[path.suffix.lower()],
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @router.get("/sitemap.xml", include_in_schema=False)
    def sitemap(request: Request) -> Response:
        """Every published article's canonical address, with its last update."""
        kb = centre.knowledge_base()
        kb.reload_if_stale()
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
            f"<url><loc>{xml_escape(centre.canonical(request, '/help/'))}</loc></url>",
        ]
        for article in kb.reader.articles():
            loc = xml_escape(centre.canonical(request, f"/help/{article['id']}"))
            updated = f"<lastmod>{article['updated']}</lastmod>" if article["updated"] else ""
            lines.append(f"<url><loc>{loc}</loc>{updated}</url>")
        lines.append("</urlset>")
        return Response(
            "\n".join(lines) + "\n",
            media_type="application/xml",
            headers={"Cache-Control": "public, max-age=300"},
        )

    return router


def article_context(
    centre: HelpCentre,
    request: Request,
    article: Article,
    articles: list[dict],
    kb: KnowledgeBase,
) -> dict[str, Any]:
    """What article.html shows besides the body: breadcrumbs, contents, related articles,
    the description and canonical address for search engines."""
    body, guides = without_guides(help_centre_links(article.body, article.rel_path, articles))
    rendered = render_markdown(body)
    toc = [h for h in rendered.headings if h.level in (2, 3)]
    category = article.category
    crumbs = [("Help centre", "/help/")]
    if category:
        crumbs.append((category_name(category), f"/help/#{category_anchor(category)}"))
    titles = {a["id"]: a for a in articles}
    return {
        "article": article,
        "html": with_guides(without_style_attributes(rendered.html), guides),
        "toc": toc if len(toc) >= TOC_MIN_HEADINGS else [],
        "crumbs": crumbs,
        "related": [titles[i] for i in related_articles(kb, article.id) if i in titles],
        "description": description(article),
        "canonical": centre.canonical(request, f"/help/{article.id}"),
        "reasons": REASONS,
        "greeting": HELP_ARTICLE_GREETING.format(title=article.title),
        "draft": article.draft,
    }


def page_topic(topics: dict[str, str], path: str) -> str | None:
    """The topic of the longest prefix of path in topics ('/shop' matches '/shop/x', not
    '/shopping'), or None."""
    path = "/" + path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
    matching = [
        prefix
        for prefix in topics
        if (clean := "/" + prefix.strip("/")) == "/"
        or path == clean
        or path.startswith(clean + "/")
    ]
    if not matching:
        return None
    best = max(matching, key=lambda prefix: (len(prefix.strip("/")), prefix))
    return topics[best].strip() or None


def without_guides(body: str) -> tuple[str, list[str]]:
    """The body with each ```guide block replaced by a placeholder paragraph, and the guides'
    HTML (bot.kb.guide) to put in their place after rendering."""
    lines = body.split("\n")
    guides: list[str] = []
    for start, close, block in reversed(find_guides(body)):
        root, _ = parse_guide(block, start + 1, "")
        if root is None:
            continue
        guides.insert(0, guide_html(root, f"guide-{start}"))
        lines[start : close + 1] = ["", f"GUIDE{start}PLACEHOLDER", ""]
    return "\n".join(lines), guides


def with_guides(rendered: str, guides: list[str]) -> str:
    """Rendered HTML with the guides in their placeholders' places."""
    for guide in guides:
        name = re.search(r'id="guide-(\d+)"', guide).group(1)
        rendered = rendered.replace(f"<p>GUIDE{name}PLACEHOLDER</p>", guide)
    return rendered


def related_articles(kb: KnowledgeBase, article_id: str, k: int = RELATED) -> list[str]:
    """The articles nearest in meaning to one article (the mean of its chunk vectors)."""
    import numpy as np

    reader = kb.reader
    chunks = reader.article_chunks(article_id)
    if not chunks:
        return []
    centre = np.vstack([reader.vector(c.id) for c in chunks]).mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-9)
    _, ids = reader.search(centre[None, :], (k + 1) * 6)
    rows = reader.chunks([int(i) for i in ids[0] if i >= 0])
    found: list[str] = []
    for chunk in ids[0].tolist():
        row = rows.get(chunk)
        if row is not None and row.article_id != article_id and row.article_id not in found:
            found.append(row.article_id)
    return found[:k]


def description(article: Article) -> str:
    """The article's opening words for search engines' result pages, at most ~155 characters."""
    opening = next((s.text for s in article.sections if s.text.strip()), "")
    flat = re.sub(r"\s+", " ", plain_text(opening)).strip()
    if len(flat) <= DESCRIPTION_CHARS:
        return flat
    return flat[:DESCRIPTION_CHARS].rsplit(" ", 1)[0] + "…"


def category_name(category: str) -> str:
    """A category folder as readers see it ("orders-and-delivery" -> "Orders and delivery")."""
    return category.replace("-", " ").replace("/", " / ").capitalize()


def category_anchor(category: str) -> str:
    """The help index's anchor of a category."""
    return "c-" + re.sub(r"[^a-z0-9]+", "-", category.casefold()).strip("-")


def help_centre_links(body: str, source: str, articles: list[dict]) -> str:
    """An article's Markdown with writers' relative links (`../help/contact-us.md#by-phone`)
    pointing at help-centre pages (`/help/contact-us#by-phone`); a link to an article that is
    not served keeps its text only."""
    ids_by_path = {a["path"]: a["id"] for a in articles}

    def target(path: str) -> str | None:
        article_id = ids_by_path.get(path)
        return f"/help/{article_id}" if article_id else None

    return rewrite_media(rewrite_links(body, source, target), source)


def without_style_attributes(html: str) -> str:
    """Aligned table cells with a class instead of a style attribute, which the help centre's
    Content-Security-Policy refuses (raw HTML in an article is escaped, so only the tables
    extension writes these)."""
    return ALIGNED_CELL.sub(r' class="align-\1"', html)


def _by_file_name(name: str, articles: list[dict]) -> dict | None:
    """The one article whose file is `name` (`contact-us.md`), if exactly one is."""
    found = [a for a in articles if posixpath.basename(a["path"]) == name or a["path"] == name]
    return found[0] if len(found) == 1 else None
