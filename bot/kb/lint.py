"""Knowledge-base lint: per-file problems plus checks across articles (ids, links, length)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot.kb.chunker import blocks, ends_in_promise, sentences
from bot.kb.guide import guide_problems
from bot.kb.loader import (
    Article,
    LoadResult,
    ParseCache,
    display_path,
    is_article_file,
    is_relative_path,
    load_kb,
)
from bot.kb.media import media_problems
from bot.kb.problems import Problem, Severity


@dataclass
class LintResult:
    """Articles that can be indexed, and every problem found, sorted by file and line."""

    articles: list[Article]
    problems: list[Problem]
    files: list[Path]

    @property
    def error_count(self) -> int:
        """Number of problems that block a build."""
        return sum(p.severity == "error" for p in self.problems)

    @property
    def skipped_paths(self) -> list[str]:
        """Files that have an error and so are left out of the index."""
        return sorted({p.path for p in self.problems if p.severity == "error"})


def lint_kb(
    kb_dir: Path,
    base_url: str,
    max_words: int = 1500,
    cache: ParseCache | None = None,
    files: list[Path] | None = None,
    checked: dict[tuple[str, str], list[Problem]] | None = None,
) -> LintResult:
    """Load and check the whole knowledge base; articles with errors are left out.

    A live indexer passes the article `files` it already listed, and `checked`: each
    article's own problems by (path, content hash), kept between builds, so an unchanged
    article is not checked again (the checks across articles still see them all)."""
    loaded: LoadResult = load_kb(kb_dir, base_url, cache, files)
    problems = list(loaded.problems)
    articles = _drop_duplicate_ids(loaded.articles, problems)
    problems.extend(_link_problems(loaded.articles, kb_dir, base_url))
    now: dict[tuple[str, str], list[Problem]] = {}
    cwd = os.getcwd()
    for article in articles:
        key = (display_path(article.path, cwd), article.content_hash)
        found = checked.get(key) if checked is not None else None
        if found is None:
            found = _article_problems(article, kb_dir, max_words)
        now[key] = found
        problems.extend(found)
    if checked is not None:
        checked.clear()
        checked.update(now)
    bad = {p.path for p in problems if p.severity == "error"}
    good = [a for a in articles if display_path(a.path, cwd) not in bad]
    return LintResult(good, sorted(problems), loaded.files)


def _article_problems(article: Article, kb_dir: Path, max_words: int) -> list[Problem]:
    """The problems of one article on its own (media, guides, promises, drafts, length)."""
    problems = media_problems(article.body, article.body_line, article.path, kb_dir)
    problems.extend(guide_problems(article.body, article.body_line, display_path(article.path)))
    problems.extend(_announcements_without_answers(article))
    problems.extend(_placeholders(article))
    if article.word_count > max_words:
        problems.append(
            Problem(
                display_path(article.path),
                1,
                f"article is long ({article.word_count} words, over {max_words}); "
                "consider splitting it",
                "warning",
            )
        )
    return problems


def _announcements_without_answers(article: Article) -> list[Problem]:
    """A section that ends on 'Here is how:' with nothing under it to show: the bot would
    have to leave the promise out (its answers never end on one), and readers miss it too."""
    problems = []
    sections = [s for s in article.sections if s.text.strip()]
    for n, section in enumerate(sections):
        after = sections[n + 1] if n + 1 < len(sections) else None
        leads_in = after is not None and (section.level == 1 or after.level > section.level)
        if ends_in_promise(section.text) and not leads_in:
            last = sentences(blocks(section.text)[-1][1])[-1]
            problems.append(
                Problem(
                    display_path(article.path),
                    section.line,
                    f"section '{section.title}' ends on {last!r} but nothing follows it: "
                    "add what it announces or end it with a statement",
                    "warning",
                )
            )
    return problems


def _placeholders(article: Article) -> list[Problem]:
    """A draft's TODO lines (from `bot insights draft`) must not reach customers as answers."""
    problems = []
    for section in article.sections:
        lines = [section.title, *section.text.splitlines()]
        if any(line.strip().lstrip("#").strip().upper().startswith("TODO") for line in lines):
            problems.append(
                Problem(
                    display_path(article.path),
                    section.line,
                    f"section '{section.title}' still has a draft's TODO placeholder: "
                    "write the answer before it is served",
                    "error",
                )
            )
    return problems


