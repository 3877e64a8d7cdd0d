"""A seeded week of customer traffic that drives the real stack, and the figures it must produce.

`week(seed)` writes about 60 conversations in customers' own words (typos, casual phrasing):
questions the demo articles answer (some followed by 👍 or 👎 from the widget), password resets
and order tracking with the demo store's customers and orders, out-of-scope questions, questions
the demo knowledge base does not cover (store pickup, gift wrapping, a loyalty programme), people
asking for a person, a complaint, and conversations left after "I can't answer that". Each
`Scripted` conversation knows its steps, the outcome the bot's reply must have where that is
certain, and how the conversation ends. `play(stack, scripted)` drives one through the widget's
gateway (`/api/chat/{id}`) and the agent API; `ending(played)` reads how a played conversation
ended from the bot's metadata; `expected_summary(scripts)` gives the figures an insights report
of the week must show.

Used by tests/test_traffic.py, which proves the expectations true of the real bot, and by the
insights tests. Every phrasing here is our own writing. A week sends each reset link to its own
address, and the store sends at most 3 an hour to one address: one stack takes up to 3 plays of
the same week an hour before resets come back `rate_limited`.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

import httpx

from bot.dialogue.guides import button_payload
from bot.settings import Settings
from bot.web.conversation_ids import ConversationIds

ENDINGS = ("resolved", "handed_off", "abandoned")
REASONS = ("customer_request", "complaint", "low_confidence", "negative_feedback", "flow_failure")
UNCOVERED = ("store_pickup", "gift_wrapping", "loyalty_points")
# Conversation ids starting with these mark test traffic; the simulated week is customers'.
TEST_PREFIXES = ("eval-", "load-", "bench-", "test-")
CANT_ANSWER = "I'm sorry, I don't have an answer to that."  # how actions.kb's refusal starts
COMPLETED = {"sent", "found"}  # a flow's results that end it with what the customer wanted
HELPFUL, NOT_HELPFUL, HUMAN = "/feedback_helpful", "/feedback_not_helpful", "/request_human"


@dataclass(frozen=True)
class Step:
    """One thing that happens: the customer types (`say`) or clicks (`payload`, `say` is the
    button's title), or an agent acts (`agent`: claim, reply, resolve or return; `say` is the
    reply or the note). The other fields are what the bot's reply to it must carry, where
    certain: `outcome` is one of the turn's outcomes; `article`, `flow`, `result` and `reason`
    are the values of a message's metadata; `topic` is the uncovered topic the message asks;
    `cant_answer`: the reply says "I can't answer that" (then, the second time, offers a person)."""

    say: str | None = None
    payload: str | None = None
    agent: str | None = None
    outcome: str | None = None
    article: str | None = None
    flow: str | None = None
    result: str | None = None
    reason: str | None = None
    topic: str | None = None
    cant_answer: bool = False


@dataclass(frozen=True)
class Scripted:
    """One customer's conversation: its steps and how it must end."""

    name: str
    category: str
    customer: str
    day: int  # 0 = Monday ... 6 = Sunday of the simulated week
    steps: tuple[Step, ...]
    ending: str
    reason: str | None = None

    @property
    def topics(self) -> set[str]:
        """The uncovered topics this conversation asks about."""
        return {s.topic for s in self.steps if s.topic}

    def feedback(self) -> list[tuple[str, str | None]]:
        """(payload, article it rates) for each 👍/👎, the article being the last one answered."""
        rated: list[tuple[str, str | None]] = []
        article = None
        for step in self.steps:
            if step.payload in {HELPFUL, NOT_HELPFUL}:
                rated.append((step.payload, article))
            elif step.outcome == "article":
                article = step.article
        return rated


class Stack(Protocol):
    """What play() needs of tests.conftest.WebStack."""

    url: str
    agent_token: str
    settings: Settings


# The rate limits off, for a test stack whose customers all come from 127.0.0.1 and type fast
# (tests/test_rate_limits.py checks the limits; benchmarks/load.py measures them under load).
NO_RATE_LIMITS = {
    "chat_messages_per_minute": 0,
    "chat_messages_per_minute_per_address": 0,
    "conversations_per_hour_per_address": 0,
    "tickets_per_hour_per_address": 0,
    "searches_per_minute_per_address": 0,
}


def signed_id(stack: Stack, body: str) -> str:
    """A conversation id the stack's web app accepts, made from body (1-42 letters, digits,
    '-', '_'; a test prefix marks test traffic) with the server's key, as the server would."""
    return ConversationIds.for_settings(stack.settings).sign(body)


