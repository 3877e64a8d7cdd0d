"""Every word the bot says that is made at run time, and the metadata each message carries.

The domain (`domain.yml`) holds the fixed replies chosen by name: small talk, the forms'
questions and "I've stopped that". Everything else (answers' citations, refusals, offers of a
person, the flows' results, the handoff's status) is worded here, and nowhere else.
"""

from __future__ import annotations

import datetime as dt

from bot.dialogue.plan import Button, Say
from bot.store.base import Order

# The domain response that answers each small-talk intent (and a yes or a no with nothing pending).
RESPONSES = {
    "greet": "utter_greet",
    "goodbye": "utter_goodbye",
    "thanks": "utter_thanks",
    "bot_challenge": "utter_iamabot",
    "chitchat": "utter_chitchat",
    "out_of_scope": "utter_out_of_scope",
    "affirm": "utter_how_can_help",
    "deny": "utter_ok",
}
FLOW_STOPPED = "utter_flow_stopped"

SOURCE = "Source: [{label}]({link})"
CLARIFY_MANY = "I want to get this right. Which of these is closest to what you need?"
CLARIFY_ONE = "I want to get this right. Is this what you need?"
SOMETHING_ELSE_SAID = (
    "Sorry I didn't get it right. Could you tell me in other words what you need? "
    "Or I can pass you to a person."
)
CANT_ANSWER = (
    "I'm sorry, I don't have an answer to that. I can help with orders, delivery, returns, "
    "payments and your account, or I can pass you to a person."
)
OFFER_HUMAN = "That's twice I couldn't help. Would you like me to pass you to a person?"
BAD_ORDER_NUMBER = (
    "That doesn't look like one of our order numbers: they have 3 digits, a dash and 4 digits, "
    "like 123-4567."
)
NOT_UNDERSTOOD = 'Sorry, I didn\'t get that. You can say "never mind" to stop.'
ASK_WHAT_FOR = "Thanks. What would you like me to do with {email}?"
HELPED = "Glad that helped! Anything else?"
DID_NOT_HELP = "Sorry that didn't help. Could you tell me a bit more about what you need?"
DECLINED_PERSON = (
    "No problem. Try asking in other words, or pick a topic: orders, delivery, returns, "
    "payments or your account."
)

TALK_TO_A_PERSON = Button("Talk to a person", "/request_human")
# the web app's apology when the action server is down (bot.web.outage)
UNAVAILABLE = (
    "Sorry, something went wrong on our side and I can't look that up right now. "
    "Please try again in a minute, or talk to a person."
)
YES_A_PERSON = Button("Yes, a person please", "/request_human")
NO_THANKS = Button("No, thanks", "/deny")
RESET_MY_PASSWORD = Button("Reset my password", "/reset_password")
TRACK_AN_ORDER = Button("Track an order", "/track_order")
EMAIL_DID_NOT_ARRIVE = Button("The email didn't arrive", "/reset_email_missing")
IT_ARRIVED = Button("It arrived, thanks", "/thanks")
# A guide's moves besides its choices (bot.dialogue.guides)
GUIDE_BACK = "Back"
GUIDE_START_OVER = "Start over"
GUIDE_GONE = (
    "That step has changed since I showed it. Tell me again what's wrong and I'll start from "
    "the beginning."
)
GUIDE_NOT_CAUGHT = "Sorry, I didn't catch that. Pick one of these, or ask me something else:"
# The last button of a choice: none of the offered ones (data/nlu/faq.yml's none_of_these).
SOMETHING_ELSE = Button("Something else", "/none_of_these")
# How a flow or a person is worded when it is offered as a choice (the gate's middle).
CHOICES = {
    "reset_password": RESET_MY_PASSWORD,
    "track_order": TRACK_AN_ORDER,
    "reset_email_missing": Button("My reset email didn't arrive", "/reset_email_missing"),
    "request_human": TALK_TO_A_PERSON,
}

