""" "Tell me when it's back": the step of a turn that takes a back-in-stock alert (no Rasa here).

A product answer that shows one variant out of stock (or on preorder or backorder) offers the
alert as a button and keeps the variant in the `topic` slot (bot.dialogue.products). The button,
or the words ("let me know when it's in stock", "notify me"), start the alert: an email verified
with an order, or the one this product's alert was made with, is taken at once; one the customer
gave before (for a reset, for a person) is offered ("Shall I use ...?", a button, a typed yes or
no, or another address typed instead); otherwise the bot asks for one, checks it as the
after-hours handoff does (not an address: asked again; an obvious typo in a well-known domain:
"Did you mean ...?", and the same address sent again after that question is what the customer
means), and subscribes. Subscribing is the caller's (`Subscribe`): rate limits, the store and
the confirmation email.
`restock_step` returns None when the message is not about an alert; the turn's decision takes it.

A product with sizes (or colours) keeps every variant shown out of stock as the offer's
`choices` and those in stock as `in_stock`: the one out, or the one the customer names ("let me
know when the 26 cm is back"), is the alert's; with several out and none named the bot asks which
(a button each, whose question names it); a size named that is in stock is never alerted on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from bot.catalog.text import words
from bot.dialogue import replies
from bot.dialogue.flows import declines, typo_answer
from bot.dialogue.plan import Button, Plan, Say
from bot.dialogue.references import asked_of
from bot.dialogue.turn import Turn
from bot.mail.typos import suggest
from bot.store.base import extract_email, normalize_email, valid_email

NOTIFY = re.compile(
    r"\b(?:tell|let|notify|email|e-mail|text|message|ping|alert|inform|warn)\s+me\b.{0,80}?"
    r"\b(?:back|in stock|restock(?:ed)?|available|arrives?|comes? in|gets? in)\b"
    r"|\bnotify me\b|\b(?:back[- ]in[- ]stock|restock(?:ing)?)\s+(?:alert|email|notification)s?\b",
    re.IGNORECASE,
)

MAX_CHOICES = 8  # buttons when asking which variant
DIGIT_UNIT = re.compile(r"(?<=\d)(?=[a-z])", re.IGNORECASE)  # "26cm" is "26 cm"

# A message that tries to give an address without being one ("my email is bob at example",
# "bob at example dot com", "bob.gmail.com"): asked again, not taken for another question
TRIES_EMAIL = re.compile(
    r"\b(?:e-?mail|address|gmail|googlemail|yahoo|hotmail|outlook|icloud|protonmail|aol)\b"
    r"|\S\s*(?:\(at\)|\[at\]|\(dot\)|\[dot\])"
    r"|\b\w[\w.+-]*\s+at\s+[\w-]+(?:\s*(?:\.|\bdot\b)\s*[\w-]+)+"
    r"|^\W*[\w+-]+(?:\.[\w+-]+)*\.(?:com|net|org|io|co|uk|de|fr|example)\W*$",
    re.IGNORECASE,
)
# ...unless it talks about an email rather than giving one ("my reset email never arrived"):
# that is a new question, which the decision answers
ABOUT_AN_EMAIL = re.compile(
    r"\b(?:arriv\w*|receiv\w*|came|come|coming|reset|password|spam|junk|inbox|link|sent|send)\b",
    re.IGNORECASE,
)

State = Literal[
    "sent",  # a new alert: the confirmation link was emailed
    "already_confirmed",  # this email already waits for this variant
    "already_pending",  # asked before, not confirmed yet
    "limited",  # over a rate limit
    "unavailable",  # the database or the mail settings failed
]


@dataclass(frozen=True)
class Subscribed:
    """What the caller's subscribing did."""

    state: State
    retry_after: int = 0  # seconds, when limited


Subscribe = Callable[[str, dict], Subscribed]


def asks_for_alert(text: str) -> bool:
    """The button's payload, or words asking to be told when something is back."""
    return text.strip() == replies.RESTOCK_PAYLOAD or bool(NOTIFY.search(text))


