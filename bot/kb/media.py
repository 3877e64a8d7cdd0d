"""Images and videos stored beside the articles (`kb_articles/**/images/`).

A writer embeds one with Markdown's image syntax and a path relative to the article:
`![The reset email, with its button](images/reset-email.png)`; a video the same way with a
.mp4 or .webm file, shown as a player in the help centre. The alt text is required (lint
refuses an image without one, with file:line), and so is the file. The help centre serves the
files from /help/media/ with cache headers; the bot's answers link to them by their alt text.
Nothing is fetched from elsewhere: only files in an `images` folder under kb_dir are served.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from bot.kb.problems import Problem

MEDIA_FOLDER = "images"
MEDIA_PREFIX = "/help/media/"
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm"}
MEDIA_TYPES = {**IMAGE_TYPES, **VIDEO_TYPES}
FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def is_video(url: str) -> bool:
    """True for an address of a video file the help centre plays."""
    return posixpath.splitext(urlsplit(url).path)[1].lower() in VIDEO_TYPES


def media_path(kb_dir: Path, rel: str) -> Path | None:
    """The file a /help/media/<rel> address names, or None when it may not be served: it
    must be inside kb_dir, in an `images` folder, of a known type, and exist."""
    parts = rel.split("/")
    if not rel or ".." in parts or any(p.startswith(".") for p in parts) or "\\" in rel:
        return None
    if MEDIA_FOLDER not in parts[:-1] or posixpath.splitext(rel)[1].lower() not in MEDIA_TYPES:
        return None
    root = os.path.realpath(kb_dir)
    full = os.path.realpath(os.path.join(root, *parts))
    if not full.startswith(root + os.sep) or not os.path.isfile(full):
        return None
    return Path(full)


def local_target(source: str, target: str) -> str | None:
    """The KB-relative path of an image written relative to the article `source`
    (KB-relative too), or None for a web address, an absolute path or one leaving the KB."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("/") or not parts.path:
        return None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(source), unquote(parts.path)))
    return None if resolved.startswith("..") else resolved


def media_problems(body: str, first_line: int, article_path: Path, kb_dir: Path) -> list[Problem]:
    """Images without alt text, and images or videos whose file is not in an images folder
    beside the articles, each with the file and line."""
    shown = _shown(article_path)
    source = os.path.relpath(article_path, kb_dir).replace(os.sep, "/")
    problems: list[Problem] = []
    in_fence = False
    for index, line in enumerate(body.split("\n")):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for match in IMAGE.finditer(re.sub(r"`[^`]*`", "", line)):
            where, target = first_line + index, match.group("target")
            if not match.group("alt").strip():
                problems.append(
                    Problem(
                        shown,
                        where,
                        f"image '{target}' has no alt text: say what it shows for readers "
                        "who cannot see it, like ![The reset email](images/reset-email.png)",
                    )
                )
            rel = local_target(source, target)
            if rel is None:
                if urlsplit(target).scheme in ("http", "https"):
                    problems.append(
                        Problem(
                            shown,
                            where,
                            f"'{target}' is on another site: readers' browsers would fetch it "
                            f"from there; save it in an '{MEDIA_FOLDER}' folder beside the "
                            "article instead",
                            "warning",
                        )
                    )
                continue
            if media_path(kb_dir, rel) is None:
                problems.append(
                    Problem(
                        shown,
                        where,
                        f"'{target}' is not a picture or video in an '{MEDIA_FOLDER}' folder "
                        f"of the knowledge base ({', '.join(sorted(MEDIA_TYPES))})",
                    )
                )
    return problems


def rewrite_media(markdown_text: str, source: str, as_link: bool = False) -> str:
    """Images written relative to the article pointed at the help centre's /help/media/
    addresses; with as_link (the bot's answers), each becomes a link named by its alt text."""

    def replace(match: re.Match) -> str:
        rel = local_target(source, match.group("target"))
        if rel is None:
            return match.group(0)
        url = MEDIA_PREFIX + quote(rel)
        alt = match.group("alt").strip()
        if as_link:
            kind = "Video" if is_video(url) else "Picture"
            return f"[{kind}: {alt or 'open'}]({url})"
        return f"![{alt}]({url})"

    return _outside_code(markdown_text, lambda line: IMAGE.sub(replace, line))


def _outside_code(text: str, change: Callable[[str], str]) -> str:
    out, in_fence = [], False
    for line in text.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            continue
        out.append(line if in_fence or "![" not in line else change(line))
    return "\n".join(out)


def _shown(path: Path) -> str:
    from bot.kb.loader import display_path

    return display_path(path)
