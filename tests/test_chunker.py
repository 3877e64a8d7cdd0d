"""Chunker: one chunk per section, long sections split with overlap, tiny ones merged."""

from __future__ import annotations

from pathlib import Path

from bot.kb.chunker import (
    ChunkConfig,
    chunk_article,
    chunk_id,
    ends_in_promise,
    estimate_tokens,
    is_promise,
    plain_text,
)
from bot.kb.lint import lint_kb
from bot.kb.loader import parse_article
from tests.conftest import BASE_URL, write


def _chunks(kb_dir: Path, body: str, config: ChunkConfig | None = None, title: str = "Returns"):
    path = write(kb_dir, "returns.md", f"---\ntitle: {title}\ntags: [secret-tag]\n---\n" + body)
    article, problems = parse_article(path, kb_dir, BASE_URL)
    assert article is not None, problems
    chunks = chunk_article(article, config or ChunkConfig())
    return [c for c in chunks if c.kind == "section"], chunks


def _paragraph(n: int, word: str = "refund") -> str:
    return " ".join(f"Sentence {i} explains the {word} rules in plain words." for i in range(n))


def test_one_chunk_per_section_with_title_and_heading_path_in_front(kb_dir: Path) -> None:
    text = _paragraph(4)
    body = f"{text}\n\n## Start a return\n\n{text}\n\n### Labels\n\n{text}\n"
    sections, _ = _chunks(kb_dir, body)
    assert [(c.section, c.anchor) for c in sections] == [
        ("Returns", ""),
        ("Start a return", "start-a-return"),
        ("Labels", "labels"),
    ]
    assert sections[2].embed_text.startswith("Returns > Start a return > Labels\n")
    assert sections[0].embed_text.startswith("Returns\n")


def test_front_matter_and_comments_are_never_embedded(kb_dir: Path) -> None:
    body = f"<!-- internal: do not publish -->\n{_paragraph(4)}\n"
    _, chunks = _chunks(kb_dir, body)
    for chunk in chunks:
        assert "secret-tag" not in chunk.embed_text and "tags:" not in chunk.embed_text
        assert "do not publish" not in chunk.embed_text and "do not publish" not in chunk.text


def test_long_sections_split_within_the_budget_with_overlap(kb_dir: Path) -> None:
    config = ChunkConfig(max_tokens=80, overlap_tokens=16, min_tokens=5)
    body = "## Long\n\n" + "\n\n".join(_paragraph(3, f"topic{i}") for i in range(6)) + "\n"
    sections, _ = _chunks(kb_dir, body, config)
    assert len(sections) > 2
    assert {c.anchor for c in sections} == {"long"}
    for chunk in sections:
        assert estimate_tokens(chunk.embed_text) + 2 <= 80
    for first, second in zip(sections, sections[1:], strict=False):
        last_sentence = first.text.split(". ")[-1]
        assert last_sentence in second.text  # the small overlap carries context forward


def test_a_single_long_paragraph_splits_at_sentences(kb_dir: Path) -> None:
    config = ChunkConfig(max_tokens=60, overlap_tokens=0, min_tokens=5)
    sections, _ = _chunks(kb_dir, "## Long\n\n" + _paragraph(10) + "\n", config)
    assert len(sections) > 1
    for chunk in sections:
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")


def test_lists_and_tables_stay_whole_when_they_fit(kb_dir: Path) -> None:
    steps = "\n".join(f"{i}. Step {i} of the process." for i in range(1, 6))
    table = "| Option | Price |\n|---|---|\n| Standard | $4.95 |\n| Express | $12.95 |"
    config = ChunkConfig(max_tokens=90, overlap_tokens=0, min_tokens=5)
    body = f"## Steps\n\n{_paragraph(3)}\n\n{steps}\n\n{table}\n"
    sections, _ = _chunks(kb_dir, body, config)
    assert any(steps in c.text for c in sections)
    assert any(table in c.text for c in sections)


def test_an_oversized_table_splits_by_rows_and_repeats_its_header(kb_dir: Path) -> None:
    rows = "\n".join(
        f"| Option {i} | Delivered in {i} business days for a fee |" for i in range(30)
    )
    table = "| Option | Details |\n|---|---|\n" + rows
    config = ChunkConfig(max_tokens=80, overlap_tokens=0, min_tokens=5)
    sections, _ = _chunks(kb_dir, f"## Prices\n\n{table}\n", config)
    assert len(sections) > 1
    assert all(c.text.startswith("| Option | Details |\n|---|---|") for c in sections)


def test_tiny_sections_merge_with_their_neighbour(kb_dir: Path) -> None:
    text = _paragraph(5)
    body = f"Short intro.\n\n## Main\n\n{text}\n\n### Note\n\nSee above.\n\n## Other\n\n{text}\n"
    sections, _ = _chunks(kb_dir, body, ChunkConfig(min_tokens=20))
    assert [c.section for c in sections] == ["Main", "Other"]
    assert sections[0].text.startswith("Short intro.")  # the intro leads into the first section
    assert "### Note\n\nSee above." in sections[0].text  # the tiny H3 joins its parent


