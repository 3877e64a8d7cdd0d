"""The turn's decision: what to do with a customer's message, as a plan (no Rasa here).

`decide` takes an open message and chooses between an article, the closest articles, a flow, a
person, small talk and "can't answer", from the router's reading of it (fused with the NLU's
intent), the details it carries (an email, an order number), a form it interrupted and the flow
before it. `decide_feedback` takes a 👍/👎 and `decide_choice` a pick among the articles and flows
offered when the gate was unsure, or "something else" (the dialogue rules send those to actions of
their own); a pick typed as an open message is read by `decide` first. The actions in `actions/`
build the Turn from Rasa's tracker and render the Plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.dialogue import guides, replies
from bot.dialogue.answers import Gate, RouteChoice, article_reply, choose, clarify_reply
from bot.dialogue.answers import decide as by_scores
from bot.dialogue.choices import by_ordinal, by_title, label_of, may_name_a_title
from bot.dialogue.flows import (
    ASK_DETAILS,
    FLOW_ROUTES,
    FLOWS,
    Details,
    FlowContext,
    adds_another,
    declines,
    details_in,
    looks_like_a_bad_order_number,
    next_route,
    says_yes_or_no,
    starting_slots,
    without_reply_words,
)
from bot.dialogue.followup import Topic, is_follow_up, subject_words
from bot.dialogue.knowledge import Knowledge
from bot.dialogue.plan import Button, Plan, Say
from bot.dialogue.products import ProductReply, clearly_shopping
from bot.dialogue.references import PLACES, about_the, asked_of, refers_to
from bot.dialogue.results import offering_a_person
from bot.dialogue.turn import Turn
from bot.kb.router import ARTICLE, INTENT, ROUTED_INTENTS, Route, Routing
from bot.kb.search import Hit
from bot.store.base import valid_email, valid_order_number

ROUTABLE = frozenset(ROUTED_INTENTS)
# Cosine thresholds of the search-only decision, for an index without a router
# (benchmarks/README.md, "Calibration").
SEARCH_ANSWER, SEARCH_CLARIFY = 0.50, 0.38
# Replies that leave a form where it was when said in the middle of it.
SMALL_TALK = frozenset({"greet", "thanks", "bot_challenge", "chitchat"})
MAX_TRIED = guides.MAX_TRIED
UNCLEAR_REPLIES = frozenset(
    replies.RESPONSES[i] for i in ("affirm", "deny", "chitchat", "out_of_scope")
)
SOMETHING_ELSE = "none_of_these"  # the intent of the "Something else" button (and its words)


def decide(turn: Turn, knowledge: Knowledge, gate: Gate) -> Plan:
    """An open message's plan: answer, clarify, refuse, reply, start or resume a flow, hand off,
    or take the next step of the guide the customer is walking."""
    walked = _typed_step(turn, knowledge)
    if walked is not None:
        return replace(walked, slots={**walked.slots, "route": "done"})
    plan = _decide(turn, knowledge, gate)
    if _unclear(plan):
        again = _step_again(turn, knowledge)
        if again is not None:
            return again  # "hmm" in the middle of a guide: its step again, and no miss
    if turn.guide is not None and "guide" not in plan.slots and plan.outcome != "handoff":
        # something else than a step: the walk is over (a handoff keeps it for the ticket)
        plan = replace(plan, slots={**plan.slots, "guide": None})
    return plan


def decide_guide(turn: Turn, knowledge: Knowledge) -> Plan:
    """A click on a guide's button: the step it names (typed words go to `decide`)."""
    source = _guide_source(knowledge)
    if turn.guide_step and source is not None:
        return guides.clicked(turn.guide_step, source, turn.intent, turn.number)
    return Plan("routed", followup="action_kb_answer")


def _typed_step(turn: Turn, knowledge: Knowledge) -> Plan | None:
    """The guide's step typed words pick ("2", "no", "back"), whatever the NLU took them for."""
    source = _guide_source(knowledge)
    if turn.guide is None or source is None:
        return None
    return guides.typed(turn.text, turn.guide, source, turn.intent, turn.number)


def _unclear(plan: Plan) -> bool:
    """A plan for a message that asks for nothing we know: a miss, the closest articles, or the
    reply to a bare yes/no, small talk or out of scope (not a confident new question)."""
    if plan.outcome in {"cant_answer", "clarify"}:
        return True
    return plan.outcome == "reply" and all(s.response in UNCLEAR_REPLIES for s in plan.says)


