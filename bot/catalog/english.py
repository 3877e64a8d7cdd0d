"""Real English words, so typo correction leaves them alone: "back" is not a typo of "black".

The words are the whole-word tokens of the embedding model's WordPiece vocabulary (`vocab.txt`
in the model's folder, about 20,000 of them for all-MiniLM-L6-v2): nothing is downloaded, and
the list is read once per process. A model without such a file gives no words, and every word
the catalogue does not know may be corrected, as before. Also here: the misspellings of the
little words every question has ("teh", "waht"), which ask for nothing.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from string import ascii_lowercase

from bot.catalog.text import STOP, words
from bot.kb.embedder import ModelNotAvailable, resolve_model_path

logger = logging.getLogger(__name__)
VOCABULARY_FILE = "vocab.txt"
MIN_STOP_TYPO = 3  # "teh" is "the"; a two-letter string could be anything


@lru_cache(maxsize=4)
def real_words(model_name: str) -> frozenset[str]:
    """The whole words of the model's WordPiece vocabulary, as words() gives them (lowercased,
    singular); empty when the model has no vocabulary file."""
    try:
        path = Path(resolve_model_path(model_name)) / VOCABULARY_FILE
    except ModelNotAvailable:
        path = None
    if path is None or not path.is_file():
        logger.info(
            "no %s for model %r: any unknown word may be corrected", VOCABULARY_FILE, model_name
        )
        return frozenset()
    found = set()
    for token in path.read_text(encoding="utf-8").split("\n"):
        token = token.strip()
        if not token or token.startswith(("##", "[")):
            continue  # a piece of a word, or a marker ([CLS], [unused0])
        read = words(token)
        if len(read) == 1:
            found.add(read[0])
    return frozenset(found)


@lru_cache(maxsize=4)
def stop_typos(model_name: str) -> frozenset[str]:
    """The strings one typo from a little word of three letters or more ("teh", "waht",
    "yuor") that are not real words themselves ("form" is a word, not a typo of "from"); none
    when the model has no vocabulary to tell them apart."""
    return frozenset(_little_word_typos(model_name))


@lru_cache(maxsize=4)
def little_word_spellings(model_name: str) -> dict[str, str]:
    """Each typo of a little word with the word it is a typo of ("hwo": "how", "waht": "what"),
    when it is a typo of one word only ("tha" could be "the" or "that": left out)."""
    return {
        typo: next(iter(meant))
        for typo, meant in _little_word_typos(model_name).items()
        if len(meant) == 1
    }


@lru_cache(maxsize=4)
def _little_word_typos(model_name: str) -> dict[str, frozenset[str]]:
    """stop_typos, each with the little words it is one typo from."""
    real = real_words(model_name)
    if not real:
        return {}
    taken = real | STOP
    found: dict[str, set[str]] = {}
    for word in STOP:
        if len(word) < MIN_STOP_TYPO:
            continue
        for typo in _one_typo(word):
            read = words(typo)  # as a question's words are compared: "thats" is "that"
            if len(typo) >= MIN_STOP_TYPO and len(read) == 1 and read[0] not in taken:
                found.setdefault(read[0], set()).add(word)
    return {typo: frozenset(meant) for typo, meant in found.items()}


def _one_typo(word: str) -> set[str]:
    """Every string one letter dropped, added, changed or two neighbours swapped away."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in ascii_lowercase}
    out |= {a + c + b for a, b in splits for c in ascii_lowercase}
    out.discard(word)
    return out
