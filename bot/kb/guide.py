"""Guided troubleshooting: a decision tree a writer writes in an article, as a nested list.

    ```guide
    Did the reset email arrive?
    - Yes: Does the link in it open the reset page?
      - Yes: Choose a new password and sign in.
      - No, it says it expired: Ask for a new email and use the newest one.
    - No: (handoff) A person can check your account with you.
    ```

The first line asks the first question; each `- choice: text` under a step (indented two
spaces per level) is one answer to it, and its text is the next question (when choices follow
it) or where that branch ends: an answer, or `(handoff)` and an answer when a person should
take over. Lint checks that every branch ends (no question left without choices) with
file:line; the help centre shows the tree one step at a time (links between steps, so it works
without JavaScript). In any other Markdown viewer it stays a readable list.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from bot.kb.problems import Problem

FENCE_OPEN = re.compile(r"^\s{0,3}```+\s*guide\s*$")
FENCE_CLOSE = re.compile(r"^\s{0,3}```+\s*$")
CHOICE = re.compile(r"^(?P<indent> *)- +(?P<label>[^:]+?)\s*:\s*(?P<text>.*)$")
HANDOFF = "(handoff)"


@dataclass
class Step:
    """A question with its choices, or (without choices) where a branch ends."""

    text: str
    line: int
    choices: list[tuple[str, Step]] = field(default_factory=list)

    @property
    def handoff(self) -> bool:
        """True for an end at which a person should take over."""
        return self.text.startswith(HANDOFF)

    @property
    def shown(self) -> str:
        """The text as readers see it (without the handoff mark)."""
        return self.text.removeprefix(HANDOFF).strip()

    def walk(self) -> list[Step]:
        """This step and every step under it, depth first."""
        out = [self]
        for _, step in self.choices:
            out.extend(step.walk())
        return out


@dataclass(frozen=True)
class Guide:
    """One decision tree: its first step, and the lines it spans in the body (0-based)."""

    root: Step
    start: int
    end: int


def find_guides(body: str) -> list[tuple[int, int, list[str]]]:
    """Each ```guide block of a body: (first line, closing line, its lines), 0-based."""
    lines = body.split("\n")
    found, index = [], 0
    while index < len(lines):
        if FENCE_OPEN.match(lines[index]):
            close = next(
                (j for j in range(index + 1, len(lines)) if FENCE_CLOSE.match(lines[j])),
                len(lines),
            )
            found.append((index, close, lines[index + 1 : close]))
            index = close
        index += 1
    return found


def as_prose(body: str) -> str:
    """A body with each guide reduced to its first question, for a snippet to quote: its
    choices read as markup out of their tree. A chunk that starts inside a guide (one split
    over two chunks) loses the choices before the closing fence too."""
    lines = body.split("\n")
    opened = next((i for i, line in enumerate(lines) if FENCE_OPEN.match(line)), len(lines))
    closed = next((i for i, line in enumerate(lines[:opened]) if FENCE_CLOSE.match(line)), None)
    if closed is not None and all(
        CHOICE.match(line) or not line.strip() for line in lines[:closed]
    ):
        lines = lines[closed + 1 :]
    out: list[str] = []
    inside, asked = False, False
    for line in lines:
        if not inside and FENCE_OPEN.match(line):
            inside, asked = True, False
        elif inside and FENCE_CLOSE.match(line):
            inside = False
        elif not inside:
            out.append(line)
        elif not asked and line.strip():
            out.append(line.strip())
            asked = True
    return "\n".join(out)


def parse_guide(lines: list[str], first_line: int, shown: str) -> tuple[Step | None, list]:
    """A guide's tree from its lines (the first at file line first_line), and its problems."""
    problems: list[Problem] = []
    numbered = [(first_line + i, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        return None, [Problem(shown, first_line - 1, "guide is empty: start with a question")]
    line_no, first = numbered[0]
    root = Step(first.strip(), line_no)
    stack: list[tuple[int, Step]] = [(-1, root)]
    for line_no, line in numbered[1:]:
        match = CHOICE.match(line)
        if match is None:
            problems.append(
                Problem(shown, line_no, "guide line is not a choice: write '- choice: what next'")
            )
            continue
        depth = len(match.group("indent"))
        if depth % 2:
            problems.append(
                Problem(shown, line_no, "indent choices by two spaces per level in a guide")
            )
            continue
        level = depth // 2
        while len(stack) > level + 1:
            stack.pop()
        if len(stack) < level + 1:
            problems.append(
                Problem(shown, line_no, "this choice is indented deeper than the step above it")
            )
            continue
        parent = stack[-1][1]
        label, text = match.group("label").strip(), match.group("text").strip()
        if not text:
            problems.append(
                Problem(shown, line_no, f"choice '{label}' leads nowhere: add what comes next")
            )
            continue
        if any(existing == label for existing, _ in parent.choices):
            problems.append(
                Problem(shown, line_no, f"choice '{label}' is offered twice for the same step")
            )
        step = Step(text, line_no)
        parent.choices.append((label, step))
        stack.append((level, step))
    for step in root.walk():
        if not step.choices and step.text.rstrip().endswith("?"):
            problems.append(
                Problem(
                    shown,
                    step.line,
                    f"this branch does not end: '{step.text}' asks a question with no choices "
                    "under it (add '- choice: ...' lines, or answer instead of asking)",
                )
            )
        if step.choices and step.handoff:
            problems.append(
                Problem(shown, step.line, "a (handoff) step ends its branch: it takes no choices")
            )
    if not root.choices:
        problems.append(Problem(shown, root.line, "a guide's first question needs choices"))
    return root, problems


def guide_problems(body: str, first_line: int, shown: str) -> list[Problem]:
    """Problems of every guide in an article body whose first line is first_line."""
    problems: list[Problem] = []
    for start, close, lines in find_guides(body):
        if close >= len(body.split("\n")):
            problems.append(Problem(shown, first_line + start, "guide is not closed with ```"))
        problems.extend(parse_guide(lines, first_line + start + 1, shown)[1])
    return problems


def guide_html(root: Step, name: str) -> str:
    """The tree as steps linked to each other, the first shown (help.css shows the step the
    address points at); every text escaped."""
    steps = root.walk()
    ids = {id(step): f"{name}-{n}" for n, step in enumerate(steps)}
    parts = [f'<section class="guide" id="{name}" aria-label="Step-by-step troubleshooting">']
    for n, step in enumerate(steps):
        parts.append(f'<div class="step" id="{ids[id(step)]}" tabindex="-1">')
        text = html.escape(step.shown)
        if step.choices:
            parts.append(f'<p class="question">{text}</p><ul class="choices">')
            for label, target in step.choices:
                parts.append(f'<li><a href="#{ids[id(target)]}">{html.escape(label)}</a></li>')
            parts.append("</ul>")
        else:
            parts.append(f'<p class="answer">{text}</p>')
            if step.handoff:
                parts.append(
                    # help.js: the chat hands off, the ticket saying the guide and the path
                    '<p><button type="button" class="ask-person" '
                    f'data-guide="{html.escape(root.shown)}" hidden>Ask a person in the chat'
                    '</button> <a href="/help/contact-us">Contact us</a></p>'
                )
        if n:
            parts.append(f'<p class="restart"><a href="#{name}-0">Start over</a></p>')
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)