# --- the demo store's customers and orders ----------------------------------------------------


@dataclass(frozen=True)
class StoreData:
    """Orders (number, email) in every status and customers' emails of the seeded demo store."""

    orders: dict[str, tuple[str, str]]
    customers: list[str]


@cache
def store_data() -> StoreData:
    """Read the demo store, which is seeded the same way every time (a throwaway copy)."""
    from bot.store.base import STATUSES
    from bot.store.demo import DemoStore

    with tempfile.TemporaryDirectory(prefix="traffic-store-") as folder:
        store = DemoStore(Path(folder) / "demo_store.db")
        orders = {status: store.sample(status) for status in STATUSES}
        customers = store.customer_emails(500)
    # tests/conversations use the first 400 customers for resets; the week keeps to the others,
    # so the reset limit (3 an hour per address) never meets theirs
    return StoreData(orders, customers[400:])


# --- what customers say -------------------------------------------------------------------------

# Questions the articles answer, by article: phrasings the bot answers with that article.
KB_QUESTIONS: dict[str, list[str]] = {
    "returns": [
        "hey how do i send back a jacket that doesnt fit",
        "how many days do i have to return stuff",
        "how do i return somthing i bought last week",
    ],
    "refund-status": [
        "its been over a week and my refund still hasnt shown up",
        "whens my refund coming, i sent the parcel back 10 days ago",
        "still no refund on my card?? returned it ages ago",
    ],
    "international-shipping": [
        "do u ship to australia",
        "can i order from germany??",
        "do you deliver to canada",
    ],
    "delivery-options": [
        "how much is express delivery",
        "how much do you charge for shipping",
        "hw much is next day shipping",
    ],
    "delivery-times": [
        "how long does standard shipping take",
        "how long till my stuff arrives with standard delivery",
    ],
    "payment-methods": [
        "can i pay w/ paypal",
        "do you take apple pay",
        "can i pay with klarna",
    ],
    "promo-codes": [
        "my discount code isnt working at checkout",
        "where do i put a promo code",
        "my promo code says invalid",
    ],
    "cancel-order": [
        "i need to cancel an order i placed this morning",
        "want to cancel my order asap",
    ],
    "change-order": [
        "can i change the size on my order, i got the wrong one",
        "can i add another item to my order",
    ],
    "damaged-or-wrong-item": [
        "the mug arrived smashed in the box",
    ],
    "missing-package": [
        "tracking says delivered but theres nothing at my door",
        "parcel says delivered but i never got it",
    ],
    "gift-cards": [
        "how do i check the balance on my gift card",
        "can i use two gift cards on one order",
    ],
    "change-email": [
        "how do i change the email on my acount",
        "need to change my email adress",
    ],
    "two-factor-authentication": [
        "how do i turn on 2 step verification",
        "how do i set up 2fa",
    ],
    "invoices": [
        "i need a receipt for my order for work expenses",
        "can i get an invoice for my order",
    ],
    "product-warranty": [
        "is my sofa covered by warranty",
        "how long is the warranty",
    ],
    "newsletter": [
        "pls stop sending me promo emails",
        "unsubscribe me from the newsletter",
    ],
    "shipping-address": [
        "i put the wrong address on my order, can i fix it",
        "how do i change my delivery adress",
    ],
    "payment-problems": [
        "i was charged twice for the same order",
        "payment keeps failing at checkout",
    ],
    "delete-account": [
        "can i close my account",
    ],
    "leave-review": [
        "can i leave a review",
    ],
    "order-status": [
        "what does processing mean on my order",
    ],
    "refund-policy": [
        "whats your refund policy",
    ],
    "privacy-and-data": [
        "do you sell my data",
    ],
}
GREETINGS = ["hi", "hello", "hey there", "hiya", "good morning"]
THANKS = ["thanks!", "thank you", "great, thx", "cheers"]
RESET_ASK = [
    "forgot my password",
    "i cant log in, forgot my pw",
    "need to reset my password pls",
]
RESET_WITH_EMAIL = [
    "forgot my password, my email is {email}",
    "pls reset my password for {email}",
]
TRACK_ASK = [
    "wheres my order",
    "i want to track my order",
]
TRACK_WITH_NUMBER = [
    "where is my order {order}",
    "hi, can you tell me where order {order} is",
]
TRACK_WITH_BOTH = [
    "can u check order {order} for {email}",
    "track {order} email {email}",
]
OUT_OF_SCOPE = [
    "whats the weather like tomorrow",
    "can you write me a poem",
    "write me a poem about my cat",
    "who won the football last night",
    "what time is it in tokyo",
    "book me a table for two tonight",
    "can you help with my maths homework",
]
# Questions the demo articles do not cover, by topic: phrasings the bot says it can't answer.
UNCOVERED_QUESTIONS: dict[str, list[str]] = {
    "store_pickup": [
        "do you do click and collect",
        "can i collect my parcel from your warehouse to save on shipping",
        "is in-store pickup available",
        "do you have a physical store i can pick things up from",
        "is collection in person possible",
    ],
    "gift_wrapping": [
        "can you wrap my order as a present",
        "do you wrap presents",
        "its a birthday present, can u wrap it",
        "could you wrap it up nicely, its a gift",
    ],
    "loyalty_points": [
        "do you have a loyalty program",
        "how do i earn reward points",
        "do i get points when i shop with you",
        "how do loyalty points work",
    ],
}
# The way most customers ask about an uncovered topic, which the bot answers with an article
# that does not answer it (the topic, its question, the article it gets).
MISANSWERED: list[tuple[str, str, str, str]] = [
    # (a rewards card is not a gift card; "do you offer gift wrapping" was answered with the
    # gift-card article until the product route, which now leaves it a refusal)
    ("loyalty_points", "is there a rewards card", "gift-cards", "article"),
    # not sure enough to answer outright: the choices, the wrong article first
    ("store_pickup", "can i pick up my order in store", "place-order", "clarify"),
]
HUMAN_TYPED = [
    "can i talk to a real person",
    "i want to speak to someone please",
    "let me talk to an agent",
    "get me a human",
]
COMPLAINTS = [
    "this is ridiculous, my order is two weeks late and nobody answers my emails, "
    "i want to make a complaint",
    "i am really unhappy with the service, i want to complain",
]
YES = ["yes please", "yes", "yeah ok"]
AGENT_REPLIES = [
    "Hi, I'm looking into this for you now.",
    "Thanks for waiting, I've checked your account and sorted it out.",
]


