"""Turn routes and search hits into a reply: answer with a citation, offer a choice, or say we
can't (the gate, `choose`, decides which)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.dialogue.plan import Button, Say
from bot.dialogue.replies import CHOICES, CLARIFY_MANY, CLARIFY_ONE, SOMETHING_ELSE, SOURCE, meta
from bot.kb.chunker import HEADING, LIST_ITEM, blocks, is_promise, sentences
from bot.kb.router import ARTICLE, INTENT, Route, Routing
from bot.kb.search import Hit

Outcome = Literal["article", "clarify", "fallback"]
Choice = Literal["article", "intent", "product", "clarify", "fallback"]
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
    clarify: float  # probability at or above which a route is worth offering as a choice
    similarity: float  # cosine to the nearest known phrasing below which nothing is known


# The intents that can be offered as a choice beside articles (as replies.CHOICES words them):
# the flows and a person. Small talk, complaints and "out of scope" are acted on or not at all.
OFFERABLE = frozenset(CHOICES)


def offerable(route: Route) -> bool:
    """Whether a route can be one of the choices offered: an article, a flow or a person."""
    return route.article_id is not None or route.intent in OFFERABLE


@dataclass(frozen=True)
class RouteChoice:
    """What to do with a message: act on a route, offer a few, or say we can't."""

    outcome: Choice
    routes: list[Route]

    @property
    def top(self) -> Route | None:
        return self.routes[0] if self.routes else None


def choose(routing: Routing, gate: Gate) -> RouteChoice:
    """The gate, with a middle: act on the best route (an article, an intent, or `product`: the
    catalogue answers) when it is likely and like a known phrasing; when it is not likely
    enough, offer the plausible ones among the top three (articles, flows, a person) as
    choices; refuse only a message unlike anything we cover, or one with no plausible choice."""
    top = routing.top
    if top.nearest < gate.similarity:
        return RouteChoice("fallback", routing.routes[:MAX_OPTIONS])
    if top.probability >= gate.answer:
        kind = "article" if top.article_id else "product" if top.is_product else "intent"
        return RouteChoice(kind, [top])
    options = [
        r for r in routing.routes[:MAX_OPTIONS] if offerable(r) and r.probability >= gate.clarify
    ]
    if options:
        return RouteChoice("clarify", options)
    return RouteChoice("fallback", routing.routes[:MAX_OPTIONS])


def concise(section_text: str) -> str:
    """A few sentences, or a lead-in and up to MAX_STEPS steps, from a section's Markdown.

    It is cut only between sentences, list items or blocks, keeps going into whatever a
    sentence announces ("Here is how...", "Do this:"), and never ends on such an announcement.
    """
    found = _blocks_without_headings(section_text)
    parts: list[tuple[str, str]] = []
    used = 0  # sentences said so far; an announcement is not counted, what it announces is
    for n, (kind, block) in enumerate(found):
        if kind == "heading":
            if parts and not _announces(parts[-1]):
                break  # a sub-section merged into this chunk: the reply stays in one section
            continue
        following = next((k for k, _ in found[n + 1 :] if k != "heading"), None)
        if kind == "list":
            parts.append((kind, _first_items(block, MAX_STEPS)))
            break
        if kind in ("table", "code"):
            parts.append((kind, block))
            break
        said = sentences(block)
        taken: list[str] = []
        for sentence in said:
            if used >= MAX_SENTENCES:
                break
            taken.append(sentence)
            used += not is_promise(sentence)
        if taken:
            parts.append((kind, " ".join(taken)))
        whole = len(taken) == len(said)
        announces = whole and is_promise(said[-1])
        if following is None or not whole:
            break
        if announces or following == "list":
            continue  # what comes next is what this paragraph leads into
        if used >= MAX_SENTENCES or sum(len(t) for _, t in parts) > MAX_CHARS:
            break
    return _without_dangling_promise(parts) or _first_sentence(found)


def _blocks_without_headings(markdown_text: str) -> list[tuple[str, str]]:
    """Markdown blocks, with each heading line as a block of its own ('heading')."""
    out: list[tuple[str, str]] = []
    for kind, block in blocks(markdown_text):
        lines: list[str] = []
        for line in block.split("\n"):
            if kind == "para" and HEADING.match(line):
                if lines:
                    out.append((kind, "\n".join(lines)))
                    lines = []
                out.append(("heading", line))
            else:
                lines.append(line)
        if lines:
            out.append((kind, "\n".join(lines)))
    return out


def _announces(part: tuple[str, str]) -> bool:
    """True when a reply part is a paragraph ending on an announcement of what follows."""
    kind, text = part
    said = sentences(text) if kind == "para" else []
    return bool(said) and is_promise(said[-1])


def _first_items(block: str, limit: int) -> str:
    """The first `limit` items of a Markdown list, each with its continuation lines."""
    items: list[list[str]] = []
    for line in block.split("\n"):
        if LIST_ITEM.match(line) or not items:
            items.append([line])
        elif line.strip():
            items[-1].append(line)
    return "\n".join("\n".join(item) for item in items[:limit])


def _without_dangling_promise(parts: list[tuple[str, str]]) -> str:
    """Join the parts, dropping closing sentences that announce something not included."""
    parts = list(parts)
    while parts and parts[-1][0] == "para":
        said = sentences(parts[-1][1])
        while said and is_promise(said[-1]):
            said.pop()
        if said:
            parts[-1] = ("para", " ".join(said))
            break
        parts.pop()
    return "\n\n".join(text for _, text in parts).strip()


def _first_sentence(found: list[tuple[str, str]]) -> str:
    """Last resort for a section that only announces: its first sentence."""
    found = [b for b in found if b[0] != "heading"]
    if not found:
        return ""
    kind, block = found[0]
    return sentences(block)[0] if kind == "para" and sentences(block) else block


def citation(hit: Hit) -> str:
    """The Markdown citation under an answer: the article title linked to the section."""
    label = (
        hit.title if not hit.anchor or hit.section == hit.title else f"{hit.title} › {hit.section}"
    )
    return SOURCE.format(label=label, link=hit.link)


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


def article_reply(hit: Hit, intent: str | None, score: float, feedback: bool = True) -> Say:
    """An article answer with its citation (and the widget's 👍/👎 unless `feedback` is off)."""
    extra = {"feedback": True} if feedback else {}
    return Say(
        answer_text(hit),
        meta=meta("article", intent, hit.id, score, citation=article_meta(hit), **extra),
    )


def clarify_reply(options: Sequence[Hit | str], intent: str | None, score: float) -> Say:
    """The choices as buttons, worded as a question: each article (its best section for the
    question) or flow (an intent's name), then "something else"."""
    buttons, offered = [], []
    for option in options:
        if isinstance(option, Hit):
            payload = f'/choose_article{{"article_id": "{option.id}"}}'
            buttons.append(Button(option.title, payload))
            offered.append({"label": ARTICLE + option.id, **article_meta(option)})
        else:
            buttons.append(CHOICES[option])
            title = CHOICES[option].title
            offered.append({"label": INTENT + option, "flow": option, "title": title})
    first = next((o.id for o in options if isinstance(o, Hit)), None)
    return Say(
        CLARIFY_MANY if len(options) > 1 else CLARIFY_ONE,
        buttons=(*buttons, SOMETHING_ELSE),
        meta=meta("clarify", intent, first, score, options=offered),
    )
