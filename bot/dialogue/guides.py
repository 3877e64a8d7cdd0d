"""Walking a customer through an article's guide in the chat, one question at a time (no Rasa).

A guide is the decision tree a writer puts in an article (`bot.kb.guide`). When the bot's
answer is a section that holds one, it asks the guide's first question with one button per
choice instead of quoting the section; each click shows the next step, and a branch's end gives
its answer with the article's citation, or (a `(handoff)` end) offers a person, whose ticket
then says which guide and which choices led there.

Each button's payload names the whole step (`/guide_choice{"guide_step": "article|n|0.1"}`),
so a click is understood even after a restart or from an older message; the `guide` slot
(`Walk`) keeps where the walk is for what is typed instead: "2", a choice's words, "back",
"start over", and a plain "yes" or "no" ("yep", "nope, not there"), which picks the step's
choice whose label starts with "Yes"/"No" (the writers' convention, docs/writers.md). Anything
else is an open message again, decided as usual: a new question leaves the walk, and what is
not one ("hmm", "i don't know") asks the step again (`again`) without counting a miss.
On a channel without buttons Rasa lists them numbered, and the number typed picks the choice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from bot.dialogue import replies
from bot.dialogue.answers import article_meta, citation
from bot.dialogue.choices import by_ordinal, by_title
from bot.dialogue.plan import Button, Plan, Say
from bot.kb.guide import CHOICE, FENCE_CLOSE, Step, find_guides, parse_guide
from bot.kb.search import Hit

MAX_TRIED = 10  # as many articles as the conversation's kb_articles_tried keeps
INTENT = "guide_choice"  # the intent of a guide's buttons (data/nlu, domain.yml)
ENTITY = "guide_step"  # the step a button leads to, as `step_id` writes it
BACK = re.compile(r"^\W*(?:go\s+)?(?:back|previous|undo|the step before)\W*$", re.I)
START_OVER = re.compile(
    r"^\W*(?:start(?:ing)?\s+(?:over|again)|restart|from the (?:start|beginning)|"
    r"begin again|back to the (?:start|beginning))\W*$",
    re.I,
)
# A plain yes or no to a step's question: a leading yes/no word, then only words that say
# nothing more ("nope, not there", "yes i did"); "no, how do returns work?" is a question.
YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "yea", "y", "sure", "correct"})
NO_WORDS = frozenset({"no", "nope", "nah", "n", "not", "nothing", "isn't", "wasn't"})
SAYS_NOTHING_MORE = frozenset(
    {"it", "it's", "its", "is", "isn't", "not", "there", "here", "either", "i", "did", "didn't",
     "have", "haven't", "checked", "found", "was", "wasn't", "nothing", "already", "yet",
     "please", "thanks", "really", "in", "the", "folder", "that", "that's", "of", "course",
     "no", "nope", "yes", "yep", "sorry", "unfortunately", "afraid", "i'm"}
)  # fmt: skip


class GuideSource(Protocol):
    """Where the guides are read from: the article's sections as the index holds them."""

    def guides(self, article_id: str) -> list[tuple[Step, Hit]]:
        """The article's guides in reading order, each with the section that holds it."""
        ...


@dataclass(frozen=True)
class Walk:
    """Where a customer is in a guide, kept in the `guide` slot between turns."""

    article: str
    index: int  # which guide of the article (0 for the first)
    path: tuple[int, ...]  # the choice taken at each step so far
    labels: tuple[str, ...]  # what those choices said (for the ticket)
    question: str  # the guide's first question (for the ticket)
    turn: int  # the customer message that showed this step
    end: str | None = None  # "answer" or "handoff" once a branch has ended
    title: str = ""  # the article's title and the guide's section (for the ticket)
    section: str = ""

    @classmethod
    def from_slot(cls, value: Any) -> Walk | None:
        """Read the slot; anything malformed counts as no walk."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                article=str(value["article"]),
                index=int(value["index"]),
                path=tuple(int(i) for i in value["path"]),
                labels=tuple(str(label) for label in value["labels"]),
                question=str(value["question"]),
                turn=int(value["turn"]),
                end=value.get("end"),
                title=str(value.get("title") or ""),
                section=str(value.get("section") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def to_slot(self) -> dict[str, Any]:
        """The slot's value."""
        return {
            "article": self.article,
            "index": self.index,
            "path": list(self.path),
            "labels": list(self.labels),
            "question": self.question,
            "turn": self.turn,
            "end": self.end,
            "title": self.title,
            "section": self.section,
        }

    def for_ticket(self) -> dict[str, Any]:
        """What an agent reads about the walk: the guide (its article's title and section,
        its first question) and the choices taken."""
        return {
            "article_id": self.article,
            "title": self.title,
            "section": self.section,
            "question": self.question,
            "path": list(self.labels),
            "end": self.end,
        }