# --- the conversations ------------------------------------------------------------------------


@dataclass
class Writer:
    """Draws phrasings without repeating one until its pool is used up."""

    rng: random.Random
    left: dict[tuple[str, ...], list[str]] = field(default_factory=dict)

    def pick(self, pool: list[str], other_than: str | None = None) -> str:
        """The next phrasing of a pool in a seeded order, other than `other_than` if it can."""
        key = tuple(pool)
        while True:
            if not self.left.get(key):
                self.left[key] = self.rng.sample(pool, len(pool))
            phrasing = self.left[key].pop()
            if phrasing != other_than or len(pool) == 1:
                return phrasing


Script = tuple[list[Step], str, str | None]  # steps, ending, handoff reason
Writing = Callable[["Writer", str, StoreData], Script]


def _kb_step(w: Writer, other_than: Step | None = None) -> Step:
    """A question the articles answer (about another article than `other_than`'s)."""
    article = w.pick(sorted(KB_QUESTIONS), other_than.article if other_than else None)
    return Step(say=w.pick(KB_QUESTIONS[article]), outcome="article", article=article)


def kb_answer(w: Writer, customer: str, data: StoreData) -> Script:
    """A question the articles answer, sometimes after a greeting and with thanks after."""
    steps = []
    if w.rng.random() < 0.4:
        steps.append(Step(say=w.pick(GREETINGS), outcome="smalltalk"))
    steps.append(_kb_step(w))
    if w.rng.random() < 0.5:
        steps.append(Step(say=w.pick(THANKS), outcome="smalltalk"))
    return steps, "resolved", None


def kb_helpful(w: Writer, customer: str, data: StoreData) -> Script:
    """An answer the customer marks 👍."""
    thumbs = Step(say="That helped", payload=HELPFUL, outcome="smalltalk")
    return [_kb_step(w), thumbs], "resolved", None


def kb_not_helpful_then_clearer(w: Writer, customer: str, data: StoreData) -> Script:
    """👎 on an answer, then a question the bot answers: resolved by the second answer."""
    first = _kb_step(w)
    second = _kb_step(w, other_than=first)
    thumbs = Step(say="That didn't help", payload=NOT_HELPFUL, outcome="fallback")
    return [first, thumbs, second], "resolved", None


