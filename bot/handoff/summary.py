"""A short summary an agent reads first: what the customer asked, what the bot tried, and why."""

from __future__ import annotations

REASON_TEXT = {
    "customer_request": "the customer asked for a person",
    "complaint": "the customer made a complaint",
    "low_confidence": "the bot could not find a confident answer",
    "negative_feedback": "the customer said the answers did not help",
    "flow_failure": "a self-service flow could not be completed",
}


def summarize(transcript: list[dict], reason: str, articles: list[dict], limit: int = 160) -> str:
    """One short paragraph built from the conversation's facts."""
    first = next((m["text"] for m in transcript if m["sender"] == "customer"), None)
    parts = []
    if first:
        question = first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
        parts.append(f"Customer asked: “{question}”.")
    if articles:
        tried = ", ".join(f"{a['title']} ({a['score']:.2f})" for a in articles[:3])
        parts.append(f"Bot tried: {tried}.")
    else:
        parts.append("Bot offered no article.")
    parts.append(f"Handed off because {REASON_TEXT.get(reason, reason)}.")
    return " ".join(parts)