def step_id(article: str, index: int, path: Sequence[int]) -> str:
    """A step's name in a button's payload: article, guide number and the path to it."""
    return f"{article}|{index}|{'.'.join(str(i) for i in path)}"


def parse_step_id(value: str) -> tuple[str, int, tuple[int, ...]] | None:
    """The article, guide number and path a payload names (None when it is not one)."""
    parts = str(value or "").split("|")
    if len(parts) != 3:
        return None
    article, index, path = parts
    try:
        return article, int(index), tuple(int(i) for i in path.split(".") if i != "")
    except ValueError:
        return None


def guides_of(sections: Sequence[Hit]) -> list[tuple[Step, Hit]]:
    """The well-formed guides in an article's sections (in reading order), each with the
    section it starts in; a guide split over two chunks is read whole."""
    lines: list[str] = []
    owners: list[Hit] = []
    for hit in sections:
        for line in hit.text.split("\n"):
            lines.append(line)
            owners.append(hit)
    found = []
    for start, _close, block in find_guides("\n".join(lines)):
        root, problems = parse_guide(block, 1, "")
        if root is not None and root.choices and not problems:
            found.append((root, owners[start]))
    return found


def guide_in(hit: Hit, guides: Sequence[tuple[Step, Hit]]) -> tuple[int, Step, Hit] | None:
    """The guide an answering section holds (its number in the article's `guides`), if any."""
    for index, (root, section) in enumerate(guides):
        if section.chunk_id == hit.chunk_id or section.anchor == hit.anchor:
            return index, root, section
    return None


def start(
    hit: Hit,
    source: GuideSource,
    intent: str | None,
    turn: int,
    slots: dict[str, Any],
    tried: Sequence[dict[str, Any]] = (),
) -> Plan | None:
    """The guide's first question, when the section answering the customer holds a guide.
    Its article counts as offered (`kb_articles_tried`, `last_article`): the ticket of a
    walk that ends with a person says the bot tried it."""
    if "```" not in hit.text:
        return None
    guides = source.guides(hit.id)  # read once: the guide and its lead-in come from it
    found = guide_in(hit, guides)
    if found is None:
        return None
    index, root, section = found
    walk = Walk(hit.id, index, (), (), root.shown, turn, None, *_names(section))
    offered = list(slots.get("kb_articles_tried") or tried)
    if all(t.get("id") != hit.id for t in offered):
        offered.append(
            {"id": hit.id, "title": hit.title, "url": hit.link, "score": round(hit.score, 4)}
        )
    slots = {**slots, "kb_articles_tried": offered[-MAX_TRIED:], "last_article": hit.id}
    return _show(walk, root, section, intent, slots, first=True, lead=lead_in(guides, index))


def _names(section: Hit) -> tuple[str, str]:
    """The article's title and the guide's section, as the ticket names the guide."""
    return section.title, section.section if section.section != section.title else ""