def _step_again(turn: Turn, knowledge: Knowledge) -> Plan | None:
    """The step of the guide the customer is walking, asked again (None with no walk under way)."""
    source = _guide_source(knowledge)
    if turn.guide is None or source is None or turn.is_payload:
        return None
    again = guides.again(turn.guide, source, turn.intent, turn.number)
    return replace(again, slots={**again.slots, "route": "done"}) if again else None


def _guide_source(knowledge: Knowledge) -> guides.GuideSource | None:
    """The knowledge's guides (None for a Knowledge that reads none)."""
    return knowledge if callable(getattr(knowledge, "guides", None)) else None  # type: ignore[return-value]


def _article(
    turn: Turn,
    knowledge: Knowledge,
    hit: Hit,
    intent: str | None,
    score: float,
    question: str,
    slots: dict[str, Any],
) -> Plan:
    """An article's answer: its guide's first question when the section holds a guide, else
    the section quoted with its citation."""
    # an answer ends a run of misses: the next miss is the first again
    slots = {**slots, **_answered(hit, question, turn.number)}
    source = _guide_source(knowledge)
    walked = guides.start(hit, source, intent, turn.number, slots) if source else None
    if walked is not None:
        return walked
    named = _named_product(question, knowledge)
    if named is None:
        return Plan("article", (article_reply(hit, intent, score),), slots)
    # "what's the warranty on the oak board?": the article's answer, and that board's card
    topic = Topic.from_slot(slots.get("topic"))
    if topic is not None and named.restock:
        slots["topic"] = replace(topic, restock=named.restock).to_slot()
    return Plan("article", (article_reply(hit, intent, score), *named.says), slots)


def _named_product(question: str, knowledge: Knowledge) -> ProductReply | None:
    """The product an article's question names, when the knowledge has a catalogue."""
    named = getattr(knowledge, "named_product", None)  # a Knowledge without a catalogue
    return named(question) if named is not None and question else None


