"""A customer talking to the turn's decision on a real index, without Rasa: each message becomes
a Turn built from the slots the plans so far have set, as actions/common.py builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.dialogue.answers import Gate
from bot.dialogue.decision import decide
from bot.dialogue.flows import FlowContext
from bot.dialogue.followup import Topic
from bot.dialogue.guides import Walk
from bot.dialogue.knowledge import IndexKnowledge
from bot.dialogue.plan import Plan
from bot.dialogue.turn import Turn
from bot.kb.search import KnowledgeBase
from bot.settings import Settings

DEFAULTS = Settings(settings_file=Path("/nonexistent/bot.toml"))
GATE = Gate(DEFAULTS.answer_threshold, DEFAULTS.clarify_threshold, DEFAULTS.similarity_threshold)


@dataclass
class DecisionChat:
    """One conversation: `say` a message, get the plan; the slots carry over."""

    kb: KnowledgeBase
    slots: dict[str, Any] = field(default_factory=dict)
    number: int = 0

    def turn(self, text: str, intent: str | None = None) -> Turn:
        s = self.slots
        return Turn(
            text=text,
            intent=intent,
            number=self.number,
            flow_context=FlowContext.from_slot(s.get("flow_context")),
            email=s.get("email"),
            order_number=s.get("order_number"),
            verified_email=s.get("verified_email"),
            offer_reason=s.get("handoff_offer_reason"),
            misses=int(s.get("unresolved_turns") or 0),
            person_offered=bool(s.get("person_offered")),
            tried=tuple(s.get("kb_articles_tried") or ()),
            last_question=s.get("last_question"),
            topic=Topic.from_slot(s.get("topic")),
            last_article=s.get("last_article"),
            clarify_options=tuple(s.get("clarify_options") or ()),
            guide=Walk.from_slot(s.get("guide")),
        )

    def say(self, text: str, intent: str | None = None) -> Plan:
        self.number += 1
        plan = decide(self.turn(text, intent), IndexKnowledge(self.kb, None, 0.0), GATE)
        self.slots.update(plan.slots)
        return plan


def cited(plan: Plan) -> str | None:
    """The article#anchor an answer cites, if it is one."""
    for said in plan.says:
        citation = (said.meta or {}).get("citation")
        if citation:
            return f"{citation['id']}#{citation['url'].partition('#')[2]}"
    return None
