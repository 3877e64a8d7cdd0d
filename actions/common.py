"""Shared wiring of the actions: the KB, store and queue opened once; a Turn in, a Plan out."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache, partial
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.conversations import transcript_lines
from bot.dialogue.answers import Gate
from bot.dialogue.flows import FlowContext
from bot.dialogue.followup import Topic
from bot.dialogue.knowledge import IndexKnowledge
from bot.dialogue.plan import Plan, Say
from bot.dialogue.turn import Turn
from bot.handoff import HandoffQueue
from bot.kb.encoder import load_query_encoder
from bot.kb.search import KnowledgeBase, QueryEncoder
from bot.settings import Settings, load_settings
from bot.store.base import StoreBackend


@cache
def settings() -> Settings:
    """The bot's settings, read once per process."""
    return load_settings()


@cache
def knowledge_base() -> KnowledgeBase:
    """The search index; it reloads itself when a newer version is published."""
    return KnowledgeBase(
        settings().index_dir, settings().embedding_model, query_encoder=query_encoder_factory()
    )


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


def gate() -> Gate:
    """The router's thresholds from the settings."""
    config = settings()
    return Gate(config.answer_threshold, config.clarify_threshold, config.similarity_threshold)


def knowledge(tracker: Tracker) -> IndexKnowledge:
    """The KB lookups for this turn, fused with the NLU's ranking of its message."""
    ranking = tracker.latest_message.get("intent_ranking")
    return IndexKnowledge(knowledge_base(), ranking, settings().nlu_weight)


def turn_of(tracker: Tracker) -> Turn:
    """The latest customer message and the slots the decision reads."""
    message = tracker.latest_message
    return Turn(
        text=message.get("text") or "",
        intent=intent_of(tracker),
        entities=tuple(message.get("entities") or ()),
        number=customer_turns(tracker),
        after_form=tracker.latest_action_name == "action_deactivate_loop",
        flow_context=FlowContext.from_slot(tracker.get_slot("flow_context")),
        email=tracker.get_slot("email"),
        order_number=tracker.get_slot("order_number"),
        order_number_before=slot_before_message(tracker, "order_number"),
        verified_email=tracker.get_slot("verified_email"),
        offer_reason=tracker.get_slot("handoff_offer_reason"),
        misses=int(float(tracker.get_slot("unresolved_turns") or 0)),
        person_offered=bool(tracker.get_slot("person_offered")),
        tried=tuple(tracker.get_slot("kb_articles_tried") or ()),
        last_question=tracker.get_slot("last_question"),
        topic=Topic.from_slot(tracker.get_slot("topic")),
        last_article=tracker.get_slot("last_article"),
        clarify_options=tuple(tracker.get_slot("clarify_options") or ()),
        chosen_article=next(tracker.get_latest_entity_values("article_id"), None),
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