def take(
    article: str,
    index: int,
    path: Sequence[int],
    source: GuideSource,
    intent: str | None,
    turn: int,
    slots: dict[str, Any] | None = None,
) -> Plan:
    """The step a click (or a typed pick) leads to; a guide changed or gone since says so."""
    guides = source.guides(article)
    if not 0 <= index < len(guides):
        return _gone(intent)
    root, section = guides[index]
    step, labels = root, []
    for choice in path:
        if not 0 <= choice < len(step.choices):
            return _gone(intent)
        label, step = step.choices[choice]
        labels.append(label)
    walk = Walk(
        article, index, tuple(path), tuple(labels), root.shown, turn, None, *_names(section)
    )
    lead = "" if path else lead_in(guides, index)
    return _show(walk, step, section, intent, slots or {}, first=not path, lead=lead)


def lead_in(guides: Sequence[tuple[Step, Hit]], index: int) -> str:
    """The writer's words just before a guide in its section ("Most reset emails arrive within
    2 minutes. If yours has not, these questions find out why:"), shown above its first
    question; headings and an earlier guide's lines are left out."""
    if not 0 <= index < len(guides):
        return ""
    section = guides[index][1]
    before = sum(1 for _, other in guides[:index] if other.chunk_id == section.chunk_id)
    spans = find_guides(section.text)
    if before >= len(spans):
        return ""
    lines = section.text.split("\n")
    opened = spans[before][0]
    begin = spans[before - 1][1] + 1 if before else 0
    closed = next((i for i in range(begin, opened) if FENCE_CLOSE.match(lines[i])), None)
    if (
        not before
        and closed is not None
        and all(CHOICE.match(line) or not line.strip() for line in lines[begin:closed])
    ):
        begin = closed + 1  # the chunk starts inside a guide split from the one before
    prose = [line for line in lines[begin:opened] if not line.lstrip().startswith("#")]
    return "\n".join(prose).strip()


def again(walk: Walk, source: GuideSource, intent: str | None, turn: int) -> Plan | None:
    """The step the customer is at, asked again after a reply that is neither one of its
    choices nor a new question ("hmm"); None when the walk has ended or is long past."""
    if walk.end is not None or walk.turn < turn - 2:
        return None
    plan = take(walk.article, walk.index, walk.path, source, intent, turn)
    if plan.outcome != "guide" or not plan.says:
        return None
    first = plan.says[0]
    said = replace(first, text=f"{replies.GUIDE_NOT_CAUGHT}\n\n{first.text}")
    return replace(plan, says=(said, *plan.says[1:]))


def clicked(value: str, source: GuideSource, intent: str | None, turn: int) -> Plan:
    """A guide button's step (`guide_step` entity): the step it names."""
    named = parse_step_id(value)
    if named is None:
        return _gone(intent)
    return take(*named, source, intent, turn)


def typed(text: str, walk: Walk, source: GuideSource, intent: str | None, turn: int) -> Plan | None:
    """What a typed message does to the walk: a choice ("2", "the second one", its words),
    "back" or "start over"; None when it is something else (the walk ends, the message is
    decided as an open one)."""
    if walk.turn < turn - 2 or text.startswith("/"):
        # a walk left a while ago, or another button (a guide's own are clicks, not typed)
        return None
    if START_OVER.match(text):
        return take(walk.article, walk.index, (), source, intent, turn)
    if BACK.match(text):
        return take(walk.article, walk.index, walk.path[:-1], source, intent, turn)
    if walk.end is not None:
        return None
    guides = source.guides(walk.article)
    if not 0 <= walk.index < len(guides):
        return None
    step = guides[walk.index][0]
    for choice in walk.path:
        if not 0 <= choice < len(step.choices):
            return None
        step = step.choices[choice][1]
    labels = [str(n) for n in range(len(step.choices))]
    picked = by_ordinal(text, labels) or _by_label(text, step) or _by_yes_or_no(text, step)
    if picked is None:
        return None
    return take(walk.article, walk.index, (*walk.path, int(picked)), source, intent, turn)


def _by_label(text: str, step: Step) -> str | None:
    """The choice whose words the message repeats ("no", "found it there")."""
    said = _normal(text)
    exact = [str(n) for n, (label, _) in enumerate(step.choices) if _normal(label) == said]
    if exact:
        return exact[0]
    starts = [
        str(n) for n, (label, _) in enumerate(step.choices) if _normal(label).startswith(said)
    ]
    if said and len(starts) == 1:
        return starts[0]
    return by_title(text, {str(n): label for n, (label, _) in enumerate(step.choices)})