def test_chunk_ids_are_stable_and_include_a_title_vector(kb_dir: Path) -> None:
    body = f"{_paragraph(3)}\n\n## A\n\n{_paragraph(3)}\n"
    sections, chunks = _chunks(kb_dir, body)
    again = _chunks(kb_dir, body)[1]
    assert [c.id for c in chunks] == [c.id for c in again]
    assert chunks[0].id == chunk_id("returns", 0) and chunks[0].id > 0
    title = chunks[-1]
    assert title.kind == "title" and title.embed_text == "Returns"
    assert title.text == sections[0].text  # a title hit shows the lead section


def test_plain_text_drops_markdown_noise() -> None:
    text = "**Bold** and [a link](https://x.test/a) and `code`.\n\n| A | B |\n|---|---|\n| 1 | 2 |"
    assert plain_text(text) == "Bold and a link and code.\n\nA: B\n\n1: 2"


def test_each_other_phrasing_of_the_question_gets_its_own_title_vector(kb_dir: Path) -> None:
    path = write(
        kb_dir,
        "returns.md",
        '---\ntitle: Returns\nquestions: ["can I send it back?", "Returns", "money back?"]\n---\n'
        + _paragraph(2),
    )
    article, problems = parse_article(path, kb_dir, BASE_URL)
    assert article is not None and problems == []
    titles = [c for c in chunk_article(article, ChunkConfig()) if c.kind == "title"]
    assert [c.embed_text for c in titles] == ["Returns", "can I send it back?", "money back?"]
    assert len({c.id for c in titles}) == 3 and all(c.anchor == "" for c in titles)


def test_an_introduction_that_only_announces_leads_into_the_first_section(kb_dir: Path) -> None:
    lead = "If your payment failed or you see a charge you do not know, these steps solve it."
    steps = "- Check the card number and the billing address.\n- Try another payment method."
    body = f"{lead}\n\n## Declined\n\n{steps}\n\n## Charged twice\n\n{_paragraph(2)}\n"
    sections, _ = _chunks(kb_dir, body, ChunkConfig(min_tokens=5))
    assert [c.section for c in sections] == ["Declined", "Charged twice"]
    assert sections[0].text == f"{lead}\n\n{steps}"  # no chunk is the announcement alone
    assert sections[0].anchor == "declined"


def test_a_lead_in_stays_with_its_list_when_a_section_splits(kb_dir: Path) -> None:
    config = ChunkConfig(max_tokens=90, overlap_tokens=0, min_tokens=5)
    steps = "\n".join(f"{i}. Step {i} of the process." for i in range(1, 6))
    body = f"## Steps\n\n{_paragraph(6)}\n\nTo return an item:\n\n{steps}\n"
    sections, _ = _chunks(kb_dir, body, config)
    assert len(sections) > 1
    assert any(c.text.startswith(f"To return an item:\n\n{steps}") for c in sections)
    assert not any(ends_in_promise(c.text) for c in sections)


def test_a_section_that_announces_its_sub_sections_leads_into_them(kb_dir: Path) -> None:
    body = (
        f"{_paragraph(3)}\n\n## Statuses\n\nHere is what each one means.\n\n"
        f"### Processing\n\nWe are packing it.\n\n### Shipped\n\n{_paragraph(3)}\n"
    )
    sections, _ = _chunks(kb_dir, body, ChunkConfig(min_tokens=5))
    statuses = next(c for c in sections if c.section == "Statuses")
    assert statuses.text == "Here is what each one means.\n\n### Processing\n\nWe are packing it."
    assert not any(ends_in_promise(c.text) for c in sections)


def test_an_h1_opening_is_the_article_itself(kb_dir: Path) -> None:
    body = f"# Returns\n\n{_paragraph(3)}\n\n## Start a return\n\n{_paragraph(3)}\n"
    sections, chunks = _chunks(kb_dir, body)
    assert [(c.section, c.anchor) for c in sections] == [
        ("Returns", ""),
        ("Start a return", "start-a-return"),
    ]
    assert all(c.anchor == "" for c in chunks if c.kind == "title")


def test_announcements_are_told_apart_from_statements() -> None:
    for sentence in [
        "Here is how checkout works.",
        "We cannot take back:",
        "If your payment was declined, these steps solve most problems.",
        "This page explains when you get a refund.",
        "Do it as follows.",
    ]:
        assert is_promise(sentence), sentence
    for sentence in [
        "If these steps don't help, contact us.",
        "Returns are free below $50.",
        "Newsletter subscribers get a code: see the newsletter page.",
        "We refund the delivery cost too.",
    ]:
        assert not is_promise(sentence), sentence


def test_lint_warns_about_an_announcement_with_nothing_after_it(kb_dir: Path) -> None:
    write(
        kb_dir,
        "pay.md",
        "---\ntitle: Pay\n---\nHere is how to pay.\n\n## Cards\n\nWe take cards.\n\n"
        "## Wallets\n\nWe take wallets. Follow these steps:\n",
    )
    problems = [str(p).split("kb/", 1)[-1] for p in lint_kb(kb_dir, BASE_URL).problems]
    assert problems == [
        "pay.md:10: warning: section 'Wallets' ends on 'Follow these steps:' but nothing "
        "follows it: add what it announces or end it with a statement"
    ]
