"""Loader: front matter, sections and anchors, and bad files reported with line numbers."""

from __future__ import annotations

import re
from pathlib import Path

from bot.kb.loader import article_files, load_kb, parse_article
from bot.kb.render import render_markdown
from tests.conftest import BASE_URL, DEMO_KB, write

GOOD = """
---
title: How do I return an item?
tags: [returns]
updated: 2026-01-31
---

Intro text that answers the question directly.

## Start a return

Steps to start.

### Print the label

Label details.

## Start a return

A second heading with the same text gets its own anchor.

#### A small heading

Stays inside its section.
"""


def test_front_matter_defaults_come_from_the_file_name_and_base_url(kb_dir: Path) -> None:
    path = write(kb_dir, "returns/return-item.md", GOOD)
    article, problems = parse_article(path, kb_dir, BASE_URL)
    assert problems == []
    assert article is not None
    assert article.id == "return-item"
    assert article.url == BASE_URL + "return-item"
    assert article.category == "returns"
    assert article.tags == ["returns"]
    assert article.updated.isoformat() == "2026-01-31"


def test_without_a_help_base_url_citations_stay_on_the_customers_host(kb_dir: Path) -> None:
    from bot.settings import Settings

    base = Settings(settings_file=kb_dir / "none.toml").help_base_url
    path = write(kb_dir, "returns/return-item.md", GOOD)
    article, _ = parse_article(path, kb_dir, base)
    # a path: the widget, help centre and inbox open it on the host and port the visitor used
    assert article.url == "/help/return-item"


def test_explicit_id_and_url_win(kb_dir: Path) -> None:
    path = write(
        kb_dir,
        "x.md",
        "---\ntitle: T\nid: custom-id\nurl: https://shop.test/help/custom\n---\nBody text.\n",
    )
    article, problems = parse_article(path, kb_dir, BASE_URL)
    assert problems == []
    assert (article.id, article.url) == ("custom-id", "https://shop.test/help/custom")


def test_sections_follow_h2_h3_with_heading_paths_and_lines(kb_dir: Path) -> None:
    article, _ = parse_article(write(kb_dir, "a.md", GOOD), kb_dir, BASE_URL)
    titles = [(s.title, s.level, s.path, s.line) for s in article.sections]
    assert titles == [
        ("How do I return an item?", 1, (), 6),
        ("Start a return", 2, ("Start a return",), 9),
        ("Print the label", 3, ("Start a return", "Print the label"), 13),
        ("Start a return", 2, ("Start a return",), 17),
    ]
    assert "#### A small heading" in article.sections[-1].text


def test_anchors_are_the_ids_of_the_rendered_html_headings(kb_dir: Path) -> None:
    article, _ = parse_article(write(kb_dir, "a.md", GOOD), kb_dir, BASE_URL)
    html = render_markdown(article.body).html
    html_ids = re.findall(r'<h[23] id="([^"]+)"', html)
    assert [s.anchor for s in article.sections if s.level > 1] == html_ids
    assert html_ids == ["start-a-return", "print-the-label", "start-a-return_1"]


def test_anchors_match_rendered_html_across_the_demo_kb() -> None:
    result = load_kb(DEMO_KB, BASE_URL)
    assert result.problems == []
    for article in result.articles:
        html_ids = re.findall(r'<h[23] id="([^"]+)"', render_markdown(article.body).html)
        assert [s.anchor for s in article.sections if s.level > 1] == html_ids, article.id


def test_the_help_centre_shows_no_raw_html_and_no_unsafe_addresses() -> None:
    html = render_markdown(
        "Hi <script>alert(1)</script> <img src=x onerror=alert(2)>\n\n"
        "<div onclick=x>block</div>\n\n"
        "[a](javascript:alert(3)) [b](java\tscript:x) [c](&#106;avascript:x) "
        "![d](data:image/svg+xml,x) [e](vbscript:x)\n\n"
        "[ok](https://shop.test/a) [path](/help/x#y) [mail](mailto:a@b.test) [here](#s) "
        "![pic](/help/images/a.png) <https://shop.test/auto>\n"
    ).html
    assert "<script" not in html and "<img src=x" not in html and "<div" not in html
    assert "&lt;script&gt;" in html  # shown as text
    assert "javascript" not in html.lower().replace("&lt;script&gt;", "")
    assert "data:" not in html and "vbscript" not in html
    for safe in ('href="https://shop.test/a"', 'href="/help/x#y"', 'href="mailto:a@b.test"'):
        assert safe in html
    assert 'href="#s"' in html and 'src="/help/images/a.png"' in html
    assert 'href="https://shop.test/auto"' in html


def test_headings_inside_code_fences_are_not_sections(kb_dir: Path) -> None:
    text = "---\ntitle: T\n---\nIntro.\n\n```\n## not a heading\n```\n\n## Real\n\nText.\n"
    article, _ = parse_article(write(kb_dir, "a.md", text), kb_dir, BASE_URL)
    assert [s.title for s in article.sections] == ["T", "Real"]


def test_html_comments_are_removed_but_line_numbers_stay(kb_dir: Path) -> None:
    text = "---\ntitle: T\n---\n<!-- writer note:\nsecret plan -->\n## Real\n\nText.\n"
    article, _ = parse_article(write(kb_dir, "a.md", text), kb_dir, BASE_URL)
    assert "secret plan" not in article.body
    assert article.sections[-1].line == 6