def kb_not_helpful_left(w: Writer, customer: str, data: StoreData) -> Script:
    """👎 on an answer, and the customer leaves."""
    thumbs = Step(say="That didn't help", payload=NOT_HELPFUL, outcome="fallback")
    return [_kb_step(w), thumbs], "abandoned", None


def kb_not_helpful_twice(w: Writer, customer: str, data: StoreData) -> Script:
    """Two 👎 in a conversation, an answer between them; the customer takes the person the
    second 👎's button offers."""
    thumbs = Step(say="That didn't help", payload=NOT_HELPFUL, outcome="fallback")
    # an answer in between starts the count of misses again: the second 👎 is a first miss,
    # and its "Talk to a person" button is how the customer gets one
    accept = Step(
        say="Talk to a person", payload=HUMAN, outcome="handoff", reason="negative_feedback"
    )
    first = _kb_step(w)
    steps = [first, thumbs, _kb_step(w, other_than=first), thumbs, accept]
    return steps, "handed_off", "negative_feedback"


def reset(w: Writer, customer: str, data: StoreData) -> Script:
    """A password reset, with the email in the first message or when asked."""
    if w.rng.random() < 0.5:
        said = w.pick(RESET_WITH_EMAIL).format(email=customer)
        steps = [Step(say=said, outcome="flow", flow="reset_password", result="sent")]
    else:
        steps = [
            Step(say=w.pick(RESET_ASK), outcome="flow", flow="reset_password"),
            Step(say=customer, outcome="flow", flow="reset_password", result="sent"),
        ]
    if w.rng.random() < 0.4:
        steps.append(Step(say=w.pick(THANKS), outcome="smalltalk"))
    return steps, "resolved", None


def track(w: Writer, customer: str, data: StoreData) -> Script:
    """Order tracking: number and email in one message, or asked for one by one."""
    status = w.pick(sorted(data.orders))
    order, email = data.orders[status]
    found = Step(say=email, outcome="flow", flow="track_order", result="found")
    shape = w.rng.randrange(3)
    if shape == 0:
        said = w.pick(TRACK_WITH_BOTH).format(order=order, email=email)
        steps = [Step(say=said, outcome="flow", flow="track_order", result="found")]
    elif shape == 1:
        said = w.pick(TRACK_WITH_NUMBER).format(order=order)
        steps = [Step(say=said, outcome="flow", flow="track_order"), found]
    else:
        steps = [
            Step(say=w.pick(TRACK_ASK), outcome="flow", flow="track_order"),
            Step(say=order, outcome="flow", flow="track_order"),
            found,
        ]
    return steps, "resolved", None


def track_failed(w: Writer, customer: str, data: StoreData) -> Script:
    """Two lookups with an email that is not the order's: the bot offers a person; yes."""
    (order, _), (order2, _) = data.orders["shipped"], data.orders["delayed"]
    wrong = customer  # a real customer, but not the one who placed these orders
    return (
        [
            Step(say=f"track {order} for {wrong}", outcome="flow", result="not_found"),
            Step(say=f"ok what about {order2}, same email {wrong}", outcome="handoff_offer"),
            Step(say=w.pick(YES), outcome="handoff", reason="flow_failure"),
        ],
        "handed_off",
        "flow_failure",
    )


RESET = "reset-password"


def reset_never_arrived(w: Writer, customer: str, data: StoreData) -> Script:
    """A reset link that does not arrive: the troubleshooting guide, then a person."""
    said = w.pick(RESET_WITH_EMAIL).format(email=customer)
    return (
        [
            Step(say=said, outcome="flow", flow="reset_password", result="sent"),
            # the troubleshooting guide of the reset article, clicked through to a person
            Step(say="The email didn't arrive", payload="/reset_email_missing", outcome="article"),
            Step(say="No, it isn't there", payload=button_payload(RESET, 0, (1,))),
            Step(
                say="Yes, it was right",
                payload=button_payload(RESET, 0, (1, 1)),
                outcome="handoff_offer",
            ),
            Step(say="Talk to a person", payload=HUMAN, outcome="handoff", reason="flow_failure"),
        ],
        "handed_off",
        "flow_failure",
    )


def refused(said: str, topic: str | None = None, offer: bool = False) -> Step:
    """A message the bot can't answer; the second refusal in a conversation offers a person."""
    outcome = "handoff_offer" if offer else "fallback"
    return Step(say=said, outcome=outcome, topic=topic, cant_answer=True)


def out_of_scope_left(w: Writer, customer: str, data: StoreData) -> Script:
    """Something a store does not do; the customer leaves after the refusal."""
    return [refused(w.pick(OUT_OF_SCOPE))], "abandoned", None