def _drop_duplicate_ids(articles: list[Article], problems: list[Problem]) -> list[Article]:
    """Report every article sharing an id; all of them are left out until it is fixed."""
    by_id: dict[str, list[Article]] = {}
    for article in articles:
        by_id.setdefault(article.id, []).append(article)
    kept = []
    for article_id, group in by_id.items():
        if len(group) == 1:
            kept.append(group[0])
            continue
        paths = [display_path(a.path) for a in group]
        for article in group:
            others = ", ".join(p for p in paths if p != display_path(article.path))
            problems.append(
                Problem(
                    display_path(article.path), 1, f"duplicate id '{article_id}' (also in {others})"
                )
            )
    return kept


def _absolute(path: Path) -> str:
    """An absolute, normalised path (without Path.resolve's per-part symlink lookups)."""
    return _absolute_in(str(path), os.getcwd())


@functools.lru_cache(maxsize=65536)  # every article's, on every build of a live indexer
def _absolute_in(path: str, cwd: str) -> str:
    return os.path.normpath(os.path.join(cwd, path))


def _link_problems(articles: list[Article], kb_dir: Path, base_url: str) -> list[Problem]:
    """Links to other articles (relative .md paths or help-centre URLs) must resolve."""
    if not any(a.links for a in articles):
        return []
    by_id = {a.id: a for a in articles}
    cwd = os.getcwd()
    by_path = {_absolute_in(str(a.path), cwd): a for a in articles}
    problems: list[Problem] = []
    for article in articles:
        shown = display_path(article.path, cwd)
        for link in article.links:
            parts = urlsplit(link.target)
            anchor = unquote(parts.fragment)
            target: Article | None
            if parts.scheme in ("", "file") and not parts.netloc and parts.path.endswith(".md"):
                file = _absolute(article.path.parent / unquote(parts.path))
                target = by_path.get(file)
                if target is None:
                    reason, severity = _missing_file_reason(Path(file), kb_dir)
                    problems.append(
                        Problem(shown, link.line, f"link to '{link.target}': {reason}", severity)
                    )
                    continue
            elif link.target.startswith(base_url):
                target_id = urlsplit(link.target[len(base_url) :]).path.strip("/")
                target = by_id.get(target_id)
                if target is None:
                    problems.append(
                        Problem(
                            shown,
                            link.line,
                            f"link to '{link.target}': no article has id '{target_id}'",
                        )
                    )
                    continue
            elif not parts.scheme and not parts.path and anchor:
                target = article
            elif is_relative_path(link.target):
                problems.append(
                    Problem(
                        shown,
                        link.line,
                        f"link to '{link.target}': not an article; link to its .md file "
                        "(like '../help/contact-us.md') or to a web address. "
                        "Until then it is shown as text only",
                        "warning",
                    )
                )
                continue
            else:
                continue
            if anchor and anchor not in target.anchors:
                problems.append(
                    Problem(
                        shown,
                        link.line,
                        f"link to '{link.target}': "
                        f"article '{target.id}' has no section '#{anchor}'",
                        "warning",
                    )
                )
    return problems


def _missing_file_reason(file: Path, kb_dir: Path) -> tuple[str, Severity]:
    """Why a linked file is not an article; a link to a broken article only warns."""
    if not file.exists():
        return "no such article", "error"
    try:
        rel = file.relative_to(_absolute(kb_dir))
    except ValueError:
        return "it is outside the knowledge base", "error"
    if not is_article_file(rel):
        return "that file is not an article (its name starts with '_')", "error"
    return "that article has errors of its own", "warning"