def _decide(turn: Turn, knowledge: Knowledge, gate: Gate) -> Plan:
    """The open message's plan, once it is not a step of a guide."""
    if turn.clarify_options:
        picked = _picked(turn, knowledge)
        if picked is not None:
            return _take(turn, knowledge, picked)
    about_shown = _about_shown(turn, knowledge)
    if about_shown is not None:
        return about_shown
    intent, text = turn.intent, turn.text
    details = details_in(text, list(turn.entities))
    question = text
    if intent in {"affirm", "deny"} and not turn.is_payload and says_yes_or_no(text):
        question = without_reply_words(text)
        if not details and len(question.split()) < 3:
            # "yes" or "no" with nothing pending, or "no" to a form's question
            reply = replies.FLOW_STOPPED if turn.after_form else replies.RESPONSES[intent]
            return Plan("reply", (Say(response=reply),), {"route": "done"})
    routing = _routing(turn, question, knowledge)
    if routing is None:
        return _by_search(turn, knowledge)
    avoid = leans = None
    follows = turn.topic and turn.topic.holds_for(turn.number) and not turn.topic.products
    if follows and not turn.is_payload:
        # "and how long does that take?": routed with the question it follows
        alone = choose(routing, gate)
        question, routing, avoid = _with_topic(question, turn.topic, routing, knowledge, gate)
        leans = _leans_elsewhere(alone, turn.topic, gate)
    slots: dict[str, Any] = {
        "last_question": question,
        "last_routing": routing.to_dict(),
        "route": "done",
    }
    if turn.clarify_options:
        slots["clarify_options"] = None  # not a pick: a new question, and the choice is over
    choice = choose(routing, gate)
    again = avoid is not None and choice.outcome == "article" and choice.top.article_id == avoid[0]
    if leans is not None and again:
        # "can it come faster??" after promo codes: the codes' article again, from another
        # section, while the message alone leans to delivery options: both offered, no guess
        choice = RouteChoice("clarify", [choice.top, leans])
    context = turn.flow_context
    started = context is not None and context.state == "started"
    top = choice.top.intent if choice.top else None
    flow = next_route(choice.outcome, top, details, context, turn.number)
    if flow != "handoff" and turn.offer_reason:
        # the customer moved on from an offer of a person: a later "yes" is not accepting it
        slots["handoff_offer_reason"] = None
    if turn.after_form and flow is None and choice.outcome in {"clarify", "fallback"}:
        # in the middle of a form, and not a question we can answer
        if intent == "deny" or declines(text):
            # "no, I don't want to give you that": the form stops
            return Plan("stopped", (Say(response=replies.FLOW_STOPPED),), slots)
        if started:
            # not understood: say so, and ask the form's question again
            said = Say(replies.NOT_UNDERSTOOD, meta=replies.meta("fallback", intent, None, None))
            return Plan("not_understood", (said,), {**slots, **_resume(turn, context.flow)})
    if flow == ASK_DETAILS:
        return _ask_what_for(turn, details, slots)
    if turn.after_form and started and flow == context.flow:
        # the same flow asked for again in the middle of it ("its 100-92466", read as
        # "track my order"): carry on with what it has, and say what was wrong
        says: tuple[Say, ...] = ()
        if looks_like_a_bad_order_number(text):
            meta = replies.meta("flow", intent, flow=flow)
            says = (Say(replies.BAD_ORDER_NUMBER, meta=meta),)
        given = {name: value for name, value in details.as_slots().items() if value}
        held, added = _another_order(turn, details)
        if added:
            # "and 814-7821 which seems late": the order asked about first is kept, this one
            # is looked up after it with the same email
            given["order_number"] = held
            queued = tuple(dict.fromkeys((*context.queued, held, *added)))
            slots["flow_context"] = replace(context, queued=queued).to_slot()
            meta = replies.meta("flow", intent, flow=flow)
            says = (*says, Say(replies.another_order(added), meta=meta))
        return Plan("flow", says, {**slots, **_resume(turn, flow), **given})
    if flow is not None:
        outcome = "handoff" if flow == "handoff" else "flow"
        if outcome == "flow":
            slots["unresolved_turns"] = 0.0  # a flow under way ends a run of misses
        started_slots = _start(flow, details, context, turn.number, turn.verified_email)
        return Plan(outcome, (), {**slots, **started_slots})
    if choice.outcome == "product":
        # a question about the goods we sell: the catalogue answers ("we don't sell that", with
        # the closest things we have, to a question about nothing but buying); a refusal when
        # it has nothing to say or there is no catalogue
        routed = _product_answer(turn, question, knowledge, slots, routed=True)
        return routed or _cant_answer(turn, choice.top, slots)
    if choice.outcome == "intent" and choice.top.intent == "out_of_scope":
        # a message the router knows is outside what a store does: a miss like any other,
        # unless it asks about something the catalogue clearly has
        return _product_answer(turn, question, knowledge, slots) or _cant_answer(
            turn, choice.top, slots
        )
    if choice.outcome == "intent":
        said = Say(response=replies.RESPONSES.get(choice.top.intent, "utter_out_of_scope"))
        if turn.after_form and choice.top.intent in SMALL_TALK and started:
            # "are you a bot?" in the middle of a form: answer, then carry on where it was
            return Plan("reply", (said,), {**slots, **_resume(turn, context.flow)})
        return Plan("reply", (said,), slots)
    articles = [r.article_id for r in choice.routes if r.article_id]
    hits = knowledge.sections(question, articles, avoid)
    slots["kb_articles_tried"] = _tried(turn, hits)
    slots["topic"] = Topic(question, turn.number).to_slot()
    if choice.outcome == "article" and hits:
        return _article(turn, knowledge, hits[0], intent, choice.top.probability, question, slots)
    if choice.outcome == "clarify" and routing.top.is_product:
        # the product route came first, not sure enough to act on: the catalogue's answer when
        # it clearly has the thing and the message asks about nothing else ("my napkins are the
        # wrong color" is offered the damaged-item article), else the choice
        product = _product_answer(turn, question, knowledge, slots, routed=True, whole=True)
        if product is not None:
            return product
    if choice.outcome == "clarify":
        found = {h.id: h for h in hits}
        options: list[Hit | str] = [
            found[r.article_id] if r.article_id else r.intent
            for r in choice.routes
            if r.intent or r.article_id in found
        ]
        if options:
            said = clarify_reply(options, intent, choice.top.probability)
            offered = [ARTICLE + o.id if isinstance(o, Hit) else INTENT + o for o in options]
            return Plan("clarify", (said,), {**slots, "clarify_options": offered})
    # unlike anything we cover, or nothing plausible to offer: the catalogue's answer when it
    # has the thing (a product the router's best reading describes needs no word of buying)
    described = _product_answer(turn, question, knowledge, slots, routed=routing.top.is_product)
    return described or _cant_answer(turn, choice.top, slots)


