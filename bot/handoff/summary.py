"""A short summary an agent reads first: what the customer wants now, what the bot tried, and why.

The queue calls summarize() when it stores a ticket. The summary leads with the customer's latest
real request, not their first message: button presses, "yes", "thanks", greetings and bare
answers to the bot's questions (an email, an order number) are skipped, and a plain "talk to a
person" is said as such, followed by the topic that led to it.
"""

from __future__ import annotations

import re

MAX_SUMMARY = 300
LATEST_QUOTE = 140
EARLIER_QUOTE = 70

REASON_TEXT = {
    "customer_request": "the customer asked for a person",
    "complaint": "the customer made a complaint",
    "low_confidence": "the bot could not find a confident answer",
    "negative_feedback": "the customer said the answers did not help",
    "flow_failure": "a self-service flow could not be completed",
}

# Said to move the chat along, not to ask for anything.
FILLER = {
    "yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "k", "fine", "right", "correct",
    "no", "n", "nope", "nah", "no thanks", "no thank you", "yes please", "ok thanks",
    "thanks", "thank you", "thank you so much", "thx", "ty", "cheers", "great", "cool",
    "hi", "hello", "hey", "hiya", "hi there", "hello there", "hey there", "good morning",
    "good afternoon", "good evening", "bye", "goodbye", "please", "help", "?", "that's right",
    "thats right", "that is right", "not really", "i don't know", "idk", "never mind",
}  # fmt: skip
BUTTON = re.compile(r"^\[[\w.:-]+\]$")  # how actions.common.transcript shows a button press
HUMAN_BUTTONS = {"[request_human]", "[affirm_handoff]"}
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ORDER_LIKE = re.compile(r"#?\s*[\d][\d\s-]{2,}")
# "talk to a real person", "can I speak with someone", "a live agent"
PERSON = re.compile(
    r"\b(real|live|actual)\s+(person|human|agent|people)\b"
    r"|\b(talk|speak|chat)\w*\s+(to|with)\s+(a\s+|an\s+|the\s+|your\s+|some\s+)?"
    r"(person|human|agent|someone|somebody|representative|rep|staff|people|operator|manager)\b"
    r"|\b(need|want|get|give\s+me)\s+(a\s+|an\s+|some\s+)?(real\s+)?"
    r"(person|human|agent|representative|operator)\b",
    re.IGNORECASE,
)
# "human please", "agent!": the word alone counts only in a short message
PERSON_WORD = re.compile(r"\b(human|agent|representative|operator)\b", re.IGNORECASE)
# The words of a person request; what is left is what the customer wants from that person.
PERSON_WORDS = {
    "i", "i'd", "id", "want", "wanna", "to", "talk", "speak", "chat", "with", "a", "an", "the",
    "real", "live", "actual", "person", "human", "humans", "agent", "agents", "someone",
    "somebody", "representative", "rep", "staff", "people", "operator", "manager", "please",
    "pls", "plz", "can", "could", "may", "let", "me", "need", "would", "like", "get", "connect",
    "transfer", "put", "through", "now", "just", "customer", "service", "support", "your", "one",
    "of", "team", "member", "you", "give", "talking", "speaking", "from", "actually", "is",
    "there", "any", "anyone", "ok", "okay", "instead", "right", "away", "asap", "immediately",
}  # fmt: skip


def _normal(text: str) -> str:
    return re.sub(r"[\s.!,;:]+", " ", text.lower()).strip(" ?") or text.strip().lower()


def _is_filler(text: str) -> bool:
    """Nothing an agent needs quoted: a button, a yes, a greeting, a bare email or order number."""
    stripped = text.strip()
    if BUTTON.match(stripped) or stripped.startswith("/"):
        return True
    if _normal(stripped) in FILLER:
        return True
    rest = ORDER_LIKE.sub(" ", EMAIL.sub(" ", stripped))
    return not re.search(r"[^\W\d_]{2,}", rest)  # no word left once email and numbers go


