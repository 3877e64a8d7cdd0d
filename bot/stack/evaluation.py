"""A throwaway Rasa and action server for evaluation traffic, deciding as the bot does."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot.settings import Settings
from bot.stack.env import own_stack_settings
from bot.stack.model import model_path
from bot.stack.plan import StackError
from bot.stack.supervisor import running_stack
from bot.tokens import internal_token

# What an evaluation's own stack takes from the bot's settings: how it decides, not where it
# keeps conversations, tickets and outbox (those go to a throwaway folder).
DECISION_SETTINGS = (
    "kb_dir",
    "index_dir",
    "help_base_url",
    "embedding_model",
    "answer_threshold",
    "clarify_threshold",
    "similarity_threshold",
    "nlu_weight",
    "nlu_dir",
)


def evaluation_settings(settings: Settings, folder: Path) -> Settings:
    """The evaluation stack's settings: settings' DECISION_SETTINGS, the demo store, free ports
    and data in folder; nothing else of settings or of the BOT_* environment."""
    fields = {}
    for name in DECISION_SETTINGS:
        value = getattr(settings, name)
        fields[name] = value.resolve() if isinstance(value, Path) else value
    return own_stack_settings(folder, store_backend="demo", **fields)


@contextlib.contextmanager
def evaluation_stack(settings: Settings, model: Path | None = None) -> Iterator[tuple[str, str]]:
    """Rasa and an action server of their own, for test traffic: the same Rasa model, index and
    thresholds as settings, on free ports, with a throwaway data folder and the demo store, so an
    evaluation's conversations never reach the real queue, tracker store or outbox.

    Yields the Rasa server's URL and its token.
    """
    model = model or model_path()
    if not model.exists():
        raise StackError(f"no trained Rasa model at {model}: run `bot train` first")
    folder = Path(tempfile.mkdtemp(prefix="bot-eval-stack-"))
    try:
        own = evaluation_settings(settings, folder)
        with running_stack(own, model, folder, roles=("actions", "rasa")) as (_, rasa):
            yield rasa.url, internal_token(own, "rasa")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