def decide_feedback(turn: Turn, knowledge: Knowledge, gate: Gate) -> Plan:
    """A 👍 or 👎 on the last answer: thank, or count a miss and offer a person the second time."""
    walked = _typed_step(turn, knowledge)
    if walked is not None:
        return walked  # "found it" said to a guide's question is its answer, not a verdict
    if _is_a_request(turn, knowledge, gate):
        # "i got the wrong item" is a problem to solve, not a verdict on the last answer
        return Plan("routed", followup="action_kb_answer")
    again = _step_again(turn, knowledge)
    if again is not None:
        return again  # "i don't know" to a guide's question is not a verdict on an answer
    intent = turn.intent
    if intent == "feedback_helpful":
        said = Say(replies.HELPED, meta=replies.meta("smalltalk", intent, turn.last_article))
        return Plan("feedback", (said,), {"unresolved_turns": 0.0})
    misses = turn.misses + 1
    slots: dict[str, Any] = {"unresolved_turns": float(misses)}
    if misses >= 2 and not turn.person_offered:
        return offering_a_person("feedback", intent, "negative_feedback", slots=slots)
    said = Say(
        replies.DID_NOT_HELP,
        buttons=(replies.TALK_TO_A_PERSON,),
        meta=replies.meta("fallback", intent, turn.last_article),
    )
    # its button offers a person: taking it is a handoff for the answer that did not help
    return Plan("feedback", (said,), {**slots, "handoff_offer_reason": "negative_feedback"})


def decide_choice(turn: Turn, knowledge: Knowledge) -> Plan:
    """A pick among the offered choices (a button, "the second one", a title's words), or
    "something else"; anything else is a new question, for the open-message decision."""
    walked = None if turn.clarify_options else _typed_step(turn, knowledge)
    if walked is not None:
        return walked  # "the second one" of a guide's step
    if turn.intent == SOMETHING_ELSE:
        if not turn.clarify_options and not turn.is_payload:
            return Plan("routed", followup="action_kb_answer")  # "neither" with nothing offered
        return _something_else(turn)
    picked = _picked(turn, knowledge)
    if picked is None and turn.chosen_article:
        picked = ARTICLE + turn.chosen_article  # a button of an earlier choice
    if picked is None:
        return Plan("routed", followup="action_kb_answer")
    if not picked.startswith(ARTICLE):
        # a flow starts after the open-message decision's action, where the rules expect it
        return Plan("routed", followup="action_kb_answer")
    return _take(turn, knowledge, picked)


def _picked(turn: Turn, knowledge: Knowledge) -> str | None:
    """The offered option a message picks (a router label), or None if it picks none."""
    options = [label_of(o) for o in turn.clarify_options]
    if turn.chosen_article:
        return ARTICLE + turn.chosen_article if ARTICLE + turn.chosen_article in options else None
    if turn.is_payload:
        return INTENT + turn.intent if INTENT + (turn.intent or "") in options else None
    picked = by_ordinal(turn.text, options)
    if picked is None and options and may_name_a_title(turn.text):
        picked = by_title(turn.text, _titles(options, turn.last_question or "", knowledge))
    return picked


def _titles(options: Sequence[str], question: str, knowledge: Knowledge) -> dict[str, str]:
    """What each offered option's button said."""
    articles = [o[len(ARTICLE) :] for o in options if o.startswith(ARTICLE)]
    titles = {ARTICLE + h.id: h.title for h in knowledge.sections(question, articles)}
    for option in options:
        name = option[len(INTENT) :]
        if option.startswith(INTENT) and name in replies.CHOICES:
            titles[option] = replies.CHOICES[name].title
    return titles


