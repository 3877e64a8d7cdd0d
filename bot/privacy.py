"""Mask secrets customers type (card numbers, passwords) before any transcript is stored."""

from __future__ import annotations

import re

CARD_CANDIDATE = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
PASSWORD_PHRASE = re.compile(
    r"(?P<lead>\b(?:my\s+)?(?:new\s+|old\s+)?(?:password|passcode|passwd|pwd|pin)\b"
    r"(?:\s+(?:is|was|=|:)|\s*[:=])\s*)(?P<secret>[\"']?\S+[\"']?)",
    re.IGNORECASE,
)
CVV_PHRASE = re.compile(
    r"(?P<lead>\b(?:cvv|cvc|security code)\b(?:\s+(?:is|was)|\s*[:=])?\s*)(?P<secret>\d{3,4})\b",
    re.IGNORECASE,
)
MASK = "[redacted]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _mask_card(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return f"[card ending {digits[-4:]}]"
    return match.group(0)


def mask_secrets(text: str) -> str:
    """Replace card numbers (Luhn-valid), passwords and security codes with a mask."""
    text = CARD_CANDIDATE.sub(_mask_card, text)
    text = PASSWORD_PHRASE.sub(lambda m: m.group("lead") + MASK, text)
    return CVV_PHRASE.sub(lambda m: m.group("lead") + MASK, text)


def looks_secret(text: str) -> bool:
    """True when the text contains something mask_secrets would hide."""
    return mask_secrets(text) != text
