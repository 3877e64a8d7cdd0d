"""Writers' regression file: "this question must find that article within k results"."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from bot.kb.loader import display_path
from bot.kb.search import KnowledgeBase


class RegressionFileError(ValueError):
    """The regression file itself is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class Expectation:
    """One line of the regression file."""

    question: str
    expect: str
    within: int
    line: int


@dataclass(frozen=True)
class Outcome:
    """How one expectation fared: the rank found (None if not in the results) and the top hit."""

    question: str
    expect: str
    within: int
    rank: int | None
    top: str | None
    top_score: float | None
    passed: bool

    def to_dict(self) -> dict:
        """JSON form of the outcome."""
        return asdict(self)


def load_expectations(path: Path) -> list[Expectation]:
    """Read and validate a regression file (a YAML list of question/expect/within)."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RegressionFileError(f"{shown}: file not found") from exc
    try:
        nodes = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RegressionFileError(
            f"{shown}:{mark.line + 1 if mark else 1}: invalid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if not isinstance(data, list):
        raise RegressionFileError(
            f"{shown}:1: expected a list of {{question, expect, within}} entries"
        )
    lines = [node.start_mark.line + 1 for node in nodes.value] if nodes is not None else []
    found = []
    for n, (entry, line) in enumerate(zip(data, lines, strict=True), start=1):
        where = f"{shown}:{line}: entry {n}"
        if not isinstance(entry, dict):
            raise RegressionFileError(f"{where}: expected 'question:' and 'expect:' keys")
        question, expect, within = (
            entry.get("question"),
            entry.get("expect"),
            entry.get("within", 1),
        )
        if not isinstance(question, str) or not question.strip():
            raise RegressionFileError(f"{where}: 'question' is missing or empty")
        if not isinstance(expect, str) or not expect.strip():
            raise RegressionFileError(f"{where}: 'expect' must be an article id")
        if not isinstance(within, int) or isinstance(within, bool) or within < 1:
            raise RegressionFileError(f"{where}: 'within' must be a whole number of at least 1")
        unknown = set(entry) - {"question", "expect", "within"}
        if unknown:
            raise RegressionFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        found.append(Expectation(question.strip(), expect.strip(), within, line))
    return found


def run_expectations(kb: KnowledgeBase, expectations: list[Expectation]) -> list[Outcome]:
    """Search every question and check where the expected article ranks."""
    known = {a["id"] for a in kb.reader.articles()}
    outcomes = []
    for item in expectations:
        if item.expect not in known:
            outcomes.append(
                Outcome(item.question, item.expect, item.within, None, None, None, False)
            )
            continue
        hits = kb.search(item.question, k=max(item.within, 5))
        ids = [h.id for h in hits]
        rank = ids.index(item.expect) + 1 if item.expect in ids else None
        outcomes.append(
            Outcome(
                question=item.question,
                expect=item.expect,
                within=item.within,
                rank=rank,
                top=ids[0] if ids else None,
                top_score=round(hits[0].score, 4) if hits else None,
                passed=rank is not None and rank <= item.within,
            )
        )
    return outcomes


def unknown_articles(kb: KnowledgeBase, expectations: list[Expectation]) -> list[Expectation]:
    """Expectations naming an article id the index does not have."""
    known = {a["id"] for a in kb.reader.articles()}
    return [e for e in expectations if e.expect not in known]
