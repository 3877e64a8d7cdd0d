"""Whether a customer's message is a real question worth a writer's time, or noise.

The content-gap report (`bot.insights.gaps`) and the review queue call `is_real_question` before
a failed message can become "write a new article": keyboard mash ("asdfgh", "jjjjj"), fuzz and
stray symbols ("Ù𕮕÷7…"), a lone letter ("l") or a bare number are not questions anybody could
write an article for. The test is about the form of the text only, so it is cheap, needs no
model and says the same on every machine; a short real request ("refund?", "cancel order")
passes.
"""

from __future__ import annotations

import re
import unicodedata

# Letters of words (any script), apostrophes inside them kept: "don't", "l'adresse".
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
VOWELS = frozenset("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ")
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")
# How much of a message may be something other than letters, digits, spaces and the usual
# punctuation before it reads as noise rather than words.
MAX_ODD_SHARE = 0.25
MIN_LETTERS = 3  # fewer letters in the whole message than this says nothing ("l", "ok?" passes)


def is_real_question(text: str | None) -> bool:
    """True when a message reads as words a person wrote to ask something (not mash or fuzz)."""
    if not text:
        return False
    text = unicodedata.normalize("NFKC", text).strip()
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return False
    odd = sum(1 for c in visible if _odd(c))
    if odd / len(visible) > MAX_ODD_SHARE:
        return False
    words = [w.casefold() for w in WORD.findall(text)]
    letters = sum(len(w) for w in words)
    if letters < MIN_LETTERS or letters / len(visible) < 0.5:
        return False
    if not any(_latin(w) for w in words):
        # another script: judged by its share of ordinary characters alone (above)
        return len(words) >= 1
    latin = [w for w in words if _latin(w)]
    mashed = sum(len(w) for w in latin if _mashed(w))
    return mashed * 2 < sum(len(w) for w in latin)


def _odd(char: str) -> bool:
    """A character people do not type in a question: symbols, controls, unassigned code points."""
    if char.isalnum():
        category = unicodedata.category(char)
        return category in {"Lo", "Lm"} and not unicodedata.name(char, "")
    if char in "?!.,;:'’\"-–—()/&%$€£#@+*=_…":
        return False
    return unicodedata.category(char)[0] in {"S", "C"} or not unicodedata.name(char, "")


def _latin(word: str) -> bool:
    """A word written in Latin letters (the ones the mash tests below understand)."""
    return all("LATIN" in unicodedata.name(c, "") for c in word)


def _mashed(word: str) -> bool:
    """A Latin word no language has: no vowel, one letter over and over, a run along a keyboard
    row, or five consonants in a row."""
    if len(word) == 1:
        return word not in {"a", "i", "y"}  # "l", "x": a stray key
    plain = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode() or word
    if len(plain) >= 3 and not any(c in VOWELS for c in word):
        return True
    if len(set(plain)) == 1 and len(plain) >= 3:
        return True
    if len(plain) >= 4 and any(_along(plain, row) for row in KEYBOARD_ROWS):
        return True
    if re.search(r"[^aeiouy]{5,}", plain):
        return True
    return len(plain) >= 6 and _repeats(plain)


def _along(word: str, row: str) -> bool:
    """Four or more letters typed along a keyboard row ("asdf", "hjkl", "poiu")."""
    for start in range(len(word) - 3):
        piece = word[start : start + 4]
        if piece in row or piece in row[::-1]:
            return True
    return False


def _repeats(word: str) -> bool:
    """A short piece typed over and over ("asdasdasd", "lolololol")."""
    for size in (2, 3):
        piece = word[:size]
        if piece * (len(word) // size) == word[: size * (len(word) // size)]:
            return True
    return False