NOT_AN_EMAIL = "That doesn't look like an email address. It should look like name@example.com."
STILL_NO_EMAIL = "I still couldn't read an email address there."
NOT_AN_ORDER_EMAIL = "That doesn't look like an email address (name@example.com)."
NOT_AN_ORDER_NUMBER = (
    "Order numbers look like 123-4567; you'll find yours in the confirmation email."
)
STILL_UNREADABLE = "I still couldn't read that."
GOT_THE_NUMBER = "Got it: order {number}."
GOT_THE_EMAIL = "Got it, I'll use that email."

RESET_SENT = (
    "If an account exists for **{email}**, we've just sent it a link to reset the password. "
    "The link works once, for 1 hour. I'll never ask you for your password."
)
RESET_AGAIN = (
    "I've sent another link to **{email}** (if an account exists for it). Only the newest link "
    "works, so please use that one. It can take a few minutes to arrive; check your spam folder "
    "too."
)
RESET_LIMITED = (
    "We've already sent 3 reset emails to that address in the last hour, so I can't send another "
    "right now. Please use the newest email you received, or try again in an hour."
)
RESET_MORE_HELP = "\n\nMore help: [How do I reset my password?]({link})"
RESET_STILL_MISSING = "If it still doesn't arrive, a person can check your account with you."
ORDER_NOT_FOUND = (
    "I couldn't find order **{number}** with that email. Please check both: the order number "
    "is in your confirmation email, and the email must be the one you ordered with. If one of "
    "them had a typo, just send me the right one."
)
ANOTHER_ORDER = "Got it: I'll check order {numbers} too, with the same email."
OTHER_ORDER_NOT_FOUND = (
    "I couldn't find order **{number}** with that email; if it was placed with another email, "
    "send me that order number and that email."
)
STORE_DOWN = (
    "Sorry, I can't reach our order system right now. I can pass you to a person who can help."
)

NEXT_STEPS = {
    "processing": "We're picking and packing it now. You can still change or cancel it while "
    "it's processing.",
    "shipped": "It's on its way. The carrier's tracking page has the latest updates.",
    "out_for_delivery": "It's on the van and should arrive today, usually before 8 pm.",
    "delivered": "The carrier marked it as delivered. If you can't find it, check around your door "
    "and with neighbours; if it's still missing by the end of the next business day, tell me and "
    "I'll get you a person.",
    "delayed": "The carrier reported a delay. If it's more than 2 business days past the new date, "
    "I can get you a person to open an investigation.",
    "cancelled": "It was cancelled, and any payment was refunded to your original payment method.",
    "returned": "It came back to us, and we refund it within 3 business days of receiving it.",
}
STATUS_NAMES = {
    "processing": "processing",
    "shipped": "shipped",
    "out_for_delivery": "out for delivery",
    "delivered": "delivered",
    "delayed": "delayed",
    "cancelled": "cancelled",
    "returned": "returned",
}

HANDOFF_OPENER = (
    "I'm passing you to a person now, with everything you've told me so you don't have to "
    "repeat yourself."
)
COMPLAINT_OPENER = (
    "I'm sorry to hear that. I've passed your conversation to our customer care team, with "
    "everything you've told me."
)
RELAYED_WAITING = "I've added that to your request, and I'll add anything else you send."
RELAYED_TO_AGENT = "I've passed that to the agent, and I'll pass on anything else you send."
AGENT_WILL_REPLY = "The agent will answer here."
# Outside business hours, or nobody signed in: no live queue, an answer by email.
AWAY_CLOSED = "Our team is away right now; they're back {when}."
AWAY_NOBODY = "Nobody from our team is free to chat right now."
AWAY_TICKET = "I've opened request #{ticket} for them, with this conversation."
ANSWER_BY_EMAIL = "They'll answer by email at {email}."
ASK_EMAIL_FOR_ANSWER = "What email address should they answer you at?"
EMAIL_NOT_VALID = (
    "That doesn't look like an email address. Please type it like name@example.com, or keep "
    "this chat open and the team will answer here."
)
EMAIL_TYPO = "Did you mean **{suggestion}**?"
EMAIL_TYPO_YES = "Yes, {suggestion}"
EMAIL_TYPO_NO = "No, {typed} is right"
EMAIL_NOTED = "Thanks! The team will answer your request #{ticket} by email at {email}."
RELAYED_FOR_EMAIL = "I've added that to your request; the team will answer by email at {email}."
RELAYED_AGAIN = "Added to your request #{ticket}: the team will see it with the rest."
RELAYED_AND_ANSWERING = (
    "I've added that to your request for the team, and I'll help with what I can meanwhile."
)
RELAYED_NO_EMAIL = (
    "I've added that to your request. To get the answer by email, send me your email address; "
    "otherwise keep this chat open and the team will answer here."
)
# The widget's status line (GET /api/availability)
STATUS_OPEN = "Our team is online now."
STATUS_CLOSED = "Our team is away; back {when}. Ask anyway: the answer comes by email."
STATUS_NOBODY = "Our team is away right now. Ask anyway: the answer comes by email."
BACK_WITH_THE_BOT = "You're back with the assistant. What can I help you with?"
RESOLVED_BY_AGENT = (
    "Our agent has marked your request as resolved. I'm back if you need anything else."
)
RETURNED_BY_AGENT = "Our agent has handed you back to me. How else can I help?"
HANDOFF_LIMITED = (
    "Many requests for a person have come from your connection in the last hour, so I can't "
    "open another one right now. Please try again in about {minutes}. Meanwhile I'm happy to "
    "help with your question here."
)


