"""Turn search hits into a reply: answer with a citation, ask which article, or say we can't."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.kb.router import Route, Routing
from bot.kb.search import Hit

Outcome = Literal["article", "clarify", "fallback"]
Choice = Literal["article", "intent", "clarify", "fallback"]
MAX_OPTIONS = 3
MAX_SENTENCES = 3
MAX_CHARS = 600
MAX_STEPS = 8


@dataclass(frozen=True)
class Decision:
    """What the bot should do with a question, and the hits it used."""

    outcome: Outcome
    hits: list[Hit]

    @property
    def top(self) -> Hit | None:
        """The best hit, if any."""
        return self.hits[0] if self.hits else None


def decide(hits: list[Hit], answer_threshold: float, clarify_threshold: float) -> Decision:
    """Answer when the best article is clearly good enough, clarify when close, else fall back."""
    if not hits or hits[0].score < clarify_threshold:
        return Decision("fallback", hits[:3])
    if hits[0].score >= answer_threshold:
        return Decision("article", hits[:1])
    return Decision("clarify", [h for h in hits[:3] if h.score >= clarify_threshold])


@dataclass(frozen=True)
class Gate:
    """When the router's best route is acted on, offered among others, or refused."""

    answer: float  # fused probability at or above which the best route is acted on
    clarify: float  # probability at or above which an article is worth offering
    similarity: float  # cosine to the nearest known phrasing below which nothing is known


@dataclass(frozen=True)
class RouteChoice:
    """What to do with a message: act on a route, offer articles, or say we can't."""

    outcome: Choice
    routes: list[Route]

    @property
    def top(self) -> Route | None:
        return self.routes[0] if self.routes else None


def choose(routing: Routing, gate: Gate) -> RouteChoice:
    """The gate: act on the best route when it is likely and like a known phrasing; when it is
    an article that is not likely enough, offer the closest articles; otherwise can't answer."""
    top = routing.top
    if top.nearest < gate.similarity or top.probability < gate.clarify:
        return RouteChoice("fallback", routing.routes[:MAX_OPTIONS])
    if top.probability >= gate.answer:
        return RouteChoice("article" if top.article_id else "intent", [top])
    if top.article_id:
        options = [
            r
            for r in routing.routes[:MAX_OPTIONS]
            if r.article_id and r.probability >= gate.clarify
        ]
        return RouteChoice("clarify", options)
    return RouteChoice("fallback", routing.routes[:MAX_OPTIONS])


def concise(section_text: str) -> str:
    """A few sentences, or the lead-in and the steps, from a section's Markdown."""
    text = re.sub(r"^#{1,6}\s+.*$", "", section_text, flags=re.MULTILINE).strip()
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    lines: list[str] = []
    for block in blocks:
        if re.match(r"^\s*(?:\d+[.)]|[-*+])\s+", block):
            items = [i for i in block.split("\n") if i.strip()][:MAX_STEPS]
            lines.append("\n".join(items))
            break
        if block.startswith("|"):
            lines.append(block)
            break
        sentences = re.split(r"(?<=[.!?])\s+", block.replace("\n", " "))
        room = MAX_SENTENCES - sum(len(re.split(r"(?<=[.!?])\s+", x)) for x in lines)
        lines.append(" ".join(sentences[: max(room, 1)]))
        if room <= len(sentences) or sum(len(x) for x in lines) > MAX_CHARS:
            # the next block is a list that completes this lead-in: keep going for it
            following = blocks[blocks.index(block) + 1] if block != blocks[-1] else ""
            if not re.match(r"^\s*(?:\d+[.)]|[-*+])\s+", following):
                break
    return "\n\n".join(lines).strip()


def citation(hit: Hit) -> str:
    """The Markdown citation under an answer: the article title linked to the section."""
    label = (
        hit.title if not hit.anchor or hit.section == hit.title else f"{hit.title} › {hit.section}"
    )
    return f"Source: [{label}]({hit.link})"


def answer_text(hit: Hit) -> str:
    """The reply for an article answer: the concise section, then its citation."""
    return f"{concise(hit.text)}\n\n{citation(hit)}"


def article_meta(hit: Hit) -> dict:
    """Citation data the widget renders (title, section, link)."""
    return {
        "id": hit.id,
        "title": hit.title,
        "section": hit.section,
        "url": hit.link,
        "score": round(hit.score, 4),
    }
