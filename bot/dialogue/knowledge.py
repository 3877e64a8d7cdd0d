"""What a turn's decision may ask the knowledge base: routing, the best sections, a search."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bot.dialogue.guides import guides_of
from bot.kb.guide import Step
from bot.kb.router import Routing
from bot.kb.search import Hit, KnowledgeBase

if TYPE_CHECKING:
    from bot.dialogue.products import ProductReply


class Knowledge(Protocol):
    """Read-only lookups, asked only when the decision needs them (they encode the message)."""

    def route(self, question: str) -> Routing | None:
        """The router's candidates for a message (None when the index has no router)."""
        ...

    def sections(
        self, question: str, article_ids: Sequence[str], avoid: tuple[str, str] | None = None
    ) -> list[Hit]:
        """The section of each article that best answers the question (unknown ids left out);
        `avoid` (article, anchor): another section of that article when it has one."""
        ...

    def search(self, question: str, k: int) -> list[Hit]:
        """The k best articles for a question, by search scores alone."""
        ...


class IndexKnowledge:
    """Knowledge from the search index, fused with the NLU's ranking; one encoding a question."""

    def __init__(
        self,
        kb: KnowledgeBase,
        intent_ranking: list[dict] | None,
        nlu_weight: float,
        products: Callable[..., ProductReply | None] | None = None,
    ) -> None:
        self.kb, self.intent_ranking, self.nlu_weight = kb, intent_ranking, nlu_weight
        self._products = products
        self._vectors: dict[str, np.ndarray | None] = {}

    def _vector(self, question: str) -> np.ndarray | None:
        if question not in self._vectors:
            self._vectors[question] = self.kb.encode(question) if question.strip() else None
        return self._vectors[question]

    def route(self, question: str) -> Routing | None:
        """The router's candidates for a message (None when the index has no router)."""
        return self.kb.route(
            question, self.intent_ranking, self.nlu_weight, vector=self._vector(question)
        )

    def sections(
        self, question: str, article_ids: Sequence[str], avoid: tuple[str, str] | None = None
    ) -> list[Hit]:
        """The section of each article that best answers the question (unknown ids left out);
        `avoid` (article, anchor): another section of that article when it has one."""
        vector = self._vectors.get(question)
        hits = [
            self.kb.best_section(question, a, vector, avoid[1] if avoid and avoid[0] == a else None)
            for a in article_ids
        ]
        return [h for h in hits if h is not None]

    def search(self, question: str, k: int) -> list[Hit]:
        """The k best articles for a question, by search scores alone."""
        return self.kb.search(question, k=k)

    def guides(self, article_id: str) -> list[tuple[Step, Hit]]:
        """The article's guides in reading order, each with the section that holds it."""
        return guides_of(self.kb.article_sections(article_id))

    def products(
        self,
        question: str,
        among: Sequence[str] | None = None,
        pick: bool = False,
        routed: bool = False,
    ) -> ProductReply | None:
        """The catalogue's answer to a question (None without a catalogue); `among`: about
        these products only, `pick`: one of them chosen ("that one"); `routed`: the router read
        it as a product question."""
        if self._products is None:
            return None
        return self._products(question, among, pick, routed=routed)

    def named_product(self, question: str) -> ProductReply | None:
        """The one product a question about something else names, with its price and stock
        (None without a catalogue, or when it names none)."""
        if self._products is None:
            return None
        return self._products(question, None, False, named=True)