def _take(turn: Turn, knowledge: Knowledge, picked: str) -> Plan:
    """Act on the picked option for the question it was offered for: answer from the article,
    or start the flow with the details that question gave."""
    question = turn.last_question or ""
    slots: dict[str, Any] = {"clarify_options": None, "route": "done"}
    if picked.startswith(ARTICLE):
        hits = knowledge.sections(question, [picked[len(ARTICLE) :]])
        if not hits:
            said = Say(replies.CANT_ANSWER, meta=replies.meta("fallback", "choose_article"))
            return Plan("cant_answer", (said,), slots)
        return _article(turn, knowledge, hits[0], "choose_article", hits[0].score, question, slots)
    flow = FLOW_ROUTES.get(picked[len(INTENT) :])
    if flow is None:
        return _something_else(turn)
    slots["handoff_offer_reason"] = None
    slots["unresolved_turns"] = 0.0  # a choice taken ends a run of misses
    if flow == "handoff":
        return Plan("handoff", (), {**slots, "route": "handoff"})
    details = details_in(question)
    started = _start(flow, details, turn.flow_context, turn.number, turn.verified_email)
    return Plan("flow", (), {**slots, **started})


def _something_else(turn: Turn) -> Plan:
    """None of the choices: ask for other words, and offer a person."""
    said = Say(
        replies.SOMETHING_ELSE_SAID,
        buttons=(replies.TALK_TO_A_PERSON,),
        meta=replies.meta("fallback", SOMETHING_ELSE, None, None, reason="none_of_these"),
    )
    slots = {
        "clarify_options": None,
        "route": "done",
        "unresolved_turns": float(turn.misses + 1),
        "handoff_offer_reason": "low_confidence",
    }
    return Plan("cant_answer", (said,), slots)


def _routing(turn: Turn, question: str, knowledge: Knowledge) -> Routing | None:
    """The router's candidates; a payload's intent is given, not guessed, so it is not routed."""
    routing = None
    if not (turn.is_payload and turn.intent in ROUTABLE):  # a button: "/request_human"
        routing = knowledge.route(question)
    if routing is None and turn.intent in ROUTABLE:
        # a payload, or an index without a router (or one article and no NLU examples): the
        # NLU's intent decides
        return Routing([Route(INTENT + turn.intent, 1.0, 1.0, turn.text)])
    return routing


def _by_search(turn: Turn, knowledge: Knowledge) -> Plan:
    """The decision by search scores alone (an index without a router)."""
    decision = by_scores(knowledge.search(turn.text, 3), SEARCH_ANSWER, SEARCH_CLARIFY)
    slots: dict[str, Any] = {
        "route": "done",
        "last_question": turn.text,
        "kb_articles_tried": _tried(turn, decision.hits),
    }
    top = decision.top
    if decision.outcome == "article":
        return _article(turn, knowledge, top, turn.intent, top.score, turn.text, slots)
    if decision.outcome == "clarify":
        said = clarify_reply(decision.hits, turn.intent, top.score)
        return Plan("clarify", (said,), {**slots, "clarify_options": [h.id for h in decision.hits]})
    return _cant_answer(turn, top, slots)


def _is_a_request(turn: Turn, knowledge: Knowledge, gate: Gate) -> bool:
    """Typed words the NLU took for 👍/👎 but the router places with an article, a flow or the
    catalogue ("teapot with infuser")."""
    if turn.is_payload or len(turn.text.split()) < 3:
        return False  # the widget's buttons, or "didn't help": feedback as meant
    routing = knowledge.route(turn.text)
    if routing is None:
        return False
    choice = choose(routing, gate)
    return choice.outcome in {"article", "product"} or (
        choice.outcome == "intent" and choice.top.intent not in {"out_of_scope", "chitchat"}
    )


def _answered(hit: Hit, question: str, number: int) -> dict[str, Any]:
    """The slots of an article answer: what was answered (the topic a follow-up leans on), and
    no misses in a row any more."""
    topic = Topic(question, number, hit.id, hit.anchor, hit.title) if question else None
    return {
        "last_article": hit.id,
        "unresolved_turns": 0.0,
        "topic": topic.to_slot() if topic else None,
    }


