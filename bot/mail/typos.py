"""Obvious typos in the domain of an email address a customer types ("gmial.com", "yahoo.con").

suggest() proposes the well-known domain one or two keystrokes away (or the right ending for a
mistyped .com, .net, .org); it never guesses for a domain it does not know well, so a real
company's own domain is never "corrected".
"""

from __future__ import annotations

COMMON = (
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "hotmail.com", "hotmail.co.uk",
    "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com",
    "proton.me", "protonmail.com", "gmx.com", "gmx.de", "web.de", "mail.com", "comcast.net",
    "verizon.net", "att.net", "sbcglobal.net", "yandex.ru", "mail.ru", "qq.com", "orange.fr",
    "free.fr", "btinternet.com", "example.com",
)  # fmt: skip
ENDINGS = {
    "con": "com", "cmo": "com", "ocm": "com", "comm": "com", "om": "com", "vom": "com",
    "xom": "com", "co,": "com", "cm": "com", "coom": "com", "nte": "net", "ner": "net",
    "nett": "net", "ogr": "org", "orgg": "org",
}  # fmt: skip


def _distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (an adjacent swap counts as one edit)."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[-1][-1]


def suggest(address: str) -> str | None:
    """The address with its domain's obvious typo fixed, or None when nothing looks wrong."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return None
    domain = domain.lower()
    if domain in COMMON:
        return None
    name, dot, ending = domain.rpartition(".")
    if dot and ending in ENDINGS:
        fixed = f"{name}.{ENDINGS[ending]}"
        return f"{local}@{_closest(fixed) or fixed}"
    close = _closest(domain)
    return f"{local}@{close}" if close else None


def _closest(domain: str) -> str | None:
    """The one well-known domain within two edits (one for short ones), if exactly one is."""
    if domain in COMMON:
        return domain
    limit = 1 if len(domain) <= 7 else 2
    found = sorted((_distance(domain, known), known) for known in COMMON)
    best = [known for d, known in found if d == found[0][0] and d <= limit]
    return best[0] if len(best) == 1 else None
