"""Cut articles into embedding-sized chunks along headings, paragraphs and sentences."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.kb.loader import Article, Section

TokenCounter = Callable[[str], int]

# Bump when chunking or embed-text logic changes: indexes built by older logic re-embed fully.
CHUNKER_VERSION = 6
SPECIAL_TOKENS = 2  # [CLS] and [SEP] count against the model's window
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*_`])")
FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s+.*)?$")
# A sentence that announces what comes next ("Here is how...", "these steps solve most
# problems.", "We cannot take back:"): a reply must not end on one, and a chunk keeps it with
# what it announces.
PROMISE = re.compile(
    r":\s*$"
    r"|^(?:here(?:'s|\s+is|\s+are)|below|the following|as follows)\b"
    r"|\b(?:as follows|the following|read on|see below)\b"
    r"|\b(?:listed|shown|described|explained|set out|steps|options) below\b"
    r"|\b(?:follow|try|use|take) these\b"
    r"|\bthis (?:page|article|section|guide) (?:explains|answers|covers|describes|lists|shows"
    r"|tells|walks|sets out)\b",
    re.IGNORECASE,
)
FORWARD_THESE = re.compile(r"\bthese (?:steps|tips|checks|instructions)\b", re.IGNORECASE)
# "If these steps don't help..." looks back at steps already given; it promises nothing.
BACKWARD_THESE = re.compile(
    r"\b(?:if|none of|all of|after|tried|still|when)\b[^,;]*\bthese\b", re.IGNORECASE
)


def sentences(text: str) -> list[str]:
    """A paragraph's sentences, split where one ends and a capitalised one starts."""
    return [s for s in SENTENCE_END.split(text.replace("\n", " ").strip()) if s.strip()]


def is_promise(sentence: str) -> bool:
    """True when a sentence announces what follows ("Here is how...", "...these steps:")."""
    flat = plain_text(sentence).strip()
    if not flat:
        return False
    if PROMISE.search(flat):
        return True
    return bool(FORWARD_THESE.search(flat)) and not BACKWARD_THESE.search(flat)


def ends_in_promise(markdown_text: str) -> bool:
    """True when a piece of Markdown ends on a paragraph whose last sentence promises more."""
    found = blocks(markdown_text)
    if not found:
        return False
    kind, last = found[-1]
    if kind != "para":
        return False
    if HEADING.match(last.split("\n")[-1]):
        return True  # a heading with nothing under it announces what is not there
    said = sentences(last)
    return bool(said) and is_promise(said[-1])


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate of WordPiece tokens, for tests and tools without the model."""
    total = 0
    for piece in re.findall(r"\w+|[^\w\s]", text):
        total += 1 + (len(piece) - 1) // 8 if piece[0].isalnum() or piece[0] == "_" else 1
    return total


@dataclass(frozen=True)
class ChunkConfig:
    """How articles are cut: the model's token window, the overlap and the merge threshold."""

    max_tokens: int = 256
    overlap_tokens: int = 32
    min_tokens: int = 20


@dataclass(frozen=True)
class Chunk:
    """A piece of one article section, with the text to embed and the text to show."""

    id: int
    article_id: str
    ordinal: int
    section: str
    anchor: str
    heading_path: tuple[str, ...]
    text: str
    embed_text: str
    kind: str = "section"


