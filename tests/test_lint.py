"""Lint across articles: duplicate ids, broken links, long articles; output as path:line."""

from __future__ import annotations

from pathlib import Path

from bot.kb.lint import lint_kb
from tests.conftest import BASE_URL, DEMO_KB, write


def _messages(kb_dir: Path, max_words: int = 1500) -> list[str]:
    return [
        str(p).split(f"{kb_dir.name}/", 1)[-1]
        for p in lint_kb(kb_dir, BASE_URL, max_words).problems
    ]


def test_the_demo_kb_is_clean() -> None:
    result = lint_kb(DEMO_KB, "http://localhost:8080/help/")
    assert result.problems == []
    assert len(result.articles) >= 32


def test_duplicate_ids_are_reported_in_every_file(kb_dir: Path) -> None:
    write(kb_dir, "a/returns.md", "---\ntitle: A\n---\nBody.\n")
    write(kb_dir, "b/other.md", "---\ntitle: B\nid: returns\n---\nBody.\n")
    result = lint_kb(kb_dir, BASE_URL)
    assert result.articles == []
    assert len(result.problems) == 2
    assert all("duplicate id 'returns'" in p.message for p in result.problems)


def test_links_to_missing_articles_are_errors_with_their_line(kb_dir: Path) -> None:
    write(kb_dir, "orders/cancel.md", "---\ntitle: Cancel\n---\n## Refunds\n\nText.\n")
    write(
        kb_dir,
        "orders/change.md",
        """
        ---
        title: Change
        ---
        See [cancel](cancel.md) and [refunds](cancel.md#refunds).
        Also [gone](../nowhere.md) and [web]("""
        + BASE_URL
        + """missing-id).
        And [bad anchor](cancel.md#nope) and [template](_template.md).
        """,
    )
    write(kb_dir, "orders/_template.md", "---\ntitle: T\n---\nB.\n")
    messages = _messages(kb_dir)
    assert "orders/change.md:5: link to '../nowhere.md': no such article" in messages
    assert any(
        m.startswith("orders/change.md:5: link to 'https://")
        and "no article has id 'missing-id'" in m
        for m in messages
    )
    assert (
        "orders/change.md:6: warning: link to 'cancel.md#nope': "
        "article 'cancel' has no section '#nope'" in messages
    )
    assert any("_template.md': that file is not an article" in m for m in messages)


def test_raw_html_warns_and_unsafe_links_are_errors_with_their_line(kb_dir: Path) -> None:
    write(
        kb_dir,
        "tricks.md",
        """
        ---
        title: Tricks
        ---
        Hello <script>steal()</script> and <b>bold</b>.
        A [harmless](https://shop.test/a), a [path](/help/returns) and [mail](mailto:a@b.test).
        A [trap](javascript:alert(1)) and a ![pixel](data:image/png;base64,AAAA).

        [ref]: JaVa&#115;cript:alert(2)

        `<b>code</b>` and

        ```
        <script>in a code block</script>
        ```
        """,
    )
    result = lint_kb(kb_dir, BASE_URL)
    messages = [str(p).split(f"{kb_dir.name}/", 1)[-1] for p in result.problems]
    assert messages == [
        "tricks.md:4: warning: raw HTML <b> is shown to readers as text, not markup: "
        "write it in Markdown",
        "tricks.md:4: warning: raw HTML <script> is shown to readers as text, not markup: "
        "write it in Markdown",
        "tricks.md:6: unsafe image 'data:image/png;base64,AAAA': 'data:' addresses are not "
        "allowed (only http, https, or a path)",
        "tricks.md:6: unsafe link 'javascript:alert(1)': 'javascript:' addresses are not "
        "allowed (only http, https, mailto, or a path)",
        "tricks.md:8: unsafe link 'JaVa&#115;cript:alert(2)': 'javascript:' addresses are "
        "not allowed (only http, https, mailto, or a path)",
    ]
    assert result.articles == []  # an unsafe link keeps the article out until it is fixed


def test_long_articles_get_a_warning_only(kb_dir: Path) -> None:
    write(kb_dir, "long.md", "---\ntitle: Long\n---\n" + "word " * 300 + "\n")
    result = lint_kb(kb_dir, BASE_URL, max_words=200)
    assert [a.id for a in result.articles] == ["long"]
    assert [p.severity for p in result.problems] == ["warning"]
    assert "article is long (300 words, over 200)" in result.problems[0].message


def test_unknown_front_matter_keys_warn(kb_dir: Path) -> None:
    write(kb_dir, "a.md", "---\ntitle: A\nauthor: me\n---\nBody.\n")
    assert _messages(kb_dir) == ["a.md:3: warning: unknown front matter key 'author'"]


def test_questions_must_be_a_list_of_short_questions(kb_dir: Path) -> None:
    write(kb_dir, "a.md", "---\ntitle: A\nquestions: how do I?\n---\nBody.\n")
    write(kb_dir, "b.md", f"---\ntitle: B\nquestions: [ok, {'x' * 201}]\n---\nBody.\n")
    write(kb_dir, "c.md", '---\ntitle: C\nquestions: ["fine?"]\n---\nBody.\n')
    result = lint_kb(kb_dir, BASE_URL)
    assert [a.id for a in result.articles] == ["c"]
    assert [(Path(p.path).name, p.line) for p in result.problems] == [("a.md", 3), ("b.md", 3)]
    assert all("'questions' must be a list" in p.message for p in result.problems)