def handoff_limited_text(retry_after: int) -> str:
    """Why no person this time (too many handoffs from one address), and when to try again."""
    minutes = max(1, round(retry_after / 60))
    return HANDOFF_LIMITED.format(minutes="a minute" if minutes == 1 else f"{minutes} minutes")


def meta(
    outcome: str,
    intent: str | None = None,
    article_id: str | None = None,
    score: float | None = None,
    **extra: object,
) -> dict:
    """The machine-readable payload each bot message carries."""
    return {
        "outcome": outcome,
        "article_id": article_id,
        "score": round(score, 4) if score is not None else None,
        "intent": intent,
        **extra,
    }


def offer_person(intent: str | None, reason: str) -> Say:
    """The offer of a person after repeated failure."""
    return Say(
        OFFER_HUMAN,
        buttons=(YES_A_PERSON, NO_THANKS),
        meta=meta("handoff_offer", intent, reason=reason),
    )


def cant_answer(
    intent: str | None, score: float | None, top_article: str | None, with_button: bool = False
) -> Say:
    """The refusal; the top candidate is kept (not cited) so `bot eval calibrate` can replay it.
    Once a person was offered in the conversation, the refusal carries the button instead of
    the offer's question again (`with_button`)."""
    return Say(
        CANT_ANSWER,
        buttons=(TALK_TO_A_PERSON,) if with_button else (),
        meta=meta("fallback", intent, None, score, top_article=top_article),
    )


def queue_place(position: int | None, agent_replied: bool = False) -> str:
    """Where the customer is in the queue, or that an agent has the conversation (said only
    before the agent wrote: after their reply it would be news of the past)."""
    if position is None:
        return AGENT_WILL_REPLY if agent_replied else "An agent has joined and will reply here."
    if position == 1:
        return "You're next in the queue."
    return f"You're number {position} in the queue."


def handoff_text(reason: str, position: int | None) -> str:
    """What the customer reads when their conversation goes to a person on shift."""
    opener = COMPLAINT_OPENER if reason == "complaint" else HANDOFF_OPENER
    return f"{opener} {queue_place(position)}"


def relay_text(position: int | None, agent_replied: bool = False) -> str:
    """The one status line while a person owns the conversation: waiting, or with the agent."""
    if position is None and agent_replied:
        return RELAYED_TO_AGENT
    lead = RELAYED_WAITING if position is not None else RELAYED_TO_AGENT
    return f"{lead} {queue_place(position)}"


def when_back(back_at: dt.datetime | None, now: dt.datetime, customer_tz: dt.tzinfo | None) -> str:
    """'today at 8:00 AM', 'tomorrow at 8:00 AM', 'on Monday, December 7 at 8:00 AM', in the
    customer's time zone when known (else the team's, named)."""
    if back_at is None:
        return "as soon as they can"
    local = back_at.astimezone(customer_tz) if customer_tz else back_at
    today = now.astimezone(local.tzinfo).date()
    clock = f"{local:%I:%M %p}".lstrip("0")
    if local.date() == today:
        day = "today"
    elif local.date() == today + dt.timedelta(days=1):
        day = "tomorrow"
    else:
        day = f"on {_date(local.date())}"
    zone = "your time" if customer_tz else local.tzname()
    return f"{day} at {clock} ({zone})"


