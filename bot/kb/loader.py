"""Read Markdown articles with YAML front matter into Articles made of heading sections."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import pickle
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from bot.kb.problems import Problem
from bot.kb.render import Heading, markup_problems, render_markdown

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KNOWN_KEYS = {"title", "id", "url", "tags", "updated", "questions", "draft"}
MAX_QUESTION_CHARS = 200
FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
ATX_HEADING = re.compile(r"^\s{0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass(frozen=True)
class Section:
    """A heading and the text under it, up to the next heading of level 2 or 3."""

    title: str
    level: int
    anchor: str
    path: tuple[str, ...]
    text: str
    line: int


@dataclass(frozen=True)
class Link:
    """A Markdown link found in an article body."""

    target: str
    line: int


@dataclass
class Article:
    """A parsed article: metadata from the front matter and its sections."""

    id: str
    title: str
    url: str
    path: Path
    rel_path: str
    tags: list[str]
    updated: dt.date | None
    body: str
    sections: list[Section]
    links: list[Link]
    content_hash: str
    word_count: int
    anchors: set[str] = field(default_factory=set)
    questions: list[str] = field(default_factory=list)
    draft: bool = False  # shown only to signed-in writers, never indexed for the bot
    body_line: int = 1  # the file's line on which the body starts

    @property
    def category(self) -> str:
        """The sub-folder the article sits in, or '' at the top level."""
        parent = Path(self.rel_path).parent.as_posix()
        return "" if parent == "." else parent


@dataclass
class LoadResult:
    """Everything found in a knowledge-base folder: good articles and the problems."""

    articles: list[Article]
    problems: list[Problem]
    files: list[Path]


def is_article_file(path: Path) -> bool:
    """Markdown files are articles unless their name (or a folder's) starts with '_' or '.'."""
    return path.suffix == ".md" and not any(part.startswith(("_", ".")) for part in path.parts)


def article_files(kb_dir: Path) -> list[Path]:
    """All article files under a knowledge-base folder, sorted for a stable order."""
    found = []
    for folder, dirs, files in os.walk(kb_dir):  # faster than rglob on thousands of files
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        found += [
            os.path.join(folder, name)
            for name in files
            if name.endswith(".md") and not name.startswith(("_", "."))
        ]
    return [Path(p) for p in sorted(found, key=lambda p: p.split(os.sep))]


def display_path(path: Path, cwd: str | None = None) -> str:
    """A path as users should see it: relative to the working directory when possible (`cwd`:
    os.getcwd(), when a loop over every article already asked)."""
    return _display_path(str(path), cwd or os.getcwd())


@functools.lru_cache(maxsize=65536)  # asked for every article several times per build
def _display_path(path: str, cwd: str) -> str:
    full = os.path.normpath(os.path.join(cwd, path))
    if full.startswith(cwd.rstrip(os.sep) + os.sep):
        return Path(os.path.relpath(full, cwd)).as_posix()
    return Path(path).as_posix()


class ParseCache:
    """Parsed articles keyed by their bytes, so a rebuild parses only the files that changed.

    Parsing (front matter, Markdown rendering for the anchors) is most of a no-change rebuild's
    time on a large KB. Entries not used by the latest load are dropped when it is saved.
    """

    VERSION = 3  # raise when parsing finds other problems or makes other articles

    def __init__(self, path: Path, trust_stat: bool = False) -> None:
        self.path = path
        # a long-running indexer (bot.kb.live) that saw a file's size and modification time
        # unchanged takes its last key without reading and hashing the file again
        self.trust_stat = trust_stat
        self._stat: dict[str, tuple[tuple[int, int], tuple]] = {}
        # (size, modification time) by path, as a watcher saw them just now (bot.kb.live):
        # taken instead of asking the file system about every file again
        self.seen: dict[str, tuple[int, int]] = {}
        self._entries: dict[tuple, tuple[Article | None, list[Problem]]] = {}
        self._used: dict[tuple, tuple[Article | None, list[Problem]]] = {}
        try:
            with path.open("rb") as handle:
                version, entries = pickle.load(handle)
            if version == self.VERSION:
                self._entries = entries
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError):
            pass  # no cache yet, or an unreadable one: parse everything

    def parse(
        self, path: Path, kb_dir: Path, base_url: str, cwd: str | None = None
    ) -> tuple[Article | None, list[Problem]]:
        cwd = cwd or os.getcwd()  # a load of every article asks once (`cwd`)
        signature: tuple[int, int] | None = None
        if self.trust_stat:
            signature = self.seen.get(str(path))
            if signature is None:
                info = os.stat(path)
                signature = (info.st_size, info.st_mtime_ns)
            seen = self._stat.get(str(path))
            if (
                seen is not None
                and seen[0] == signature
                and seen[1][2:]
                == (
                    str(kb_dir),
                    base_url,
                    cwd,
                )
            ):
                key = seen[1]
                result = self._used.get(key) or self._entries.get(key)
                if result is not None:
                    self._used[key] = result
                    return result
        key = (
            str(path),
            hashlib.sha256(path.read_bytes()).hexdigest(),
            str(kb_dir),
            base_url,
            cwd,  # relative paths, and problems show paths relative to it
        )
        if signature is not None:
            self._stat[str(path)] = (signature, key)
        result = self._used.get(key) or self._entries.get(key)
        if result is None:
            result = parse_article(path, kb_dir, base_url)
        self._used[key] = result
        return result

    def used(self) -> list[tuple[Article | None, list[Problem]]]:
        """What the last load parsed (or took from the cache), file by file."""
        return list(self._used.values())

    def forget_unused(self) -> None:
        """Start a new load: what the last one did not use may be dropped (a live indexer
        calls this between builds so edited files' old parses do not pile up)."""
        if self._used:
            self._entries, self._used = self._used, {}

    def save(self) -> None:
        """Write the entries the last load used (atomically: a crash leaves the old file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump((self.VERSION, self._used), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.path)


def load_kb(
    kb_dir: Path, base_url: str, cache: ParseCache | None = None, files: list[Path] | None = None
) -> LoadResult:
    """Parse every article under kb_dir (`files`: its article files, when already listed, in
    article_files' order); a broken file is reported, never fatal to the others."""
    if not kb_dir.is_dir():
        return LoadResult(
            [], [Problem(display_path(kb_dir), 0, "knowledge-base folder not found")], []
        )
    files = article_files(kb_dir) if files is None else files
    articles: list[Article] = []
    problems: list[Problem] = []
    cwd = os.getcwd()
    for path in files:
        article, found = (
            cache.parse(path, kb_dir, base_url, cwd)
            if cache
            else parse_article(path, kb_dir, base_url)
        )
        problems.extend(found)
        if article is not None:
            articles.append(article)
    return LoadResult(articles, problems, files)


def parse_article(path: Path, kb_dir: Path, base_url: str) -> tuple[Article | None, list[Problem]]:
    """Parse one article file; returns None with the problems when it cannot be used."""
    shown = display_path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            Problem(shown, line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8")
        ]
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")

    problems: list[Problem] = []
    meta, body, body_line = _split_front_matter(text, shown, problems)
    if meta is None:
        return None, problems

    rel_path = path.resolve().relative_to(kb_dir.resolve()).as_posix()
    article_id = _article_id(meta, path, text, shown, problems)
    title = _title(meta, text, shown, problems)
    url = _url(meta, article_id, base_url, text, shown, problems)
    tags = _tags(meta, text, shown, problems)
    questions = _questions(meta, text, shown, problems)
    updated = _updated(meta, text, shown, problems)
    draft = _draft(meta, text, shown, problems)
    for key in sorted(set(meta) - KNOWN_KEYS):
        problems.append(
            Problem(shown, _key_line(text, key), f"unknown front matter key '{key}'", "warning")
        )

    body_clean = _strip_comments(body)
    if not body_clean.strip():
        problems.append(Problem(shown, body_line, "empty body: the article has no text"))
    problems.extend(markup_problems(body_clean, body_line, shown))
    rendered = render_markdown(body_clean).headings
    sections = _sections(body_clean, rendered, body_line, title or "", shown, problems)
    if body_clean.strip() and not any(s.text.strip() for s in sections):
        problems.append(
            Problem(shown, body_line, "empty body: the headings have no text under them")
        )

    if any(p.severity == "error" for p in problems):
        return None, problems
    assert article_id is not None and title is not None and url is not None
    article = Article(
        id=article_id,
        title=title,
        url=url,
        path=path,
        rel_path=rel_path,
        tags=tags,
        questions=questions,
        updated=updated,
        draft=draft,
        body_line=body_line,
        body=body_clean,
        sections=sections,
        links=_links(body_clean, body_line),
        content_hash=hashlib.sha256(
            raw + b"\0" + rel_path.encode() + b"\0" + url.encode()
        ).hexdigest(),
        word_count=len(re.findall(r"\w+", body_clean)),
        anchors={s.anchor for s in sections} | {h.anchor for h in rendered},
    )
    return article, problems


def _split_front_matter(
    text: str, shown: str, problems: list[Problem]
) -> tuple[dict | None, str, int]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.append(
            Problem(
                shown, 1, "no front matter: start the file with '---', a 'title:' line and '---'"
            )
        )
        return None, "", 1
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        problems.append(Problem(shown, 1, "front matter is not closed: add a '---' line after it"))
        return None, "", 1
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(Problem(shown, line, f"invalid YAML in front matter: {reason}"))
        return None, "", 1
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        problems.append(Problem(shown, 2, "front matter must be 'key: value' lines"))
        return None, "", 1
    return meta, "\n".join(lines[end + 1 :]), end + 2


def _key_line(text: str, key: str) -> int:
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _article_id(
    meta: dict, path: Path, text: str, shown: str, problems: list[Problem]
) -> str | None:
    if "id" in meta:
        value, where = meta["id"], "front matter"
        line = _key_line(text, "id")
    else:
        value, where, line = path.stem, "file name", 1
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        problems.append(
            Problem(
                shown,
                line,
                f"invalid id {value!r} (from the {where}): use lowercase letters, digits and "
                "single hyphens, like 'reset-password'",
            )
        )
        return None
    return value


def _title(meta: dict, text: str, shown: str, problems: list[Problem]) -> str | None:
    if "title" not in meta:
        problems.append(Problem(shown, 1, "front matter has no 'title'"))
        return None
    title = meta["title"]
    if not isinstance(title, str | int | float) or not str(title).strip():
        problems.append(Problem(shown, _key_line(text, "title"), "'title' is empty"))
        return None
    return str(title).strip()


def _url(
    meta: dict,
    article_id: str | None,
    base_url: str,
    text: str,
    shown: str,
    problems: list[Problem],
) -> str | None:
    if "url" not in meta:
        return base_url + article_id if article_id else None
    url = meta["url"]
    if not isinstance(url, str) or not re.match(r"^(https?://\S+|/\S*)$", url):
        problems.append(
            Problem(
                shown,
                _key_line(text, "url"),
                f"'url' must be an http(s) address or a path, not {url!r}",
            )
        )
        return None
    return url


def _tags(meta: dict, text: str, shown: str, problems: list[Problem]) -> list[str]:
    tags = meta.get("tags", [])
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str | int) for t in tags):
        problems.append(
            Problem(
                shown,
                _key_line(text, "tags"),
                "'tags' must be a list, like: tags: [orders, returns]",
            )
        )
        return []
    return [str(t) for t in tags]


