"""Render article Markdown to HTML; the heading ids it produces are the citation anchors.

The help centre shares its origin with the signed-in inbox, so an article can carry no script:
raw HTML a writer types is shown as text (never as markup), and a link or image keeps its
address only when it is http(s), mailto (links only) or a path on this site. `bot kb lint`
reports both (`html_problems`, `unsafe_link`), with the file and line.
"""

from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass
from xml.etree import ElementTree

import markdown
from markdown import util
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from bot.kb.problems import Problem

MARKDOWN_EXTENSIONS = ["toc", "tables", "fenced_code", "sane_lists"]
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
IMAGE_SCHEMES = frozenset({"http", "https"})
# what browsers ignore inside an address (so "java\tscript:" is still javascript:)
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")
_FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
_CODE_SPAN = re.compile(r"`[^`]*`")
# an HTML tag as Markdown would pass it through (autolinks such as <https://…> are not tags)
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?:\s[^<>]*)?/?>")
_INLINE_ADDRESS = re.compile(r"(!?)\[[^\]]*\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))+)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)")


@dataclass(frozen=True)
class Heading:
    """A heading as the rendered HTML shows it: level, visible text and element id."""

    level: int
    name: str
    anchor: str


@dataclass(frozen=True)
class Rendered:
    """An article body rendered to HTML, with its headings in document order."""

    html: str
    headings: list[Heading]


def unsafe_url(url: str, image: bool = False) -> str | None:
    """Why an address may not be shown as a link (or an image), or None when it may: http(s),
    mailto for links, or a path or #anchor with no scheme. The address is read as a browser
    reads it: character references decoded, tabs, newlines and controls ignored."""
    decoded = html.unescape(url.replace(util.AMP_SUBSTITUTE, "&"))
    compact = _IGNORED_IN_URL.sub("", decoded)
    scheme, colon, _ = compact.partition(":")
    if not colon or any(mark in scheme for mark in "/?#"):
        return None  # a path, a query or an anchor on this site
    allowed = IMAGE_SCHEMES if image else LINK_SCHEMES
    if scheme.lower() not in allowed:
        kinds = ", ".join(sorted(allowed))
        return f"'{scheme.lower()}:' addresses are not allowed (only {kinds}, or a path)"
    return None


class _SafeAddresses(Treeprocessor):
    """Drops an href or src that `unsafe_url` refuses; the link's text stays."""

    def run(self, root):  # noqa: ANN001, ANN201 - Python-Markdown's signature
        for element in root.iter():
            for attribute, image in (("href", False), ("src", True)):
                value = element.get(attribute)
                if value is not None and unsafe_url(value, image):
                    del element.attrib[attribute]


class _Media(Treeprocessor):
    """An image whose file is a video becomes a player (with a link to the file for browsers
    that cannot play it); pictures load lazily."""

    def run(self, root):  # noqa: ANN001, ANN201 - Python-Markdown's signature
        from bot.kb.media import is_video

        for element in list(root.iter("img")):
            src = element.get("src")
            if src is None:
                continue
            if not is_video(src):
                element.set("loading", "lazy")
                continue
            alt = element.get("alt", "")
            element.tag = "video"
            element.attrib.clear()
            element.set("controls", "")
            element.set("preload", "metadata")
            element.set("src", src)
            if alt:
                element.set("aria-label", alt)
            fallback = ElementTree.SubElement(element, "a", {"href": src})
            fallback.text = f"Download the video: {alt}" if alt else "Download the video"


class _SafeMarkdown(Extension):
    """No raw HTML (it is escaped and shown as text) and only safe addresses."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - the API's name
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_SafeAddresses(md), "safe_addresses", 0)
        md.treeprocessors.register(_Media(md), "media", 1)


def markup_problems(body: str, first_line: int, shown: str) -> list[Problem]:
    """Raw HTML (shown as text: a warning) and unsafe addresses (an error) in a body whose
    first line is `first_line` of the file `shown`; code spans and fenced code are left be."""
    problems: list[Problem] = []
    in_fence = False
    for index, line in enumerate(body.split("\n")):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        text = _CODE_SPAN.sub("", line)
        where = first_line + index
        for tag in dict.fromkeys(m.group(1).lower() for m in _TAG.finditer(text)):
            problems.append(
                Problem(
                    shown,
                    where,
                    f"raw HTML <{tag}> is shown to readers as text, not markup: "
                    "write it in Markdown",
                    "warning",
                )
            )
        found = [(m.group(2), m.group(1) == "!") for m in _INLINE_ADDRESS.finditer(text)]
        found += [(m.group(1), False) for m in _REFERENCE.finditer(text)]
        for address, image in found:
            reason = unsafe_url(address, image)
            if reason:
                kind = "image" if image else "link"
                problems.append(Problem(shown, where, f"unsafe {kind} '{address}': {reason}"))
    return problems


_RENDERERS = threading.local()


def _renderer() -> markdown.Markdown:
    """This thread's Markdown renderer, reset for each body (Python-Markdown's way to reuse
    one: making one with its extensions took 30 ms, most of a saved article's parse)."""
    md = getattr(_RENDERERS, "md", None)
    if md is None:
        md = _RENDERERS.md = markdown.Markdown(extensions=[*MARKDOWN_EXTENSIONS, _SafeMarkdown()])
    return md.reset()


def render_markdown(body: str) -> Rendered:
    """Render a Markdown body the way the help centre shows it."""
    md = _renderer()
    html = md.convert(body)
    return Rendered(html=html, headings=list(_flatten(md.toc_tokens)))


def _flatten(tokens: list[dict]) -> list[Heading]:
    out: list[Heading] = []
    for token in tokens:
        out.append(Heading(level=token["level"], name=token["name"], anchor=token["id"]))
        out.extend(_flatten(token.get("children", [])))
    return out