def chunk_id(article_id: str, ordinal: int) -> int:
    """Stable positive int64 id of a chunk: the same article and position give the same id."""
    digest = hashlib.blake2b(f"{article_id}\0{ordinal}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def plain_text(markdown_text: str) -> str:
    """Markdown reduced to the words worth embedding: no link targets, emphasis or fences."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", markdown_text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s{0,3}(```+|~~~+).*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\s{0,3}#{1,6}\s+", "", text, flags=re.MULTILINE)
    text = re.sub(
        r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$", "", text, flags=re.MULTILINE
    )
    text = re.sub(r"^[ \t]*\|(.*?)\|?[ \t]*$", _table_row, text, flags=re.MULTILINE)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{3,}", "\n\n", text)).strip()


def _table_row(match: re.Match) -> str:
    """Read a table row as a sentence: '| Shipped | It left |' becomes 'Shipped: It left'."""
    cells = [c.strip() for c in match.group(1).split("|") if c.strip()]
    return ": ".join(cells[:1] + ["; ".join(cells[1:])]) if len(cells) > 1 else "".join(cells)


@dataclass
class _Unit:
    """An indivisible piece of text and how it joins the piece before it."""

    text: str
    joiner: str
    tokens: int
    kind: str = "para"


@dataclass
class _Draft:
    section: Section
    text: str
    tokens: int
    extra_sections: int = 0


def chunk_article(
    article: Article,
    config: ChunkConfig | None = None,
    count_tokens: TokenCounter = estimate_tokens,
) -> list[Chunk]:
    """Chunk one article: one chunk per H2/H3 section, long ones split, tiny ones merged."""
    config = config or ChunkConfig()
    drafts: list[_Draft] = []
    for section in article.sections:
        if not section.text.strip():
            continue
        budget = config.max_tokens - SPECIAL_TOKENS - count_tokens(_prefix(article, section))
        budget = max(budget, 16)
        units = _units(section.text, budget, count_tokens)
        for text in _pack(units, budget, config.overlap_tokens, count_tokens):
            drafts.append(_Draft(section, text, count_tokens(plain_text(text))))
    drafts = _merge_tiny(drafts, article, config, count_tokens)
    chunks = []
    for ordinal, draft in enumerate(drafts):
        section = draft.section
        chunks.append(
            Chunk(
                id=chunk_id(article.id, ordinal),
                article_id=article.id,
                ordinal=ordinal,
                section=section.title,
                anchor=section.anchor,
                heading_path=section.path,
                text=draft.text,
                embed_text=_prefix(article, section) + "\n" + plain_text(draft.text),
            )
        )
    # A section is found by what it says and by what it is called: its heading, read in its
    # article ("Promo codes > Forgot to use a code?"), is embedded on its own, so a section
    # whose text is a long list of steps is still found by the question its heading names.
    # The first chunk is also named by the article's title alone. These chunks choose a
    # section within an article; they do not rank articles.
    named: list[tuple[Chunk, tuple[str, ...]]] = [(chunks[0], ())] if chunks else []
    for chunk in chunks:
        if chunk.heading_path and all(chunk.anchor != c.anchor or p == () for c, p in named):
            named.append((chunk, chunk.heading_path))
    for chunk, heading_path in named:
        chunks.append(
            Chunk(
                id=chunk_id(article.id, len(chunks)),
                article_id=article.id,
                ordinal=len(chunks),
                section=chunk.section,
                anchor=chunk.anchor,
                heading_path=heading_path,
                text=chunk.text,
                embed_text=" > ".join((article.title, *heading_path)),
                kind="heading",
            )
        )
    if chunks:
        # Articles are titled as the customer's question, so the title alone (and each other
        # phrasing the writer listed under `questions`) is a strong match for a paraphrased
        # question; a hit on one shows the article's lead section.
        lead = chunks[0]
        for question in dict.fromkeys([article.title, *article.questions]):
            chunks.append(
                Chunk(
                    id=chunk_id(article.id, len(chunks)),
                    article_id=article.id,
                    ordinal=len(chunks),
                    section=lead.section,
                    anchor=lead.anchor,
                    heading_path=lead.heading_path,
                    text=lead.text,
                    embed_text=question,
                    kind="title",
                )
            )
    return chunks


def _prefix(article: Article, section: Section) -> str:
    """Title and heading path, put in front of a chunk's text before it is embedded."""
    return " > ".join((article.title, *section.path))


def blocks(text: str) -> list[tuple[str, str]]:
    """Split Markdown into (kind, text) blocks ('para', 'list', 'table', 'code'); lists, tables
    and code stay together."""
    blocks: list[tuple[str, list[str]]] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if FENCE.match(line):
            end = i + 1
            while end < len(lines) and not FENCE.match(lines[end]):
                end += 1
            blocks.append(("code", lines[i : end + 1]))
            i = end + 1
            continue
        kind = (
            "list"
            if LIST_ITEM.match(line)
            else "table"
            if line.lstrip().startswith("|")
            else "para"
        )
        block = [line]
        i += 1
        while i < len(lines):
            nxt = lines[i]
            if not nxt.strip():
                # a blank line inside a list continues it when an item or indented text follows
                after = next((x for x in lines[i + 1 :] if x.strip()), "")
                if kind == "list" and (LIST_ITEM.match(after) or after.startswith(("  ", "\t"))):
                    block.append(nxt)
                    i += 1
                    continue
                break
            if FENCE.match(nxt):
                break
            if kind == "para" and (LIST_ITEM.match(nxt) or nxt.lstrip().startswith("|")):
                break
            block.append(nxt)
            i += 1
        blocks.append((kind, block))
    return [(kind, "\n".join(block).strip("\n")) for kind, block in blocks]


def _units(text: str, budget: int, count_tokens: TokenCounter) -> list[_Unit]:
    """Blocks that fit the budget stay whole; larger ones split into items or sentences."""
    units: list[_Unit] = []
    for kind, block in _lead_ins_joined(blocks(text), budget, count_tokens):
        tokens = count_tokens(plain_text(block))
        if tokens <= budget:
            units.append(_Unit(block, "\n\n", tokens, kind))
            continue
        pieces = _split_block(kind, block)
        for n, piece in enumerate(pieces):
            joiner = "\n\n" if n == 0 else (" " if kind == "para" else "\n")
            for m, part in enumerate(_split_words(piece, budget, count_tokens)):
                units.append(
                    _Unit(part, joiner if m == 0 else " ", count_tokens(plain_text(part)), kind)
                )
    return units


def _lead_ins_joined(
    found: list[tuple[str, str]], budget: int, count_tokens: TokenCounter
) -> list[tuple[str, str]]:
    """A paragraph that announces a list, table or code ("Do this:") joins it in one block,
    when the two fit the budget, so no chunk ends on the announcement."""
    out: list[tuple[str, str]] = []
    for kind, block in found:
        if (
            out
            and kind != "para"
            and out[-1][0] == "para"
            and ends_in_promise(out[-1][1])
            and count_tokens(plain_text(out[-1][1] + "\n\n" + block)) <= budget
        ):
            out[-1] = (kind, out[-1][1] + "\n\n" + block)
            continue
        out.append((kind, block))
    return out


def _split_block(kind: str, block: str) -> list[str]:
    lines = block.split("\n")
    if kind == "list":
        items: list[list[str]] = []
        for line in lines:
            if LIST_ITEM.match(line) or not items:
                items.append([line])
            else:
                items[-1].append(line)
        return ["\n".join(item) for item in items]
    if kind == "table":
        header = lines[:2] if len(lines) > 2 else []
        rows = lines[len(header) :]
        return ["\n".join([*header, row]) for row in rows] if header else rows
    if kind == "code":
        return lines
    return [s for s in SENTENCE_END.split(block.replace("\n", " ")) if s.strip()]


def _split_words(text: str, budget: int, count_tokens: TokenCounter) -> list[str]:
    """Last resort for a single sentence longer than the budget: cut between words."""
    if count_tokens(plain_text(text)) <= budget:
        return [text]
    parts, current = [], []
    for word in text.split(" "):
        if current and count_tokens(plain_text(" ".join([*current, word]))) > budget:
            parts.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        parts.append(" ".join(current))
    return parts


def _pack(units: list[_Unit], budget: int, overlap: int, count_tokens: TokenCounter) -> list[str]:
    """Greedily fill chunks with units; a new chunk repeats the last small units as overlap."""
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    used = 0
    for unit in units:
        if current and used + unit.tokens > budget:
            chunks.append(current)
            carried = _overlap(current, overlap, count_tokens)
            carried_tokens = sum(u.tokens for u in carried)
            if carried_tokens + unit.tokens > budget:
                carried, carried_tokens = [], 0
            current, used = carried, carried_tokens
        current.append(unit)
        used += unit.tokens
    if current:
        chunks.append(current)
    return [_join(chunk) for chunk in chunks]


def _overlap(previous: list[_Unit], overlap: int, count_tokens: TokenCounter) -> list[_Unit]:
    """The trailing sentences of the previous chunk, up to `overlap` tokens, to repeat."""
    last = previous[-1]
    if last.kind != "para" or overlap <= 0:
        return []
    sentences = [s for s in SENTENCE_END.split(last.text.replace("\n", " ")) if s.strip()]
    kept: list[str] = []
    for sentence in reversed(sentences):
        candidate = " ".join([sentence, *kept])
        if count_tokens(plain_text(candidate)) > overlap:
            break
        kept.insert(0, sentence)
    if not kept:
        return []
    text = " ".join(kept)
    return [_Unit(text, "\n\n", count_tokens(plain_text(text)), "para")]


def _join(units: list[_Unit]) -> str:
    text = units[0].text
    for unit in units[1:]:
        text += unit.joiner + unit.text
    return text


def _merge_tiny(
    drafts: list[_Draft], article: Article, config: ChunkConfig, count_tokens: TokenCounter
) -> list[_Draft]:
    """A section under min_tokens joins its neighbour when the two fit in one chunk; an
    introduction that is tiny, or that only announces what follows, leads into the next one."""
    merged: list[_Draft] = []
    pending: _Draft | None = None  # a draft that leads into the next one
    for n, draft in enumerate(drafts):
        whole_section = sum(d.section is draft.section for d in drafts) == 1
        tiny = whole_section and draft.tokens < config.min_tokens
        if pending is not None:
            lead, pending = pending, None
            if _fits(lead, draft, article, config, count_tokens):
                if lead.section.level == 1 or draft.section is lead.section:
                    # the article's introduction reads as the start of its first section
                    keep_second = lead.section.level == 1 and draft.section is not lead.section
                    merged.append(_combine(lead, draft, keep_second=keep_second))
                else:  # "## Statuses / Here is what each means:" followed by its sub-sections
                    merged.append(_combine(lead, _with_heading(draft), keep_second=False))
                continue
            merged.append(lead)
        last = n == len(drafts) - 1
        if not last and ((tiny and draft.section.level == 1) or ends_in_promise(draft.text)):
            pending = draft
            continue
        if (
            tiny
            and merged
            and draft.section.level > 1
            and _fits(merged[-1], draft, article, config, count_tokens)
        ):
            merged[-1] = _combine(merged[-1], _with_heading(draft), keep_second=False)
            continue
        merged.append(draft)
    return merged


def _fits(
    first: _Draft, second: _Draft, article: Article, config: ChunkConfig, count_tokens: TokenCounter
) -> bool:
    budget = config.max_tokens - SPECIAL_TOKENS - count_tokens(_prefix(article, first.section))
    return first.tokens + second.tokens + 4 <= budget


def _with_heading(draft: _Draft) -> _Draft:
    marks = "#" * max(draft.section.level, 2)
    return _Draft(draft.section, f"{marks} {draft.section.title}\n\n{draft.text}", draft.tokens + 4)


def _combine(first: _Draft, second: _Draft, keep_second: bool) -> _Draft:
    section = second.section if keep_second else first.section
    return _Draft(section, first.text + "\n\n" + second.text, first.tokens + second.tokens, 1)