def _questions(meta: dict, text: str, shown: str, problems: list[Problem]) -> list[str]:
    """Other ways customers ask the title's question; each is matched like the title."""
    questions = meta.get("questions", [])
    if questions is None:
        return []
    if (
        not isinstance(questions, list)
        or not all(isinstance(q, str) and q.strip() for q in questions)
        or any(len(q) > MAX_QUESTION_CHARS for q in questions)
    ):
        problems.append(
            Problem(
                shown,
                _key_line(text, "questions"),
                "'questions' must be a list of questions (each at most "
                f'{MAX_QUESTION_CHARS} characters), like: questions: ["can I swap my order?"]',
            )
        )
        return []
    return list(dict.fromkeys(q.strip() for q in questions))


def _draft(meta: dict, text: str, shown: str, problems: list[Problem]) -> bool:
    value = meta.get("draft", False)
    if not isinstance(value, bool):
        problems.append(
            Problem(
                shown,
                _key_line(text, "draft"),
                f"'draft' must be true or false, not {value!r}",
            )
        )
        return False
    return value


def _updated(meta: dict, text: str, shown: str, problems: list[Problem]) -> dt.date | None:
    value = meta.get("updated")
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        problems.append(
            Problem(
                shown,
                _key_line(text, "updated"),
                f"'updated' must be a date like 2026-01-31, not {value!r}",
            )
        )
        return None