def restock_step(turn: Turn, subscribe: Subscribe) -> Plan | None:
    """The alert's step for this message, or None when the message is not about one."""
    topic = turn.topic if turn.topic and turn.topic.holds_for(turn.number) else None
    offer = topic.restock if topic is not None else None
    if offer and offer.get("asking"):
        plan = _email_answer(turn, offer, subscribe)
        if plan is not None:
            return plan
    if offer and offer.get("choosing"):
        plan = _variant_answer(turn, offer, subscribe)
        if plan is not None:
            return plan
    if not asks_for_alert(turn.text):
        return None
    if offer and (offer.get("choices") or offer.get("in_stock")):
        return _which_variant(turn, offer, subscribe)
    if not offer or not offer.get("variant"):
        if turn.is_payload:  # the button, and what it was for has gone: ask which product
            return _plan(turn, replies.RESTOCK_WHICH, "which", None)
        return None  # "notify me when the oak board is back": the product answer offers it
    return _ask_email(turn, offer, subscribe)


def _which_variant(turn: Turn, offer: dict, subscribe: Subscribe) -> Plan:
    """ "Tell me when it's back" about a product with several variants: the one named, or the
    only one out; an in-stock one named is there now; several out and none named: which one."""
    named, out = _named(turn.text, offer)
    if named and not out:  # "let me know when the 30 cm is back": it is in stock now
        return _in_stock_now(turn, offer, named[0])
    if len(out) == 1:
        return _ask_email(turn, chosen(offer, out[0]), subscribe)
    if not named and offer.get("variant"):
        return _ask_email(turn, offer, subscribe)  # the only one out, or the one asked about
    asked = [c for c in offer.get("choices", ()) if c["variant"] in (offer.get("asked") or ())]
    return _ask_which(turn, offer, out or asked or offer.get("choices", []))


def _variant_answer(turn: Turn, offer: dict, subscribe: Subscribe) -> Plan | None:
    """A message while the bot asks which variant: one named (a button, "the 26 cm"), one in
    stock named, "cancel"; None for anything else (a new question: the decision answers it)."""
    kept = {k: v for k, v in offer.items() if k != "choosing"}
    named, out = _named(turn.text, offer)
    if len(out) == 1:
        return _ask_email(turn, chosen(kept, out[0]), subscribe)
    if named and not out:
        return _in_stock_now(turn, kept, named[0])
    if not asks_for_alert(turn.text) and (turn.intent == "deny" or declines(turn.text)):
        return _plan(turn, replies.RESTOCK_CANCELLED, "cancelled", None)
    return None


def _named(text: str, offer: dict) -> tuple[list[dict], list[dict]]:
    """The offer's variants the words name, and those of them out of stock."""
    named = named_choices(text, [*offer.get("choices", ()), *offer.get("in_stock", ())])
    return named, [c for c in named if c in offer.get("choices", ())]


def _ask_which(turn: Turn, offer: dict, choices: list[dict]) -> Plan:
    """Which of the variants out of stock: a button each, whose question names it."""
    choices = choices[:MAX_CHOICES]
    when = replies.restock_when(choices[0].get("availability") if choices else None)
    buttons = tuple(
        Button(
            c["label"],
            asked_of(
                replies.RESTOCK_CHOICE_QUESTION.format(
                    label=c["label"], when=replies.restock_when(c.get("availability"))
                )
            ),
        )
        for c in choices
    )
    said = Say(
        replies.RESTOCK_WHICH_VARIANT.format(
            kind=_kind(offer), title=offer.get("title") or "it", when=when
        ),
        buttons=buttons,
        meta=replies.meta("restock", turn.intent, state="ask_variant"),
    )
    kept = {k: v for k, v in offer.items() if k not in ("asking", "suggested", "known")}
    return Plan("restock", (said,), _slots(turn, {**kept, "choosing": True}))


def _in_stock_now(turn: Turn, offer: dict, choice: dict) -> Plan:
    """A variant named that is in stock: no alert, its link."""
    text = replies.PRODUCT_BACK_NOW.format(
        title=offer.get("title") or "it",
        variant=f" in {choice['label']}" if choice.get("label") else "",
        link=choice.get("link") or offer.get("link") or "",
    )
    return _plan(turn, text, "in_stock", offer)