def _with_topic(
    text: str, topic: Topic, routing: Routing, knowledge: Knowledge, gate: Gate
) -> tuple[str, Routing, tuple[str, str] | None]:
    """A follow-up's question, routing and the section not to quote again.

    A message that only makes sense after the last question ("and how long does that take?")
    is routed together with it, and the section that answered it is not quoted again; one
    that says what it wants on its own (small talk, "a person please", "what about gift
    cards?" answered from its own article) is left as it is.
    """
    if not is_follow_up(text):
        return text, routing, None
    alone = choose(routing, gate)
    if alone.outcome == "intent" and alone.top.intent not in {"out_of_scope", "chitchat"}:
        return text, routing, None
    if alone.outcome == "article" and subject_words(text):
        return text, routing, None
    joined = topic.with_follow_up(text)
    together = knowledge.route(joined)
    if together is None:
        return text, routing, None
    avoid = (topic.article, topic.section or "") if topic.article else None
    return joined, together, avoid


def _leans_elsewhere(alone: RouteChoice, topic: Topic, gate: Gate) -> Route | None:
    """The article a follow-up leans to on its own, when that is not the one that answered
    the question before it and is plausible enough to offer (None otherwise)."""
    if alone.outcome not in {"article", "clarify"} or topic.article is None:
        return None
    return next(
        (
            r
            for r in alone.routes
            if r.article_id and r.article_id != topic.article and r.probability >= gate.clarify
        ),
        None,
    )


def _cant_answer(turn: Turn, top: Route | Hit | None, slots: dict[str, Any]) -> Plan:
    """Say we can't answer; the second miss in a row, offer a person once in the conversation,
    and after that a refusal carries the button instead of the same question again."""
    if isinstance(top, Route):
        score, top_article = top.probability, top.article_id or top.label
    elif isinstance(top, Hit):
        score, top_article = top.score, top.id
    else:
        score, top_article = None, None
    misses = turn.misses + 1
    slots = {**slots, "unresolved_turns": float(misses)}
    if turn.person_offered:
        # asked once already: the refusal offers the button, and a "yes" still accepts
        said = replies.cant_answer(turn.intent, score, top_article, with_button=True)
        return Plan("cant_answer", (said,), {**slots, "handoff_offer_reason": "low_confidence"})
    said = replies.cant_answer(turn.intent, score, top_article)
    if misses >= 2:
        return offering_a_person("cant_answer", turn.intent, "low_confidence", (said,), slots)
    return Plan("cant_answer", (said,), slots)


def _ask_what_for(turn: Turn, details: Details, slots: dict[str, Any]) -> Plan:
    """An email on its own and nothing to use it for: ask, and keep it for the next request."""
    said = Say(
        replies.ASK_WHAT_FOR.format(email=details.email),
        buttons=(replies.RESET_MY_PASSWORD, replies.TRACK_AN_ORDER),
        meta=replies.meta("clarify", turn.intent, options=[]),
    )
    kept = FlowContext(None, "details", turn.number, email=details.email)
    return Plan("ask_details", (said,), {**slots, "flow_context": kept.to_slot()})


def _start(
    flow: str,
    details: Details,
    context: FlowContext | None,
    turn: int,
    verified_email: str | None = None,
) -> dict[str, Any]:
    """Set a flow off with the details of this request only (no slot from an earlier flow but
    the email an order was already found with, for another order)."""
    if flow not in FLOWS:
        return {"route": flow}
    # every number of the message, as written: the form keeps only one of them
    several = flow == "track_order" and details.more_orders
    queued = (details.order_number, *details.more_orders) if several else ()
    return {
        "route": flow,
        **starting_slots(flow, details, context, turn, verified_email),
        "form_tries": 0.0,
        "flow_failed": None,
        "flow_context": FlowContext(flow, "started", turn, queued=queued).to_slot(),
    }


def _another_order(turn: Turn, details: Details) -> tuple[str | None, tuple[str, ...]]:
    """The order being tracked, and the numbers a message adds to it ("and 814-7821 too")."""
    held = turn.order_number_before or turn.order_number
    current = held if valid_order_number(str(held or "")) else None
    if not current or not details.order_number or not adds_another(turn.text):
        return current, ()
    return current, tuple(n for n in (details.order_number, *details.more_orders) if n != current)


def _resume(turn: Turn, flow: str | None) -> dict[str, Any]:
    """Go back to a form the customer left for small talk, keeping only valid answers."""
    if flow not in FLOWS:
        return {}
    email, number = turn.email, turn.order_number
    return {
        "route": flow,
        "email": email if email and valid_email(str(email)) else None,
        "order_number": number if number and valid_order_number(str(number)) else None,
    }