def _strip_comments(body: str) -> str:
    """Remove HTML comments but keep their newlines, so line numbers stay true."""
    return HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), body)


def _heading_lines(body: str) -> list[tuple[int, int, str]]:
    """(line index, level, text) of each ATX heading outside fenced code blocks."""
    found: list[tuple[int, int, str]] = []
    fence: str | None = None
    for i, line in enumerate(body.split("\n")):
        match = FENCE.match(line)
        if match:
            marker = match.group(1)[0]
            if fence is None:
                fence = marker
            elif fence == marker:
                fence = None
            continue
        if fence is not None:
            continue
        heading = ATX_HEADING.match(line)
        if heading:
            found.append((i, len(heading.group(1)), (heading.group(2) or "").strip()))
    return found


def _sections(
    body: str,
    rendered: list[Heading],
    body_line: int,
    title: str,
    shown: str,
    problems: list[Problem],
) -> list[Section]:
    """Split the body at H1-H3 headings; anchors are the ids the rendered HTML gives them."""
    lines = body.split("\n")
    headings = _heading_lines(body)
    if len(rendered) == len(headings):
        anchors = [h.anchor for h in rendered]
        names = [h.name for h in rendered]
    else:  # a heading style we do not parse (setext): keep going with best-effort anchors
        problems.append(
            Problem(
                shown, body_line, "some headings are not '#'-style; use '## Heading'", "warning"
            )
        )
        from markdown.extensions.toc import slugify

        anchors = [slugify(text, "-") for _, _, text in headings]
        names = [text for _, _, text in headings]

    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    start, current = 0, Section(title=title, level=1, anchor="", path=(), text="", line=body_line)
    for (index, level, text), anchor, name in zip(headings, anchors, names, strict=True):
        if not text:
            problems.append(Problem(shown, body_line + index, "heading has no text", "warning"))
        if level > 3:
            continue  # H4+ stay inside their section
        sections.append(_with_text(current, lines[start:index]))
        if level == 1:
            # an H1 restarts the article's own text: it is shown and cited as the article
            # itself (title, no #anchor), like the opening before any heading
            path = []
            current = Section(title, 1, "", (), "", body_line + index)
        else:
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, name)]
            current = Section(name, level, anchor, tuple(t for _, t in path), "", body_line + index)
        start = index + 1
    sections.append(_with_text(current, lines[start:]))
    return [s for s in sections if s.text.strip() or s.level > 1]


