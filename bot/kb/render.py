"""Render article Markdown to HTML; the heading ids it produces are the citation anchors."""

from __future__ import annotations

from dataclasses import dataclass

import markdown

MARKDOWN_EXTENSIONS = ["toc", "tables", "fenced_code", "sane_lists"]


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


def render_markdown(body: str) -> Rendered:
    """Render a Markdown body the way the help centre shows it."""
    md = markdown.Markdown(extensions=MARKDOWN_EXTENSIONS)
    html = md.convert(body)
    return Rendered(html=html, headings=list(_flatten(md.toc_tokens)))


def _flatten(tokens: list[dict]) -> list[Heading]:
    out: list[Heading] = []
    for token in tokens:
        out.append(Heading(level=token["level"], name=token["name"], anchor=token["id"]))
        out.extend(_flatten(token.get("children", [])))
    return out