def away_text(reason: str, ticket_id: int, back: str | None, email: str | None) -> str:
    """Outside hours or with nobody signed in: when people are back, the request opened, and
    the answer by email (or the question for an email)."""
    opener = f"{COMPLAINT_OPENER.split('.')[0]}." if reason == "complaint" else ""
    away = AWAY_CLOSED.format(when=back) if back else AWAY_NOBODY
    then = ANSWER_BY_EMAIL.format(email=email) if email else ASK_EMAIL_FOR_ANSWER
    return " ".join(p for p in (opener, away, AWAY_TICKET.format(ticket=ticket_id), then) if p)


def reset_text(email: str, again: bool, rate_limited: bool, link: str | None) -> str:
    """The reset's result, the same whether or not the account exists, and the article's link."""
    text = RESET_LIMITED if rate_limited else (RESET_AGAIN if again else RESET_SENT)
    text = text.format(email=email)
    return text + RESET_MORE_HELP.format(link=link) if link else text


def _date(day: dt.date) -> str:
    return f"{day:%A}, {day:%B} {day.day}"


def another_order(numbers: tuple[str, ...]) -> str:
    """Acknowledge orders added while the first one's email is asked for."""
    return ANOTHER_ORDER.format(numbers=" and ".join(f"**{n}**" for n in numbers))


def order_status_text(order: Order) -> str:
    """Status, carrier, tracking link, estimated delivery and what happens next."""
    parts = [f"Order **{order.number}** is **{STATUS_NAMES.get(order.status, order.status)}**."]
    if order.carrier and order.tracking_url:
        parts.append(f"Carrier: {order.carrier} — [track the parcel]({order.tracking_url}).")
    if order.estimated_delivery and order.status in (
        "processing",
        "shipped",
        "out_for_delivery",
        "delayed",
    ):
        parts.append(f"Estimated delivery: {_date(order.estimated_delivery)}.")
    if order.status == "delivered" and order.estimated_delivery:
        parts.append(f"Delivered on {_date(order.estimated_delivery)}.")
    parts.append(NEXT_STEPS.get(order.status, ""))
    return " ".join(p for p in parts if p)


def status_line(state: str, when: str | None) -> str:
    """The widget's one line on whether people are there now."""
    if state == "open":
        return STATUS_OPEN
    if state == "closed" and when:
        return STATUS_CLOSED.format(when=when)
    return STATUS_NOBODY