def out_of_scope_then_question(w: Writer, customer: str, data: StoreData) -> Script:
    """Something a store does not do, then a real question."""
    return [refused(w.pick(OUT_OF_SCOPE)), _kb_step(w)], "resolved", None


def out_of_scope_twice(w: Writer, customer: str, data: StoreData) -> Script:
    """Two refusals in a row: the bot offers a person, and the customer takes it."""
    first = refused(w.pick(OUT_OF_SCOPE))
    again = refused(w.pick(OUT_OF_SCOPE, other_than=first.say), offer=True)
    accept = Step(say=w.pick(YES), outcome="handoff", reason="low_confidence")
    return [first, again, accept], "handed_off", "low_confidence"


def uncovered(kind: str, topic: str) -> Writing:
    """A question the knowledge base does not cover, and what the customer does after the
    refusal: leaves, asks again in other words (and leaves, or takes the offer of a person), or
    asks for a person."""

    def write(w: Writer, customer: str, data: StoreData) -> Script:
        pool = UNCOVERED_QUESTIONS[topic]
        first = refused(w.pick(pool), topic)
        if kind == "left":
            return [first], "abandoned", None
        if kind == "wants_a_person":
            human = Step(
                say="Talk to a human", payload=HUMAN, outcome="handoff", reason="customer_request"
            )
            return [first, human], "handed_off", "customer_request"
        again = refused(w.pick(pool, other_than=first.say), topic, offer=True)
        if kind == "asked_twice":
            return [first, again], "abandoned", None
        accept = Step(say=w.pick(YES), outcome="handoff", reason="low_confidence")
        return [first, again, accept], "handed_off", "low_confidence"

    return write


def misanswered(topic: str, question: str, article: str, outcome: str) -> Writing:
    """An uncovered topic asked the usual way gets an article that does not answer it: 👎, the
    question again in other words, a refusal with the offer of a person, and the customer
    leaves."""

    def write(w: Writer, customer: str, data: StoreData) -> Script:
        if outcome == "clarify":
            # offered a choice (nothing answered to 👎): the question again in other words is
            # the first miss, and the customer leaves
            steps = [
                Step(say=question, outcome=outcome, article=article, topic=topic),
                refused(w.pick(UNCOVERED_QUESTIONS[topic]), topic),
            ]
            return steps, "abandoned", None
        return (
            [
                Step(say=question, outcome=outcome, article=article, topic=topic),
                Step(say="That didn't help", payload=NOT_HELPFUL, outcome="fallback"),
                refused(w.pick(UNCOVERED_QUESTIONS[topic]), topic, offer=True),
            ],
            "abandoned",
            None,
        )

    return write


def _ask_for_a_person(w: Writer) -> list[Step]:
    """A question, then a person asked for, typed or with the widget's button."""
    typed = w.rng.random() < 0.5
    said, payload = (w.pick(HUMAN_TYPED), None) if typed else ("Talk to a human", HUMAN)
    ask = Step(say=said, payload=payload, outcome="handoff", reason="customer_request")
    return [_kb_step(w), ask]


def human(w: Writer, customer: str, data: StoreData) -> Script:
    """A question, then a person asked for; the customer waits in the queue."""
    return _ask_for_a_person(w), "handed_off", "customer_request"


def human_answered(w: Writer, customer: str, data: StoreData) -> Script:
    """A question, then a person asked for; an agent takes it and replies, the customer's answer
    goes to the agent (not to the bot), and the agent resolves it."""
    steps = [
        *_ask_for_a_person(w),
        Step(agent="claim"),
        Step(agent="reply", say=w.pick(AGENT_REPLIES)),
        Step(say=w.pick(THANKS), outcome="handoff"),  # passed to the agent
        Step(agent="resolve", say="answered in chat"),
    ]
    return steps, "handed_off", "customer_request"


def human_first(w: Writer, customer: str, data: StoreData) -> Script:
    """A person asked for straight away."""
    step = Step(say=w.pick(HUMAN_TYPED), outcome="handoff", reason="customer_request")
    return [step], "handed_off", "customer_request"


def complaint(w: Writer, customer: str, data: StoreData) -> Script:
    """A complaint: straight to a person, filed as a complaint."""
    step = Step(say=w.pick(COMPLAINTS), outcome="handoff", reason="complaint")
    return [step], "handed_off", "complaint"