def test_underscore_files_and_folders_are_not_articles(kb_dir: Path) -> None:
    write(kb_dir, "_template.md", "---\ntitle: T\n---\nBody.\n")
    write(kb_dir, "_drafts/new.md", "---\ntitle: T\n---\nBody.\n")
    write(kb_dir, "real.md", "---\ntitle: T\n---\nBody.\n")
    write(kb_dir, "notes.txt", "not markdown")
    assert [p.name for p in article_files(kb_dir)] == ["real.md"]


def _problems(kb_dir: Path, name: str, content: str | bytes) -> list[str]:
    path = kb_dir / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(kb_dir, name, content)
    article, problems = parse_article(path, kb_dir, BASE_URL)
    assert article is None
    return [f"{p.line}: {p.message}" for p in problems if p.severity == "error"]


def test_invalid_yaml_is_reported_at_its_line(kb_dir: Path) -> None:
    found = _problems(kb_dir, "a.md", "---\ntitle: Fine\ntags: [a, b\n---\nBody.\n")
    assert len(found) == 1 and found[0].startswith("3: invalid YAML in front matter")


def test_missing_and_empty_title(kb_dir: Path) -> None:
    assert _problems(kb_dir, "a.md", "---\ntags: [a]\n---\nBody.\n") == [
        "1: front matter has no 'title'"
    ]
    assert _problems(kb_dir, "b.md", "---\ntags: [a]\ntitle: '  '\n---\nBody.\n") == [
        "3: 'title' is empty"
    ]


def test_invalid_ids(kb_dir: Path) -> None:
    found = _problems(kb_dir, "Returns Policy.md", "---\ntitle: T\n---\nBody.\n")
    assert found[0].startswith("1: invalid id 'Returns Policy' (from the file name)")
    found = _problems(kb_dir, "ok.md", "---\ntitle: T\nid: Bad_ID\n---\nBody.\n")
    assert found[0].startswith("3: invalid id 'Bad_ID' (from the front matter)")


def test_non_utf8_file_names_the_line(kb_dir: Path) -> None:
    found = _problems(kb_dir, "a.md", b"---\ntitle: T\n---\nline four \xff\n")
    assert found == ["4: not UTF-8 text (byte 0xff); save it as UTF-8"]


def test_empty_body(kb_dir: Path) -> None:
    assert _problems(kb_dir, "a.md", "---\ntitle: T\n---\n\n<!-- only a comment -->\n") == [
        "4: empty body: the article has no text"
    ]


def test_missing_or_unclosed_front_matter(kb_dir: Path) -> None:
    assert _problems(kb_dir, "a.md", "# Just markdown\n")[0].startswith("1: no front matter")
    assert _problems(kb_dir, "b.md", "---\ntitle: T\nBody.\n")[0].startswith(
        "1: front matter is not closed"
    )


def test_bad_field_types(kb_dir: Path) -> None:
    found = _problems(kb_dir, "a.md", "---\ntitle: T\ntags: returns\nupdated: someday\n---\nB.\n")
    assert found == [
        "3: 'tags' must be a list, like: tags: [orders, returns]",
        "4: 'updated' must be a date like 2026-01-31, not 'someday'",
    ]


def test_a_broken_file_does_not_stop_the_others(kb_dir: Path) -> None:
    write(kb_dir, "good.md", "---\ntitle: Good\n---\nBody.\n")
    write(kb_dir, "bad.md", "---\ntitle: [unclosed\n---\nBody.\n")
    result = load_kb(kb_dir, BASE_URL)
    assert [a.id for a in result.articles] == ["good"]
    assert [Path(p.path).name for p in result.problems] == ["bad.md"]


def test_relative_and_absolute_kb_paths_give_the_same_article(kb_dir: Path, monkeypatch) -> None:
    path = write(kb_dir, "orders/cancel.md", "---\ntitle: T\n---\nBody.\n")
    monkeypatch.chdir(kb_dir.parent)
    relative, _ = parse_article(Path("kb/orders/cancel.md"), Path("kb"), BASE_URL)
    absolute, _ = parse_article(path, kb_dir, BASE_URL)
    assert relative.rel_path == absolute.rel_path == "orders/cancel.md"
    assert relative.content_hash == absolute.content_hash


def test_a_reused_renderer_renders_every_article_as_a_fresh_one() -> None:
    """render_markdown keeps one renderer per thread and resets it: nothing of one article
    (anchors taken, stashed code blocks, headings) may reach the next one."""
    import markdown

    from bot.kb.render import MARKDOWN_EXTENSIONS, _flatten, _SafeMarkdown

    root = Path(__file__).resolve().parent.parent
    bodies = [p.read_text() for p in sorted((root / "kb_articles").rglob("*.md"))]
    for body in [*bodies, *reversed(bodies)]:
        fresh = markdown.Markdown(extensions=[*MARKDOWN_EXTENSIONS, _SafeMarkdown()])
        html = fresh.convert(body)
        rendered = render_markdown(body)
        assert (rendered.html, rendered.headings) == (html, list(_flatten(fresh.toc_tokens)))
