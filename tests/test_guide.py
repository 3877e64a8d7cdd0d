"""Guided troubleshooting: a decision tree written as a nested list, checked by lint (every
branch ends, with file:line) and shown one step at a time in the help centre."""

from __future__ import annotations

from pathlib import Path

from bot.kb.guide import parse_guide
from bot.kb.lint import lint_kb
from bot.web.help import with_guides, without_guides
from tests.conftest import BASE_URL, write

GUIDE = """\
Did the reset email arrive?
- Yes: Does the link in it open the reset page?
  - Yes: Choose a new password and sign in.
  - No, it says it expired: Ask for a new email and use the newest one.
- No: (handoff) A person can check your account with you.
"""


def test_a_guide_reads_as_questions_choices_and_ends() -> None:
    root, problems = parse_guide(GUIDE.splitlines(), 10, "kb/reset.md")
    assert problems == []
    assert root.text == "Did the reset email arrive?" and root.line == 10
    (yes, link), (no, person) = root.choices
    assert (yes, no) == ("Yes", "No")
    assert [label for label, _ in link.choices] == ["Yes", "No, it says it expired"]
    assert person.handoff and person.shown == "A person can check your account with you."
    assert not link.handoff and link.line == 11


def test_lint_finds_a_branch_that_does_not_end_with_file_and_line(kb_dir: Path) -> None:
    broken = GUIDE.replace(
        "- No: (handoff) A person can check your account with you.",
        "- No: Did you check your spam folder?\n  -Found it: Open it.",
    )
    write(kb_dir, "reset.md", f"---\ntitle: Reset\n---\nSteps.\n\n```guide\n{broken}```\n")
    found = [str(p) for p in lint_kb(kb_dir, BASE_URL).problems]
    assert any(
        p.endswith(
            "reset.md:11: this branch does not end: 'Did you check your spam folder?' "
            "asks a question with no choices under it (add '- choice: ...' lines, or "
            "answer instead of asking)"
        )
        for p in found
    ), found
    assert any("reset.md:12: guide line is not a choice" in p for p in found)


def test_the_help_centre_shows_one_step_at_a_time_with_links_between_them() -> None:
    body = f"Intro.\n\n```guide\n{GUIDE}```\n\nAfter <b>the guide</b>.\n"
    from bot.kb.render import render_markdown

    text, guides = without_guides(body)
    shown = with_guides(render_markdown(text).html, guides)
    assert '<section class="guide" id="guide-2"' in shown
    assert '<p class="question">Did the reset email arrive?</p>' in shown
    assert '<li><a href="#guide-2-1">Yes</a></li>' in shown
    assert '<li><a href="#guide-2-4">No</a></li>' in shown
    # the handoff end asks for a person in the chat
    assert 'class="ask-person" data-guide="Did the reset email arrive?"' in shown
    assert "&lt;b&gt;the guide&lt;/b&gt;" in shown and "```" not in shown