UNCOVERED_KINDS = ("left", "asked_twice", "took_the_offer", "wants_a_person")
WRITERS: dict[str, Writing] = {
    "kb_answer": kb_answer,
    "kb_helpful": kb_helpful,
    "kb_not_helpful_then_clearer": kb_not_helpful_then_clearer,
    "kb_not_helpful_left": kb_not_helpful_left,
    "kb_not_helpful_twice": kb_not_helpful_twice,
    "reset": reset,
    "reset_never_arrived": reset_never_arrived,
    "track": track,
    "track_failed": track_failed,
    "out_of_scope_left": out_of_scope_left,
    "out_of_scope_then_question": out_of_scope_then_question,
    "out_of_scope_twice": out_of_scope_twice,
    "human": human,
    "human_answered": human_answered,
    "human_first": human_first,
    "complaint": complaint,
}
# Each category's share of a 60-conversation week; the uncovered ones are spread over the topics.
SHARES: dict[str, int] = {
    "kb_answer": 11,
    "kb_helpful": 5,
    "kb_not_helpful_then_clearer": 2,
    "kb_not_helpful_left": 2,
    "kb_not_helpful_twice": 1,
    "reset": 6,
    "reset_never_arrived": 1,
    "track": 6,
    "track_failed": 1,
    "out_of_scope_left": 3,
    "out_of_scope_then_question": 2,
    "out_of_scope_twice": 1,
    **{f"uncovered_{kind}": 3 for kind in UNCOVERED_KINDS},
    "uncovered_misanswered": 2,
    "human": 1,
    "human_answered": 2,
    "human_first": 1,
    "complaint": 1,
}
# Monday is the busiest day and Sunday the quietest.
DAY_WEIGHTS = (17, 15, 14, 14, 13, 15, 12)


def _shares(total: int, weights: dict) -> dict:
    """`total` split in proportion to `weights`, by largest remainder."""
    exact = {key: total * weight / sum(weights.values()) for key, weight in weights.items()}
    counts = {key: int(value) for key, value in exact.items()}
    short = total - sum(counts.values())
    for key in sorted(exact, key=lambda k: counts[k] - exact[k])[:short]:
        counts[key] += 1
    return counts


def _writings(conversations: int) -> list[tuple[str, Writing]]:
    jobs: list[tuple[str, Writing]] = []
    for category, n in _shares(conversations, SHARES).items():
        n = max(1, n)
        if category == "uncovered_misanswered":
            cases = [MISANSWERED[i % len(MISANSWERED)] for i in range(n)]
            jobs += [(category, misanswered(*case)) for case in cases]
        elif category.startswith("uncovered_"):
            kind = category.removeprefix("uncovered_")
            # each topic asked by several customers, in several ways, with every ending
            first = UNCOVERED_KINDS.index(kind)
            topics = [UNCOVERED[(first + i) % len(UNCOVERED)] for i in range(n)]
            jobs += [(category, uncovered(kind, topic)) for topic in topics]
        else:
            jobs += [(category, WRITERS[category])] * n
    return jobs


def week(seed: int = 7, conversations: int = 60) -> list[Scripted]:
    """A deterministic week of about `conversations` conversations (at least one of each
    kind), in the order they happen (by day)."""
    rng = random.Random(seed)
    writer = Writer(rng)
    data = store_data()
    customers = rng.sample(data.customers, len(data.customers))
    jobs = _writings(conversations)
    rng.shuffle(jobs)
    per_day = _shares(len(jobs), dict(enumerate(DAY_WEIGHTS)))
    days = [day for day, n in per_day.items() for _ in range(n)]
    scripts = []
    for number, ((category, write), day) in enumerate(zip(jobs, days, strict=True)):
        customer = customers[number % len(customers)]
        steps, end, reason = write(writer, customer, data)
        scripts.append(
            Scripted(f"{number:03d}-{category}", category, customer, day, tuple(steps), end, reason)
        )
    return sorted(scripts, key=lambda s: (s.day, s.name))


# --- playing a conversation through the real gateway -------------------------------------------


def new_conversation_id(scripted: Scripted) -> str:
    """A fresh widget conversation id's body (signed_id makes the id), never a test prefix."""
    return f"c{uuid.uuid4().hex[:20]}-{scripted.name}"[:42]