def _kind(offer: dict) -> str:
    """What the variants differ by, as the question names it: size, colour, or neither."""
    kinds = set(offer.get("kinds") or ())
    if kinds == {"size"}:
        return "size"
    if kinds == {"colour"}:
        return "colour"
    return "option"


def named_choices(text: str, choices: list[dict]) -> list[dict]:
    """The variants the words name: those whose whole label they name, the longest winning
    ("extra large" over "large"); else those one part of whose label (a size, a colour) they
    name ("the 180 cm" of "Charcoal / 180 cm" and "Natural / 180 cm")."""
    said = set(words(DIGIT_UNIT.sub(" ", text)))

    def named(part: str) -> int:
        own = set(words(DIGIT_UNIT.sub(" ", part)))
        return len(own) if own and own <= said else 0

    whole = [(sum(named(p) for p in _parts(c)), c) for c in choices]
    whole = [(n, c) for n, c in whole if n and all(named(p) for p in _parts(c))]
    if whole:
        best = max(n for n, _ in whole)
        return [c for n, c in whole if n == best]
    scored = [(max(named(p) for p in _parts(c)), c) for c in choices if _parts(c)]
    best = max((n for n, _ in scored), default=0)
    return [c for n, c in scored if n and n == best]


def _parts(choice: dict) -> list[str]:
    return [p for p in str(choice.get("label") or "").split(" / ") if p.strip()]


def chosen(offer: dict, choice: dict) -> dict:
    """The offer with one variant chosen: the one the alert is for."""
    return {
        **offer,
        "variant": choice["variant"],
        "variant_title": choice.get("variant_title") or "",
        "label": choice.get("label") or "",
        "link": choice.get("link") or offer.get("link") or "",
        "availability": choice.get("availability"),
    }


def _ask_email(turn: Turn, offer: dict, subscribe: Subscribe) -> Plan:
    """The alert's variant is known: its email, known, offered or asked for."""
    # a signed-in customer's verified address, or the one this alert was made with: no question
    known = turn.verified_email or offer.get("email")
    if known and valid_email(known):
        return _subscribe(turn, offer, normalize_email(known), subscribe)
    when = replies.restock_when(offer.get("availability"))
    asking = {**offer, "asking": True, "suggested": None}
    given = turn.customer_email  # said earlier (for a reset, a person): offered, not assumed
    if given and valid_email(given):
        given = normalize_email(given)
        said = Say(
            replies.RESTOCK_ASK_KNOWN_EMAIL.format(what=what(offer), when=when, email=given),
            buttons=(Button(replies.RESTOCK_USE_EMAIL.format(email=given), _payload(given)),),
            meta=replies.meta("restock", turn.intent, state="ask_email"),
        )
        return Plan("restock", (said,), _slots(turn, {**asking, "known": given}))
    text = replies.RESTOCK_ASK_EMAIL.format(what=what(offer), when=when)
    return _plan(turn, text, "ask_email", asking)


def what(offer: dict) -> str:
    """The product (and variant) as the customer reads it."""
    title = offer.get("title") or "it"
    variant = offer.get("label") or offer.get("variant_title") or ""
    return f"{title} ({variant})" if variant and variant != title else title


