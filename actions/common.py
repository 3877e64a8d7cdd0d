"""Shared wiring of the actions: the KB, store and queue opened once; a Turn in, a Plan out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.conversations import transcript_lines
from bot.dialogue.answers import Gate
from bot.dialogue.flows import FlowContext
from bot.dialogue.followup import Topic
from bot.dialogue.guides import ENTITY as GUIDE_ENTITY
from bot.dialogue.guides import Walk
from bot.dialogue.knowledge import IndexKnowledge
from bot.dialogue.plan import Plan, Say
from bot.dialogue.references import QUESTION_ENTITY
from bot.dialogue.turn import Turn
from bot.handoff import HandoffQueue
from bot.kb.encoder import load_query_encoder
from bot.kb.learned import LearnedStore
from bot.kb.learning import LearnedRouting
from bot.kb.search import KnowledgeBase, QueryEncoder
from bot.ratelimit import Counter
from bot.settings import Settings, load_settings
from bot.store.base import StoreBackend

if TYPE_CHECKING:
    from bot.catalog.search import ProductSearch
    from bot.dialogue.products import ProductReply

logger = logging.getLogger(__name__)


@cache
def settings() -> Settings:
    """The bot's settings, read once per process."""
    return load_settings()


@cache
def knowledge_base() -> KnowledgeBase:
    """The search index; it reloads itself when a newer version is published, and its router
    learns the questions people confirmed (polled in the queue's database)."""
    return KnowledgeBase(
        settings().index_dir,
        settings().embedding_model,
        query_encoder=query_encoder_factory(),
        learning=learning,
    )


def learning(kb: KnowledgeBase) -> LearnedRouting:
    """What keeps the router current with the confirmed questions of the queue's database."""
    store = LearnedStore(queue().engine)
    return LearnedRouting(store, kb.encode, settings().learned_poll_seconds)


def query_encoder_factory() -> Callable[[], QueryEncoder] | None:
    """The ONNX question encoder when the settings ask for it (None: sentence-transformers)."""
    if settings().query_encoder != "onnx":
        return None
    return partial(
        load_query_encoder,
        settings().embedding_model,
        settings().encoder_dir,
        settings().action_torch_threads,
    )


@cache
def store() -> StoreBackend:
    """The accounts and orders backend the settings choose."""
    from bot.store.factory import open_store

    return open_store(settings())


@cache
def queue() -> HandoffQueue:
    """The handoff queue, with its webhook notifications."""
    from bot.web.app import open_queue

    return open_queue(settings())


@cache
def limits() -> Counter:
    """The rate-limit counters the web app counts in (tickets are counted here)."""
    from bot.web.limits import open_counter

    return open_counter(settings(), queue().engine)


def gate() -> Gate:
    """The router's thresholds from the settings."""
    config = settings()
    return Gate(config.answer_threshold, config.clarify_threshold, config.similarity_threshold)


_PRODUCTS: dict[str, Any] = {"search": None, "tried_at": None}
PRODUCTS_RETRY_SECONDS = 30.0


def product_search() -> ProductSearch | None:
    """The catalogue's search, once a catalogue has been synced (looked for again every 30 s
    until then: `bot up` syncs it in the background); it follows new syncs by itself."""
    import time

    from bot.catalog.search import CatalogModelMismatch, ProductSearch
    from bot.catalog.store import CatalogNotFound

    if _PRODUCTS["search"] is not None:
        return _PRODUCTS["search"]
    tried = _PRODUCTS["tried_at"]
    if tried is not None and time.monotonic() - tried < PRODUCTS_RETRY_SECONDS:
        return None
    _PRODUCTS["tried_at"] = time.monotonic()
    try:
        _PRODUCTS["search"] = ProductSearch(
            settings().catalog_dir, settings().embedding_model, encoder=query_encoder_factory()
        )
    except (CatalogNotFound, CatalogModelMismatch) as exc:
        logger.warning(f"no product answers yet: {exc}")
    return _PRODUCTS["search"]


def product_reply(
    question: str,
    among: Sequence[str] | None = None,
    pick: bool = False,
    named: bool = False,
    routed: bool = False,
) -> ProductReply | None:
    """The catalogue's answer to a question, live stock from the store; `among`: about these
    products only (the ones just shown), `pick`: one of them chosen ("that one"); `named`: only
    the product a question about something else names, if it names one; `routed`: the router
    read it as a product question."""
    from bot.dialogue.products import answer_product, named_product

    search = product_search()
    if search is None:
        return None
    if named:
        return named_product(question, search, store())
    return answer_product(question, search, store(), among=among, pick=pick, routed=routed)