def _person_request(text: str) -> bool:
    """The customer asks for a person (with or without saying what about)."""
    if text.strip() in HUMAN_BUTTONS or PERSON.search(text):
        return True
    return len(text.split()) <= 4 and bool(PERSON_WORD.search(text))


def _bare_person_request(text: str) -> bool:
    """A request for a person that says nothing else ("i want to talk to a real person")."""
    if not _person_request(text):
        return False
    if text.strip() in HUMAN_BUTTONS:
        return True
    words = re.findall(r"[\w']+", text.lower())
    return sum(word not in PERSON_WORDS for word in words) == 0


def _quote(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return f"“{text}”"


def _clip(summary: str) -> str:
    if len(summary) <= MAX_SUMMARY:
        return summary
    return summary[: MAX_SUMMARY - 1].rstrip() + "…"


def summarize(
    transcript: list[dict],
    reason: str,
    articles: list[dict],
    verified: dict | None = None,
    products: list[str] | None = None,
    guide: dict | None = None,
) -> str:
    """One short paragraph (at most MAX_SUMMARY characters) built from the conversation's facts.

    transcript: lines with "sender" and "text", oldest first. verified: the email and order
    number the bot confirmed with the store, when the action knows them. products: the titles
    of the products the bot showed, latest last. guide: the article's guide the customer
    walked ("title" and "section" of its article, or its first "question"; the choices taken as
    "path"); its clicks are not quoted as requests.
    """
    taken = {_normal(label) for label in (guide or {}).get("path") or ()}
    said = [
        m["text"]
        for m in transcript
        if m.get("sender") == "customer" and m.get("text") and _normal(m["text"]) not in taken
    ]
    wanted_person = reason == "customer_request" or any(_person_request(t) for t in said[-2:])
    requests = [t for t in said if not _is_filler(t)]
    # The latest thing the customer asked for; a bare "a person, please" does not hide the
    # topic that led to it.
    topics = [t for t in requests if not _bare_person_request(t)]
    latest = topics[-1] if topics else None
    last_said = requests[-1] if requests else None
    parts = []
    if last_said is not None and _bare_person_request(last_said):
        parts.append("Customer asked for a person.")
        if latest:
            parts.append(f"Before that: {_quote(latest, LATEST_QUOTE)}.")
    elif latest:
        lead = "Customer asked for a person:" if _person_request(latest) else "Customer wants:"
        parts.append(f"{lead} {_quote(latest, LATEST_QUOTE)}.")
        earlier = [t for t in topics[:-1] if _normal(t) != _normal(latest)]
        if earlier:
            parts.append(f"Earlier: {_quote(earlier[-1], EARLIER_QUOTE)}.")
    elif wanted_person:
        parts.append("Customer asked for a person.")
    facts = [
        f"{label} {value}"
        for label, value in (
            ("order", (verified or {}).get("order_number")),
            ("email", (verified or {}).get("email")),
        )
        if value
    ]
    named = " › ".join(n for n in ((guide or {}).get("title"), (guide or {}).get("section")) if n)
    if guide and (named or guide.get("question")):
        # the guide by its article and section ("How do I reset my password? › The reset
        # email never arrived"); a ticket from before they were kept, by its first question
        path = " › ".join(guide.get("path") or ()) or "its first question"
        parts.append(f"Guide {_quote(named or guide['question'], EARLIER_QUOTE)}: {path}.")
    if facts:
        parts.append(f"Verified {', '.join(facts)}.")
    if products:
        parts.append(f"Products discussed: {', '.join(products[-3:][::-1])}.")
    if articles:
        tried = ", ".join(f"{a['title']} ({a['score']:.2f})" for a in articles[:2])
        parts.append(f"Bot tried: {tried}.")
    else:
        parts.append("Bot offered no article.")
    if not (reason == "customer_request" and parts[0].startswith("Customer asked for a person")):
        parts.append(f"Handed off because {REASON_TEXT.get(reason, reason)}.")
    return _clip(" ".join(parts))