def _tried(turn: Turn, hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """The articles offered in this conversation, this turn's added (the last MAX_TRIED)."""
    tried = list(turn.tried)
    for hit in hits:
        if all(t["id"] != hit.id for t in tried):
            tried.append(
                {"id": hit.id, "title": hit.title, "url": hit.link, "score": round(hit.score, 4)}
            )
    return tried[-MAX_TRIED:]


def _product_answer(
    turn: Turn,
    question: str,
    knowledge: Knowledge,
    slots: dict[str, Any] | None = None,
    routed: bool = False,
    whole: bool = False,
) -> Plan | None:
    """The catalogue's answer: the products as cards. On the router's `product` route
    (`routed`) a product the message describes is answered whatever its wording; otherwise
    (a question no article answers) only when the message reads as one about buying. Something
    we do not sell is said so, with the closest things we have, only when the question can be
    about nothing but buying ("do you sell laptops?"), on the route too: "do you wrap
    presents?" stays a refusal the content-gap report counts (out-of-scope answers stay rare).
    `slots`: the decision's (the routing kept for `bot eval`); `whole`: only when the product
    accounts for every word the message asks about."""
    products = getattr(knowledge, "products", None)  # a Knowledge without a catalogue
    reply = products(question, routed=routed) if products is not None else None
    if reply is None or (not reply.known and not clearly_shopping(question)):
        return None
    if whole and reply.unnamed:
        return None
    plan = _product_plan(turn, question, reply)
    kept = {k: v for k, v in (slots or {}).items() if k == "last_routing"}
    return replace(plan, slots={**kept, **plan.slots})


def _product_plan(
    turn: Turn, question: str, reply: ProductReply, topic: Topic | None = None
) -> Plan:
    """A product answer; the products it showed are the topic "that one" points at next."""
    shown = topic or Topic(question, turn.number, products=tuple(reply.products))
    shown = replace(shown, restock=reply.restock)  # what "tell me when it's back" is about
    slots: dict[str, Any] = {
        "route": "done",
        "last_question": question,
        "topic": shown.to_slot() if shown.products else None,
        "clarify_options": None,
        # an answer ends a run of misses: the next miss is the first again
        "unresolved_turns": 0.0 if reply.known else float(turn.misses),
    }
    return Plan("product", reply.says, slots)


def _which_one(text: str, shown: Sequence[str], reply: ProductReply) -> Say | None:
    """ "How much is it?" after several products: which one, a button per product (in the order
    shown) that asks the same of it. None when the answer did not show them all."""
    cards = {c.get("id"): c for say in reply.says for c in (say.meta or {}).get("products", [])}
    if len(shown) > len(PLACES) or any(p not in cards for p in shown):
        return None
    buttons = tuple(
        Button(cards[p]["title"], asked_of(about_the(text, place))) for place, p in enumerate(shown)
    )
    return Say(
        replies.PRODUCT_WHICH,
        buttons=buttons,
        meta=replies.meta("product", products=[], more=None, which=True),
    )


def _about_shown(turn: Turn, knowledge: Knowledge) -> Plan | None:
    """ "The second one", "in blue instead", "how much is it?" after products were shown: the
    answer about those products (None when the message is not about them)."""
    topic = turn.topic
    if topic is None or not topic.products or not topic.holds_for(turn.number):
        return None
    reference = refers_to(turn.text, topic.products, topic.focus, topic.question)
    products = getattr(knowledge, "products", None)
    if reference is None or products is None:
        return None
    reply = products(reference.asked or turn.text, reference.products, reference.pick)
    if reply is None or not reply.products:
        return None
    if reference.which:
        asked = _which_one(turn.text, reference.products, reply)
        if asked is not None:
            kept = replace(topic, turn=turn.number)  # the click counts in the same list
            slots = {"route": "done", "clarify_options": None, "topic": kept.to_slot()}
            return Plan("product", (asked,), slots)
    if len(reply.products) > 1:  # a list again ("in blue instead" of three): these are shown now
        kept = replace(topic, turn=turn.number, products=tuple(reply.products), focus=None)
    else:  # the list shown stays what "the third one" counts in; this one is what "it" is now
        kept = replace(topic, turn=turn.number, focus=reply.products[0])
    return _product_plan(turn, topic.question, reply, kept)