class Conversation:
    """A conversation in the widget through the chat gateway, and the agent API beside it: what
    every test's customer shares (tests/test_conversations.py's Chat, Customer below)."""

    def __init__(self, stack: Stack, conversation_id: str) -> None:
        self.id = signed_id(stack, conversation_id)  # conversation_id: the id's body
        self.http = httpx.Client(base_url=stack.url, timeout=60)
        self.agent_http = httpx.Client(
            base_url=stack.url, timeout=60, headers={"Authorization": f"Bearer {stack.agent_token}"}
        )

    def close(self) -> None:
        """Close both HTTP clients."""
        self.http.close()
        self.agent_http.close()

    def ticket(self) -> dict:
        """This conversation's ticket, as the agent API shows it."""
        response = self.agent_http.get(f"/api/conversations/{self.id}/ticket")
        if response.status_code != 200:
            raise AssertionError(f"{self.id}: no ticket: {response.text}")
        return response.json()

    def act(self, action: str, text: str) -> None:
        """An agent claims, replies to (text), resolves or returns (text as the note) this
        conversation's ticket."""
        base = f"/api/tickets/{self.ticket()['id']}"
        if action == "claim":
            response = self.agent_http.post(base + "/claim")
        elif action == "reply":
            response = self.agent_http.post(base + "/messages", json={"text": text})
        elif action in {"resolve", "return"}:
            response = self.agent_http.post(f"{base}/{action}", json={"note": text})
        else:
            raise ValueError(f"unknown agent action {action!r}")
        if response.status_code != 200:
            raise AssertionError(
                f"{self.id}: agent {action}: {response.status_code} {response.text}"
            )


class Customer(Conversation):
    """One customer in the widget, and the agent who may pick their conversation up."""

    def __init__(self, stack: Stack, conversation_id: str) -> None:
        super().__init__(stack, conversation_id)
        self.cursor = 0.0
        self.seen: set[str] = set()

    def _new_bot_items(self, body: dict) -> list[dict]:
        items = [i for i in body["items"] if i["id"] not in self.seen]
        self.seen.update(i["id"] for i in body["items"])
        self.cursor = max(self.cursor, body["cursor"])
        return [i for i in items if i["from"] == "bot"]

    def send(self, text: str, payload: str | None) -> list[dict]:
        """One customer turn (typed, or a click); the bot's messages for it."""
        message = {"text": text} if payload is None else {"text": text, "payload": payload}
        response = self.http.post(
            f"/api/chat/{self.id}/messages", params={"after": self.cursor}, json=message
        )
        if response.status_code != 200:
            raise AssertionError(f"{self.id}: {text!r} -> {response.status_code} {response.text}")
        return self._new_bot_items(response.json())

    def wait_for_bot(self, timeout: float = 30) -> list[dict]:
        """Bot messages that come without a customer turn (after an agent resolves or returns)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.http.get(f"/api/chat/{self.id}", params={"after": self.cursor}).json()
            replies = self._new_bot_items(body)
            if replies:
                return replies
            time.sleep(0.2)
        raise AssertionError(f"{self.id}: the bot did not come back within {timeout}s")

    def agent(self, action: str, text: str | None) -> list[dict]:
        """An agent claims, replies to, resolves or returns this conversation's ticket; the
        bot's messages that follow a resolution or a return."""
        self.act(action, text or ("Hello" if action == "reply" else "done"))
        return self.wait_for_bot() if action in {"resolve", "return"} else []


def warm_up(stack: Stack) -> None:
    """One turn on a conversation marked as test traffic, so the action server has loaded the
    index and the model before the week starts (a first turn can take most of the gateway's
    30 s, and several at once can pass it)."""
    customer = Customer(stack, f"test-warmup-{uuid.uuid4().hex[:12]}")
    try:
        customer.send("hello", None)
    finally:
        customer.close()


def play(stack: Stack, scripted: Scripted, conversation_id: str | None = None) -> list[dict]:
    """Drive one conversation through the real gateway and agent API: per step, what was said
    and the bot's replies (`metas`: each reply's metadata, `texts`: its text)."""
    conversation_id = conversation_id or new_conversation_id(scripted)
    customer = Customer(stack, conversation_id)
    played = []
    try:
        for step in scripted.steps:
            if step.agent:
                replies = customer.agent(step.agent, step.say)
            else:
                replies = customer.send(step.say or "", step.payload)
            played.append(
                {
                    "conversation_id": customer.id,
                    "step": step,
                    "metas": [r.get("meta") or {} for r in replies],
                    "texts": [r["text"] for r in replies],
                }
            )
    finally:
        customer.close()
    return played


# --- what a played conversation shows ------------------------------------------------------------