# Products (bot.dialogue.products): every sentence about the catalogue is built from these.
PRODUCT_AVAILABILITY = {
    "in_stock": "in stock",
    "out_of_stock": "out of stock",
    "preorder": "available to pre-order",
    "backorder": "on back-order",
}
PRODUCT_PRICE = "{title} is {price}."
PRODUCT_PRICE_RANGE = "{title} is {low} to {high}, depending on the variant."
PRODUCT_SALE = " It's on sale: {price} instead of {regular}."
PRODUCT_STOCK = "{title}{variant} is {state}."
PRODUCT_EXPECTED = " We expect it on {date}."
PRODUCT_NO_DATE = " We don't have a date for it yet."
PRODUCT_YES_IN = "Yes, {title} comes in {choices}."
PRODUCT_BACK_NOW = (
    "Good news: {title}{variant} is in stock now, so no alert is needed. [Order it here]({link})"
)
PRODUCT_NOT_IN = "We don't have {title} in {asked}. It comes in {choices}."
PRODUCT_QUOTE = "From the product page of {title}:"
PRODUCT_QUOTED = "“{text}”"  # the feed's words, as they are
PRODUCT_NO_DETAIL = (
    "The product page of {title} doesn't say, so I'd rather not guess. A person can check it for "
    "you."
)
PRODUCT_CARD_EXPECTED = "{state}, expected {date}"
PRODUCT_LIST = "Here's what I found:"
PRODUCT_WHICH = "Which one do you mean?"
PRODUCT_LIST_UNDER = "Here's what I found for {limit} or less:"
PRODUCT_NONE_UNDER = "I didn't find anything for {limit} or less."
PRODUCT_NOT_SOLD = "I'm sorry, we don't sell that. These are the closest things we have:"
PRODUCT_SEE_MORE = "See {count} more"
PRODUCT_PICK_WHICH = "Which one do you mean?"
# Back-in-stock alerts (bot.dialogue.restock)
RESTOCK_BUTTON = "Tell me when it's back"
# A variant on preorder or backorder was never "back": the alert says "in stock" instead
RESTOCK_BUTTON_COMING = "Tell me when it's in stock"
RESTOCK_WHEN = {"out_of_stock": "back in stock"}  # else "in stock" (restock_when)
# The button's payload: any intent the open-message rule routes to action_kb_answer, where the
# restock step (bot.dialogue.restock) reads it before the decision (no intent of its own, so
# no retraining); the alert's variant is in the `topic` slot, not the payload.
RESTOCK_PAYLOAD = "/ask_question"
RESTOCK_ASK_EMAIL = "I'll email you once when {what} is {when}. What's your email address?"
# An address the customer gave earlier in the conversation (for a reset, a person): offered,
# not assumed; a signed-in customer's verified address is used without asking
RESTOCK_ASK_KNOWN_EMAIL = (
    "I'll email you once when {what} is {when}. Shall I use **{email}**? Or type another address."
)
RESTOCK_USE_EMAIL = "Yes, use {email}"
RESTOCK_ASK_OTHER_EMAIL = "Which email address should I use?"
RESTOCK_CHECK_INBOX = (
    "Thanks! I've sent a link to {email}: open it to confirm, and we'll email you once when "
    "{what} is {when}. Every email has a link to stop."
)
RESTOCK_ALREADY = "You're already on the list: we'll email {email} when {what} is {when}."
RESTOCK_ALREADY_PENDING = (
    "I've already sent a link to {email} for {what}: open it to confirm (check your spam folder "
    "too)."
)
RESTOCK_LIMITED = (
    "I can't add more back-in-stock alerts right now. Please try again in about {minutes} minutes."
)
RESTOCK_WHICH = (
    "Which product would you like to hear about? Ask me about it, and if it's out of stock I'll "
    "offer to email you when it's back."
)
# Several variants of the product out of stock and none named: which one (a button each)
RESTOCK_WHICH_VARIANT = "Which {kind} of {title} should I email you about when it's {when}?"
# A which-variant button's question, read as the customer's words ("notify me when ... back")
RESTOCK_CHOICE_QUESTION = "Tell me when the {label} is {when}"
RESTOCK_CANCELLED = "OK, no alert. Anything else I can help with?"
RESTOCK_EMAIL_NOT_VALID = (
    "That doesn't look like an email address. Please type it like name@example.com, or say "
    '"cancel".'
)
RESTOCK_UNAVAILABLE = "Sorry, I can't set up alerts right now. Please try again later."


def restock_button(availability: str | None) -> str:
    """The alert's button for a variant that is out of stock, or on preorder or backorder."""
    return RESTOCK_BUTTON if availability in (None, "out_of_stock") else RESTOCK_BUTTON_COMING


def restock_when(availability: str | None) -> str:
    """ "back in stock" for a variant out of stock; "in stock" for preorder and backorder."""
    return RESTOCK_WHEN.get(availability or "out_of_stock", "in stock")


def product_date(day: dt.date) -> str:
    """A restock date as a shopper reads it: 'Tuesday 5 January'."""
    return f"{day:%A} {day.day} {day:%B}"


# The help centre (bot.web.help): why a "no" vote, and the chat's greeting on an article page
HELP_VOTE_REASONS = {
    "unclear": "It was hard to understand",
    "incomplete": "Something was missing",
    "wrong": "Something was wrong or out of date",
    "not_my_question": "It didn't answer my question",
}
HELP_ARTICLE_GREETING = (
    "Hi! You're reading “{title}”. Ask me anything about it, or about your orders and account."
)
