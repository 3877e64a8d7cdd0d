"""Problems found in articles, reported as `path:line: message` like a compiler."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an article, located by file and line."""

    path: str
    line: int
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}: {prefix}{self.message}"

    def to_dict(self) -> dict:
        """JSON form of the problem."""
        return asdict(self)


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the problems that block a build."""
    return [p for p in problems if p.severity == "error"]