def _with_text(section: Section, lines: list[str]) -> Section:
    return Section(
        section.title,
        section.level,
        section.anchor,
        section.path,
        "\n".join(lines).strip("\n"),
        section.line,
    )


def _links(body: str, body_line: int) -> list[Link]:
    links: list[Link] = []
    in_fence = False
    for i, line in enumerate(body.split("\n")):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            links.append(Link(match.group("target"), body_line + i))
    return links


def link_target(source: str, target: str) -> tuple[str, str] | None:
    """The article path (relative to the KB folder) and #fragment a writer's link points to.

    `source` is the linking article's path relative to the KB folder; `target` is the link as
    written: a relative `.md` path (`../help/contact-us.md#by-phone`) or a bare `#fragment` (a
    section of the same article). None for anything else (web addresses, mailto, images) and
    for paths that leave the KB folder.
    """
    parts = urlsplit(target)
    fragment = unquote(parts.fragment)
    if parts.scheme or parts.netloc or target.startswith("/"):
        return None
    if not parts.path:
        return (source, fragment) if fragment else None
    path = unquote(parts.path)
    if not path.endswith(".md"):
        return None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
    if resolved.startswith("../") or resolved == "..":
        return None
    return resolved, fragment


def is_relative_path(target: str) -> bool:
    """True for a link like `contact-us` or `../help/x.md`: no scheme, host or leading '/'."""
    parts = urlsplit(target)
    return bool(parts.path) and not (parts.scheme or parts.netloc or target.startswith("/"))


def rewrite_links(markdown_text: str, source: str, url_for: Callable[[str], str | None]) -> str:
    """Writers' relative links made absolute: `[text](../help/contact-us.md#by-phone)` becomes
    `[text](<url_for('help/contact-us.md')>#by-phone)`. A link to an article `url_for` does not
    know (missing, or left out for errors), or a relative path that is no article, keeps its
    text and loses the link, so no reply or page ever serves a broken one. Web addresses,
    root-relative paths and links inside code are left alone.
    """
    out: list[str] = []
    in_fence = False
    for line in markdown_text.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence or FENCE.match(line) or "](" not in line:
            out.append(line)
            continue
        pieces = re.split(r"(`[^`]*`)", line)  # odd pieces are code spans
        for n in range(0, len(pieces), 2):
            pieces[n] = LINK.sub(lambda m: _rewritten(m, source, url_for), pieces[n])
        out.append("".join(pieces))
    return "\n".join(out)


def _rewritten(match: re.Match, source: str, url_for: Callable[[str], str | None]) -> str:
    target = match.group("target")
    found = link_target(source, target)
    if found is None:
        # a relative path that is no article (`contact-us`, `../img/x.png`) would open a page
        # of whatever site shows the text: lint warns about it, and readers get the words only
        return match.group("text") if is_relative_path(target) else match.group(0)
    path, fragment = found
    url = url_for(path)
    if url is None:
        return match.group("text")
    return f"[{match.group('text')}]({url}{'#' + fragment if fragment else ''})"