def _email_answer(turn: Turn, offer: dict, subscribe: Subscribe) -> Plan | None:
    """A message while the email is asked for: the email, a typo question (and a typed answer to
    it), "not an email" (also for words that try to be one: "bob at example"), "cancel"; None
    for anything else (a new question: the decision answers it)."""
    text = turn.text
    entity = next(
        (e.get("value") for e in turn.entities if e.get("entity") == "email" and e.get("value")),
        None,
    )
    candidate = entity or extract_email(text)
    suggested = offer.get("suggested") or {}
    if candidate is None and suggested.get("typed"):
        # "yes" / "no, it's right" typed to "Did you mean ...?": as its buttons
        answer = typo_answer(text, turn.intent)
        if answer == "yes":
            return _subscribe(turn, offer, suggested["suggestion"], subscribe)
        if answer == "no":
            return _subscribe(turn, offer, suggested["typed"], subscribe)
        if answer == "cancel":
            return _plan(turn, replies.RESTOCK_CANCELLED, "cancelled", None)
    if candidate is None and offer.get("known"):
        # "yes" / "no" typed to "Shall I use ...?"
        answer = typo_answer(text, turn.intent)
        if answer == "yes":
            return _subscribe(turn, offer, offer["known"], subscribe)
        if answer == "no":
            other = {**offer, "known": None}
            return _plan(turn, replies.RESTOCK_ASK_OTHER_EMAIL, "ask_email", other)
    if candidate is None:
        if "@" in text:
            return _plan(turn, replies.RESTOCK_EMAIL_NOT_VALID, "email_invalid", offer)
        if turn.intent == "deny" or declines(text):
            return _plan(turn, replies.RESTOCK_CANCELLED, "cancelled", None)
        if "?" not in text and TRIES_EMAIL.search(text) and not ABOUT_AN_EMAIL.search(text):
            return _plan(turn, replies.RESTOCK_EMAIL_NOT_VALID, "email_invalid", offer)
        return None
    candidate = normalize_email(str(candidate)).strip(".,;:!?")
    if not valid_email(candidate):
        return _plan(turn, replies.RESTOCK_EMAIL_NOT_VALID, "email_invalid", offer)
    suggestion = suggest(candidate)
    insisted = suggested.get("typed") == candidate
    if suggestion and not insisted:
        said = Say(
            replies.EMAIL_TYPO.format(suggestion=suggestion),
            buttons=(
                Button(replies.EMAIL_TYPO_YES.format(suggestion=suggestion), _payload(suggestion)),
                Button(replies.EMAIL_TYPO_NO.format(typed=candidate), _payload(candidate)),
            ),
            meta=replies.meta("restock", turn.intent, state="email_check"),
        )
        kept = {**offer, "suggested": {"typed": candidate, "suggestion": suggestion}}
        return Plan("restock", (said,), _slots(turn, kept))
    return _subscribe(turn, offer, candidate, subscribe)


def _subscribe(turn: Turn, offer: dict, email: str, subscribe: Subscribe) -> Plan:
    """Subscribe, and say what happened."""
    done = subscribe(email, offer)
    thing, when = what(offer), replies.restock_when(offer.get("availability"))
    if done.state == "sent":
        text = replies.RESTOCK_CHECK_INBOX.format(email=email, what=thing, when=when)
    elif done.state == "already_confirmed":
        text = replies.RESTOCK_ALREADY.format(email=email, what=thing, when=when)
    elif done.state == "already_pending":
        text = replies.RESTOCK_ALREADY_PENDING.format(email=email, what=thing)
    elif done.state == "limited":
        text = replies.RESTOCK_LIMITED.format(minutes=max(1, -(-done.retry_after // 60)))
    else:
        text = replies.RESTOCK_UNAVAILABLE
    kept = {k: v for k, v in offer.items() if k not in ("asking", "suggested", "known", "choosing")}
    if done.state in ("sent", "already_confirmed", "already_pending"):
        kept["email"] = email  # asked again for this product: the same address, no question
    plan = _plan(turn, text, done.state, kept)
    if done.state in ("sent", "already_confirmed", "already_pending"):
        # the address the customer gave: the next alert, or a person, needs no question
        plan.slots.setdefault("customer_email", email)
    return plan


def _plan(turn: Turn, text: str, state: str, offer: dict | None) -> Plan:
    said = Say(text, meta=replies.meta("restock", turn.intent, state=state))
    return Plan("restock", (said,), _slots(turn, offer))


def _slots(turn: Turn, offer: dict | None) -> dict:
    """The topic keeps the products shown, with the alert's new state (and stays current)."""
    slots: dict = {"route": "done"}
    if turn.topic is not None:
        slots["topic"] = replace(turn.topic, turn=turn.number, restock=offer).to_slot()
    return slots


def _payload(email: str) -> str:
    return "/inform" + json.dumps({"email": email})