def _by_yes_or_no(text: str, step: Step) -> str | None:
    """A plain yes or no: the one choice whose label starts with "Yes" or "No"."""
    words = _normal(text).split()
    if not words or not all(w in SAYS_NOTHING_MORE | YES_WORDS | NO_WORDS for w in words):
        return None
    if words[0] in YES_WORDS:
        said = "yes"
    elif any(w in NO_WORDS for w in words):
        said = "no"  # "not there", "it's not there", "i'm not sure"
    else:
        return None
    fits = [
        str(n) for n, (label, _) in enumerate(step.choices) if _normal(label).split()[:1] == [said]
    ]
    return fits[0] if len(fits) == 1 else None


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _show(
    walk: Walk,
    step: Step,
    section: Hit,
    intent: str | None,
    slots: dict[str, Any],
    first: bool = False,
    lead: str = "",
) -> Plan:
    """One step as a message: a question with its choices, an answer, or the offer of a person."""
    payload = _payload(walk.article, walk.index)
    moves = []
    if walk.path and (step.choices or len(walk.path) > 1):
        moves.append(Button(replies.GUIDE_BACK, payload(walk.path[:-1])))
    if len(walk.path) > 1 or (walk.path and not step.choices):
        moves.append(Button(replies.GUIDE_START_OVER, payload(())))
    info = {
        "article": walk.article,
        "question": walk.question,
        "path": list(walk.labels),
        "step": "question" if step.choices else ("handoff" if step.handoff else "answer"),
    }
    cite = article_meta(section)
    # no `route` here: the rule that ran this action may end on the route it set
    common = {"clarify_options": None, "handoff_offer_reason": None}
    if step.choices:
        choices = tuple(
            Button(label, payload((*walk.path, n))) for n, (label, _) in enumerate(step.choices)
        )
        asked = f"{lead}\n\n{step.shown}" if lead else step.shown
        text = f"{asked}\n\n{citation(section)}" if first else asked
        said = Say(
            text,
            buttons=(*choices, *moves),
            meta=replies.meta(
                "article", intent, walk.article, section.score, citation=cite, guide=info
            ),
        )
        return Plan("guide", (said,), {**slots, **common, "guide": walk.to_slot()})
    text = f"{step.shown}\n\n{citation(section)}"
    if step.handoff:
        ended = replace(walk, end="handoff")
        said = Say(
            text,
            buttons=(replies.TALK_TO_A_PERSON, *moves),
            meta=replies.meta(
                "handoff_offer",
                intent,
                walk.article,
                reason="flow_failure",
                citation=cite,
                guide=info,
            ),
        )
        offer = {"handoff_offer_reason": "flow_failure"}
        return Plan("guide", (said,), {**slots, **common, **offer, "guide": ended.to_slot()})
    ended = replace(walk, end="answer")
    said = Say(
        text,
        buttons=moves,
        meta=replies.meta(
            "article",
            intent,
            walk.article,
            section.score,
            citation=cite,
            guide=info,
            feedback=True,
        ),
    )
    answered = {"last_article": walk.article, "unresolved_turns": 0.0}
    return Plan("guide", (said,), {**slots, **common, **answered, "guide": ended.to_slot()})


def button_payload(article: str, index: int, path: Sequence[int]) -> str:
    """The payload of a button leading to a step of a guide."""
    return f"/{INTENT}{json.dumps({ENTITY: step_id(article, index, path)})}"


def _payload(article: str, index: int) -> Callable[[Sequence[int]], str]:
    """The payloads of the buttons leading to the steps of this guide."""
    return lambda path: button_payload(article, index, path)


def _gone(intent: str | None) -> Plan:
    """A button of a guide that has changed or is gone: say so, and listen."""
    said = Say(replies.GUIDE_GONE, meta=replies.meta("fallback", intent, reason="guide_changed"))
    return Plan("cant_answer", (said,), {"guide": None})
