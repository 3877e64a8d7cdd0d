"""`bot kb learned export`: confirmed questions into the writers' own files, for review in git.

A question confirmed for an article is added to that article's `questions:` front matter; one
confirmed for a flow, a person or "not something we answer" becomes an example of that intent in
the Rasa NLU files (data/nlu/*.yml). Lines are added, nothing else in a file is rewritten, and a
question the file already has (case and spacing aside) is not added again. An article that would
not load after the change is left as it was and reported. The router never counts a learned
question and the same question in a file twice (Router.with_phrasings), so exporting changes
what the bot does only through the next `bot kb build` and `bot train`.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bot.kb.learned import HANDOFF, NEW_ARTICLE, OUT_OF_SCOPE, Learned, LearnedStore
from bot.kb.loader import MAX_QUESTION_CHARS, article_files, parse_article
from bot.kb.router import normalised

NLU_INTENT = {HANDOFF: "request_human", OUT_OF_SCOPE: "out_of_scope"}
FRONT_MATTER_END = re.compile(r"^---\s*$")
QUESTIONS_KEY = re.compile(r"^questions:\s*(.*)$")
LIST_ITEM = re.compile(r"^(\s+)- ")
INTENT_LINE = re.compile(r"^(\s*)- intent:\s*(\S+)\s*$")
EXAMPLES_LINE = re.compile(r"^(\s*)examples:\s*\|")


@dataclass
class Exported:
    """What an export did: rows written (by file), already there, and left out (with why)."""

    written: list[dict] = field(default_factory=list)
    already: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return sorted({w["file"] for w in self.written})

    def to_dict(self) -> dict:
        return {
            "written": self.written,
            "already": self.already,
            "skipped": self.skipped,
            "files": self.files,
        }


def export_learned(
    store: LearnedStore, kb_dir: Path, nlu_dir: Path, base_url: str, dry_run: bool = False
) -> Exported:
    """Write every active confirmation into its file (a dry run only says what it would do)."""
    report = Exported()
    rows = [r for r in store.active() if r.target != NEW_ARTICLE]
    by_article: dict[str, list[Learned]] = {}
    by_intent: dict[str, list[Learned]] = {}
    for row in rows:
        if row.target.startswith("article:"):
            by_article.setdefault(row.target.split(":", 1)[1], []).append(row)
        else:
            intent = row.target.split(":", 1)[1] if ":" in row.target else NLU_INTENT[row.target]
            by_intent.setdefault(intent, []).append(row)
    paths = _article_paths(kb_dir, base_url)
    for article_id, learned in sorted(by_article.items()):
        path = paths.get(article_id)
        if path is None:
            for row in learned:
                report.skipped.append(_entry(row, None, f"no article '{article_id}' in {kb_dir}"))
            continue
        _into_article(path, kb_dir, base_url, learned, report, dry_run)
    for intent, learned in sorted(by_intent.items()):
        _into_nlu(nlu_dir, intent, learned, report, dry_run)
    if not dry_run:
        store.mark_exported([w["id"] for w in report.written] + [a["id"] for a in report.already])
    return report


def _article_paths(kb_dir: Path, base_url: str) -> dict[str, Path]:
    found = {}
    for path in article_files(kb_dir):
        article, _ = parse_article(path, kb_dir, base_url)
        if article is not None:
            found[article.id] = path
    return found


def _into_article(
    path: Path,
    kb_dir: Path,
    base_url: str,
    learned: list[Learned],
    report: Exported,
    dry_run: bool,
) -> None:
    article, _ = parse_article(path, kb_dir, base_url)
    assert article is not None
    have = {normalised(q) for q in article.questions} | {normalised(article.title)}
    new = []
    for row in learned:
        if normalised(row.text) in have:
            report.already.append(_entry(row, path, "already in the article"))
        elif len(row.text) > MAX_QUESTION_CHARS:
            detail = f"longer than the {MAX_QUESTION_CHARS} characters `questions:` takes"
            report.skipped.append(_entry(row, path, detail))  # the router still knows it
        else:
            have.add(normalised(row.text))
            new.append(row)
    if not new:
        return
    text = path.read_text(encoding="utf-8")
    changed = _with_questions(text, [r.text for r in new])
    problem = _loads(changed, path, kb_dir, base_url, [r.text for r in new])
    if problem:
        for row in new:
            report.skipped.append(_entry(row, path, problem))
        return
    if not dry_run:
        path.write_text(changed, encoding="utf-8")
    report.written.extend(_entry(row, path, "questions") for row in new)


def _with_questions(text: str, questions: list[str]) -> str:
    """The article's text with questions added to its front matter's `questions:` list."""
    lines = text.split("\n")
    end = next(i for i in range(1, len(lines)) if FRONT_MATTER_END.match(lines[i]))
    items = [f"  - {json.dumps(q, ensure_ascii=False)}" for q in questions]
    for i in range(1, end):
        found = QUESTIONS_KEY.match(lines[i])
        if not found:
            continue
        inline = found.group(1).strip()
        if inline.startswith("["):  # questions: ["a", "b"] -> a block list
            import yaml

            old = yaml.safe_load(inline) or []
            block = [f"  - {json.dumps(str(q), ensure_ascii=False)}" for q in old]
            return "\n".join([*lines[:i], "questions:", *block, *items, *lines[i + 1 :]])
        last = i
        while last + 1 < end and (
            LIST_ITEM.match(lines[last + 1]) or lines[last + 1].startswith("    ")
        ):
            last += 1
        indent = LIST_ITEM.match(lines[last]).group(1) if last > i else "  "
        items = [indent + item.lstrip() for item in items]
        return "\n".join([*lines[: last + 1], *items, *lines[last + 1 :]])
    return "\n".join([*lines[:end], "questions:", *items, *lines[end:]])


def _loads(text: str, path: Path, kb_dir: Path, base_url: str, added: list[str]) -> str | None:
    """None when the changed article still loads with the questions added; else why not."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.relative_to(kb_dir)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text, encoding="utf-8")
        article, problems = parse_article(copy, Path(folder), base_url)
    if article is None or not {normalised(q) for q in added} <= {
        normalised(q) for q in article.questions
    }:
        errors = "; ".join(p.message for p in problems if p.severity == "error")
        return f"the article would not load with it ({errors or 'questions not read back'})"
    return None


