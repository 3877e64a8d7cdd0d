"""What several command modules share: settings loading, output consoles, --json and errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from bot.settings import Settings, load_settings

if TYPE_CHECKING:
    from bot.kb.builder import BuildOptions
    from bot.kb.search import KnowledgeBase

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

KbOption = Annotated[Path | None, typer.Option("--kb", help="Articles folder (default: settings).")]
IndexOption = Annotated[
    Path | None, typer.Option("--index", help="Index folder (default: settings).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def get_settings(kb: Path | None = None, index: Path | None = None, **extra: Any) -> Settings:
    """The settings, with the given overrides; invalid settings are a clean error, not a trace."""
    from pydantic import ValidationError

    try:
        return load_settings(kb_dir=kb, index_dir=index, **extra)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid settings (BOT_* environment or settings file): {problems}") from exc


def print_json(data: Any) -> None:
    """Write data to stdout as indented JSON (what --json prints)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error on stderr and return the exit to raise: `raise fail("...")`."""
    err.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def open_kb(settings: Settings) -> KnowledgeBase:
    """The knowledge base the settings' index folder holds, or a clean error saying what to do."""
    from bot.kb.search import KnowledgeBase
    from bot.kb.store import KBIndexError

    try:
        return KnowledgeBase(settings.index_dir, settings.embedding_model)
    except KBIndexError as exc:
        raise fail(str(exc)) from exc


def build_options(settings: Settings) -> BuildOptions:
    """The build options the settings describe."""
    from bot.kb.builder import options_from

    return options_from(settings)