def check_step(played_step: dict) -> list[str]:
    """What the bot did differently from the step's expectations (empty when all held)."""
    step: Step = played_step["step"]
    metas = played_step["metas"]
    problems = []
    wanted = {
        "outcome": step.outcome,
        "article_id": step.article,
        "flow": step.flow,
        "result": step.result,
        "reason": step.reason,
    }
    wanted = {k: v for k, v in wanted.items() if v is not None}
    if wanted and not any(all(m.get(k) == v for k, v in wanted.items()) for m in metas):
        problems.append(f"wanted {wanted}, got {[_short(m) for m in metas]}")
    return problems


def _short(meta: dict) -> dict:
    keys = ("outcome", "article_id", "flow", "result", "reason", "intent", "score", "top_article")
    return {k: meta[k] for k in keys if meta.get(k) is not None}


def ending(played: list[dict]) -> tuple[str, str | None]:
    """How a played conversation ended, read from the bot's metadata: handed off (with the
    first ticket's reason); abandoned when the last bot turn was a refusal, a 👎's apology or an
    offer of a person; resolved when an article answer with no 👎 after it or a completed flow
    (a reset link sent, an order found) remains; abandoned otherwise."""
    metas = [m for step in played for m in step["metas"]]
    handoff = next((m for m in metas if m.get("outcome") == "handoff" and m.get("reason")), None)
    if handoff:
        return "handed_off", handoff["reason"]
    last = next((step["metas"] for step in reversed(played) if step["metas"]), [])
    if any(m.get("outcome") in {"fallback", "handoff_offer"} for m in last):
        return "abandoned", None
    answered = False
    for meta in metas:
        if meta.get("outcome") == "article" or meta.get("result") in COMPLETED:
            answered = True
        elif meta.get("intent") == "feedback_not_helpful" and meta.get("outcome") != "article":
            answered = False
    return ("resolved", None) if answered else ("abandoned", None)


def cant_answers(played: list[dict]) -> int:
    """How many of the bot's replies said it can't answer."""
    return sum(text.startswith(CANT_ANSWER) for step in played for text in step["texts"])


def expected_summary(scripts: list[Scripted]) -> dict:
    """The figures an insights report of these conversations must show.

    - `endings`, `handoff_reasons` (conversations), `by_day` (day -> ending -> conversations);
    - `containment`: the share of conversations that never reached a person;
    - `customer_messages` (typed or clicked), `cant_answer` (replies saying "I can't answer
      that", one per refused message), `cant_answer_conversations`;
    - `thumbs_up`, `thumbs_down` and `feedback_by_article` (the article answered last before each);
    - `uncovered_topics` (topic -> conversations asking about it), `uncovered_refused` (topic ->
      conversations where the bot said it can't answer it) and `unanswered_questions` (topic ->
      the refused messages, a content-gap report's groups).
    """
    feedback = [rated for s in scripts for rated in s.feedback()]
    by_article: dict[str, Counter] = {}
    for payload, article in feedback:
        name = "helpful" if payload == HELPFUL else "not_helpful"
        by_article.setdefault(article or "?", Counter())[name] += 1
    by_day: dict[int, Counter] = {day: Counter() for day in range(7)}
    for s in scripts:
        by_day[s.day][s.ending] += 1
    refused = [(s, step) for s in scripts for step in s.steps if step.cant_answer]
    return {
        "conversations": len(scripts),
        "endings": {e: sum(s.ending == e for s in scripts) for e in ENDINGS},
        "handoff_reasons": {r: sum(s.reason == r for s in scripts) for r in REASONS},
        "by_day": {day: {e: c[e] for e in ENDINGS} for day, c in by_day.items()},
        "containment": sum(s.ending != "handed_off" for s in scripts) / max(1, len(scripts)),
        "customer_messages": sum(step.agent is None for s in scripts for step in s.steps),
        "cant_answer": len(refused),
        "cant_answer_conversations": len({s.name for s, _ in refused}),
        "thumbs_up": sum(p == HELPFUL for p, _ in feedback),
        "thumbs_down": sum(p == NOT_HELPFUL for p, _ in feedback),
        "feedback_by_article": {a: dict(c) for a, c in sorted(by_article.items())},
        "uncovered_topics": {t: sum(t in s.topics for s in scripts) for t in UNCOVERED},
        "uncovered_refused": {
            t: len({s.name for s, step in refused if step.topic == t}) for t in UNCOVERED
        },
        "unanswered_questions": {
            t: [step.say for _, step in refused if step.topic == t] for t in UNCOVERED
        },
    }