def _into_nlu(
    nlu_dir: Path, intent: str, learned: list[Learned], report: Exported, dry_run: bool
) -> None:
    found = _intent_block(nlu_dir, intent)
    if found is None:
        for row in learned:
            report.skipped.append(_entry(row, None, f"no '{intent}' examples in {nlu_dir}"))
        return
    path, lines, start, end, indent = found
    have = set()
    for line in lines[start:end]:
        stripped = line.strip()
        if stripped.startswith("- "):
            have.add(normalised(re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", stripped[2:])))
    new = []
    for row in learned:
        if normalised(row.text) in have:
            report.already.append(_entry(row, path, f"already an example of {intent}"))
        else:
            have.add(normalised(row.text))
            new.append(row)
    if not new:
        return
    added = [f"{indent}- {_nlu_example(row.text)}" for row in new]
    if not dry_run:
        path.write_text("\n".join([*lines[:end], *added, *lines[end:]]), encoding="utf-8")
    report.written.extend(_entry(row, path, f"NLU examples of {intent}") for row in new)


def _intent_block(nlu_dir: Path, intent: str) -> tuple[Path, list[str], int, int, str] | None:
    """The file, its lines, and where the examples of an intent start and end (and indent)."""
    for path in sorted(nlu_dir.glob("*.yml")):
        lines = path.read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines):
            head = INTENT_LINE.match(line)
            if not head or head.group(2) != intent:
                continue
            j = i + 1
            while j < len(lines) and not EXAMPLES_LINE.match(lines[j]):
                if INTENT_LINE.match(lines[j]):
                    break
                j += 1
            if j >= len(lines) or not EXAMPLES_LINE.match(lines[j]):
                continue
            start = end = j + 1
            indent = None
            block = len(EXAMPLES_LINE.match(lines[j]).group(1))
            while end < len(lines) and (
                not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > block
            ):
                if lines[end].strip() and indent is None:
                    indent = lines[end][: len(lines[end]) - len(lines[end].lstrip())]
                end += 1
            while end > start and not lines[end - 1].strip():
                end -= 1  # the blank lines after the block stay after it
            return path, lines, start, end, indent or " " * (block + 2)
    return None


def _nlu_example(text: str) -> str:
    """A question as a literal NLU example (Rasa's entity markup characters taken out)."""
    return re.sub(r"[\[\]{}]", "", text)


def _entry(row: Learned, path: Path | None, where: str) -> dict:
    return {
        "id": row.id,
        "text": row.text,
        "target": row.target,
        "file": str(path) if path else None,
        "detail": where,
    }
