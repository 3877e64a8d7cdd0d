"""Reading a customer's pick among the choices the bot just offered (no Rasa here).

A choice is offered when the gate is unsure (`bot.dialogue.answers.choose`); the `clarify_options`
slot keeps what was offered, as router labels (`article:<id>`, `intent:<flow>`). The customer
may click a button, or type "the second one", or a few words of a title ("the delivery one");
anything else is a new question, and `bot.dialogue.decision` routes it as one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.kb.router import ARTICLE, INTENT

ORDINALS = {
    "first": 0,
    "1": 0,
    "1st": 0,
    "one": 0,
    "top": 0,
    "second": 1,
    "2": 1,
    "2nd": 1,
    "two": 1,
    "middle": 1,
    "third": 2,
    "3": 2,
    "3rd": 2,
    "three": 2,
    "last": -1,
    "bottom": -1,
}
# Words around an ordinal that say nothing else ("I'll take the first one, please").
FILLER = frozenset(
    re.findall(
        r"\S+",
        """i i'll ill ll take want choose pick go with show me the a an one option options
        article link button choice please pls that this is it number no yes ok okay thanks open""",
    )
)
# Words too common to tell two titles apart.
STOPWORDS = frozenset(
    re.findall(
        r"\S+",
        """a an the i i'm im my me to do does did how what when where which who why is are was
        can could would should will of for in on at by with about from and or it its it's this
        that you your we our us one please want need get have has be if not no yes""",
    )
)
MAX_TITLE_PICK_WORDS = 6  # longer than this and it is a question of its own
# A message that opens like a question asks one ("which one costs less?"), it does not pick.
QUESTION = re.compile(
    r"^\W*(?:and\s+|but\s+|so\s+)?(?:which|what|how|when|where|why|who|can|could|do|does|"
    r"is|are|will|would|should)\b",
    re.IGNORECASE,
)


def label_of(option: str) -> str:
    """A stored option as a router label (a bare id, from before flows were offered, is an
    article)."""
    return option if option.startswith((ARTICLE, INTENT)) else ARTICLE + option


def by_ordinal(text: str, options: Sequence[str]) -> str | None:
    """The option "the second one" (or "2", "the last option") names; None if the message
    says anything more than which one."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    ordinals = [ORDINALS[w] for w in words if w in ORDINALS and w != "one"]
    rest = [w for w in words if w not in ORDINALS and w not in FILLER]
    if rest or not options:
        return None
    if not ordinals and "one" in words and len(words) <= 2:  # "option one"
        ordinals = [0]
    if len(set(ordinals)) != 1:
        return None
    index = ordinals[0]
    return options[index] if -len(options) <= index < len(options) else None


def may_name_a_title(text: str) -> bool:
    """Whether a message is short enough, and not a question, to be a title's words (checked
    before the titles are looked up)."""
    return bool(_content(text)) and not _too_long_or_a_question(text)


def _too_long_or_a_question(text: str) -> bool:
    return len(re.findall(r"\w+", text)) > MAX_TITLE_PICK_WORDS or bool(QUESTION.match(text))


def by_title(text: str, titles: dict[str, str]) -> str | None:
    """The option whose title the message repeats ("the delivery one", "track an order");
    None when it names none of them, several, or says more than a few words."""
    words = _content(text)
    if not words or _too_long_or_a_question(text):
        return None
    shared = {option: len(words & _content(title)) for option, title in titles.items()}
    best = max(shared.values(), default=0)
    winners = [o for o, n in shared.items() if n == best]
    if best == 0 or len(winners) > 1 or best * 2 < len(words):
        return None
    return winners[0]


def _content(text: str) -> set[str]:
    """The telling words of a text, cut to a stem of five letters ("deliveries" = "delivery")."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {w[:5] for w in words if w not in STOPWORDS and w not in FILLER and len(w) > 1}