def knowledge(tracker: Tracker) -> IndexKnowledge:
    """The KB lookups for this turn, fused with the NLU's ranking of its message."""
    ranking = tracker.latest_message.get("intent_ranking")
    return IndexKnowledge(knowledge_base(), ranking, settings().nlu_weight, product_reply)


def _said(tracker: Tracker, message: dict) -> str:
    """The customer's words: what they typed, or the question a "which one?" button asks."""
    asked = next(tracker.get_latest_entity_values(QUESTION_ENTITY), None)
    return asked if isinstance(asked, str) and asked.strip() else message.get("text") or ""


def turn_of(tracker: Tracker) -> Turn:
    """The latest customer message and the slots the decision reads."""
    message = tracker.latest_message
    return Turn(
        text=_said(tracker, message),
        intent=intent_of(tracker),
        entities=tuple(message.get("entities") or ()),
        number=customer_turns(tracker),
        after_form=tracker.latest_action_name == "action_deactivate_loop",
        flow_context=FlowContext.from_slot(tracker.get_slot("flow_context")),
        email=tracker.get_slot("email"),
        order_number=tracker.get_slot("order_number"),
        order_number_before=slot_before_message(tracker, "order_number"),
        verified_email=tracker.get_slot("verified_email"),
        customer_email=tracker.get_slot("customer_email"),
        offer_reason=tracker.get_slot("handoff_offer_reason"),
        misses=int(float(tracker.get_slot("unresolved_turns") or 0)),
        person_offered=bool(tracker.get_slot("person_offered")),
        tried=tuple(tracker.get_slot("kb_articles_tried") or ()),
        last_question=tracker.get_slot("last_question"),
        topic=Topic.from_slot(tracker.get_slot("topic")),
        last_article=tracker.get_slot("last_article"),
        clarify_options=tuple(tracker.get_slot("clarify_options") or ()),
        chosen_article=next(tracker.get_latest_entity_values("article_id"), None),
        guide=Walk.from_slot(tracker.get_slot("guide")),
        guide_step=next(tracker.get_latest_entity_values(GUIDE_ENTITY), None),
    )


def say(dispatcher: CollectingDispatcher, says: Iterable[Say]) -> None:
    """Send messages: a domain response by name, or text with buttons and its metadata."""
    for message in says:
        if message.response:
            dispatcher.utter_message(response=message.response)
            continue
        dispatcher.utter_message(
            text=message.text,
            buttons=[{"title": b.title, "payload": b.payload} for b in message.buttons],
            json_message=message.meta,
        )


def render(dispatcher: CollectingDispatcher, plan: Plan) -> list[dict[str, Any]]:
    """Say the plan's messages; its slot changes (and a follow-up action) as Rasa events."""
    say(dispatcher, plan.says)
    events = [SlotSet(name, value) for name, value in plan.slots.items()]
    return [*events, FollowupAction(plan.followup)] if plan.followup else events


def slot_before_message(tracker: Tracker, name: str) -> Any:
    """A slot's value as it was before the latest customer message (its entities may have set
    it since: "and 814-7821" fills the order number the form was holding)."""
    events = tracker.events
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    for event in reversed(events[: max(last_user, 0)]):
        if event.get("event") == "slot" and event.get("name") == name:
            return event.get("value")
        if event.get("event") == "restart" or event.get("event") == "session_started":
            return None
    return None


def customer_turns(tracker: Tracker) -> int:
    """How many messages the customer has sent in this conversation (this one included)."""
    return sum(1 for e in tracker.events if e.get("event") == "user")


def intent_of(tracker: Tracker) -> str | None:
    """The latest user message's intent name."""
    return (tracker.latest_message.get("intent") or {}).get("name")


def top_intents(tracker: Tracker, n: int = 3) -> list[dict[str, Any]]:
    """The NLU's best intents for the latest message, with confidences."""
    ranking = tracker.latest_message.get("intent_ranking") or []
    return [
        {"name": r["name"], "confidence": round(float(r.get("confidence", 0)), 4)}
        for r in ranking[:n]
        if r.get("name")
    ]


def transcript(tracker: Tracker) -> list[dict[str, str]]:
    """The conversation so far as lines for a handoff ticket (bot.conversations)."""
    return transcript_lines(tracker.events)
