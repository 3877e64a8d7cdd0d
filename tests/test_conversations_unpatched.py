"""The core of the conversation suite against Rasa as shipped (`rasa_speedups = false`).

The patches of rasa_plugins/speedups.py must change how much CPU Rasa spends, never what the
bot does; with them off, the bot must still hold the conversations customers have most: an
answer, a miss, both flows, a switch between them, a handoff and an agent's reply. These run
tests/conversations' own steps (tests/test_conversations.py) on a stack of their own whose
Rasa server runs none of the patches, as its log says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.kb.builder import BuildOptions, build_index
from bot.kb.chunker import ChunkConfig
from bot.kb.embedder import Embedder
from tests import test_conversations as suite
from tests.conftest import DEMO_KB, DEMO_NLU, WebStack
from tests.traffic import NO_RATE_LIMITS

pytestmark = pytest.mark.rasa

CORE = (
    "greeting then a question then thanks",
    "a question the store cannot answer is not answered",
    "tracking asks for the number then the email",
    "a wrong email then the right one retries the lookup",
    "reset asks for the email and sends the link",
    "never mind with a question stops the reset and answers it",
    "from the reset form to order tracking",
    "a person in the middle of the reset form",
    "an agent replies and resolves and the bot is back",
)
NOTHING_PATCHED = "speedups: none installed (rasa_speedups is false)"


@pytest.fixture(scope="module")
def unpatched_stack(
    rasa_model: Path, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebStack]:
    """The whole bot on free ports, its Rasa server with rasa_speedups = false."""
    from bot.stack import (
        free_port,
        own_stack_settings,
        start_action_server,
        start_rasa,
        start_web,
        wait_all,
    )

    folder = tmp_path_factory.mktemp("unpatched-stack")
    web_port = free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    settings = own_stack_settings(
        folder,
        index_dir=folder / "index",
        web_port=web_port,
        help_base_url=f"{web_url}/help/",
        rasa_speedups=False,
        **NO_RATE_LIMITS,
    )
    options = BuildOptions(
        kb_dir=DEMO_KB,
        index_dir=folder / "index",
        base_url=f"{web_url}/help/",
        model="all-MiniLM-L6-v2",
        chunking=ChunkConfig(),
        nlu_dir=DEMO_NLU,
    )
    build_index(options, embedder_factory=lambda name: embedder)
    rasa = start_rasa(settings, rasa_model, folder)
    servers = [start_action_server(settings, folder), rasa, start_web(settings, folder)]
    try:
        wait_all(servers)
        assert NOTHING_PATCHED in rasa.output(), rasa.log
        token = (folder / "var" / "demo-agent.token").read_text().strip()
        yield WebStack(web_url, folder / "var", token, settings)
    finally:
        for server in reversed(servers):
            server.stop()


def test_the_core_conversations_are_all_there() -> None:
    names = {p.values[0]["name"] for p in suite.CONVERSATIONS}
    assert set(CORE) <= names, set(CORE) - names


@pytest.mark.parametrize(
    "conversation", [p for p in suite.CONVERSATIONS if p.values[0]["name"] in CORE]
)
def test_conversation_with_rasa_as_shipped(
    conversation: dict, unpatched_stack: WebStack, store_data: dict[str, Any]
) -> None:
    suite.run_conversation(conversation, unpatched_stack, store_data)
