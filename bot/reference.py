"""The settings and CLI references in docs/, rendered from the code so they cannot drift.

`settings_reference()` renders docs/settings.md from the `Settings` class (each field's name,
environment variable, type, default and description); `cli_reference()` renders docs/cli.md from
the `bot` command's own help, every command and sub-command, at a fixed width and without colour,
so the text is the same on any machine and terminal. `bot docs` (`make docs`) writes both, and
tests/test_docs_reference.py fails when the committed files differ from what the code says.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
DOCS_DIR = ROOT / "docs"
HELP_WIDTH = 100
GENERATED = "<!-- Made by `make docs` (bot/reference.py) from {source}. Do not edit by hand. -->"

SETTINGS_INTRO = """\
One settings object, `Settings` in `bot/settings.py`. Every field has a default. A value is read,
first match wins, from:

1. the environment variable `BOT_<FIELD>` (names are not case-sensitive);
2. the TOML settings file, `bot.toml` in the working directory or the file named by
   `BOT_SETTINGS_FILE`, as `field = value` at the top level;
3. the default below.

Lists and tables are TOML arrays and tables in the file (`widget_origins = ["https://shop.example.com"]`,
`[agent_tokens]` with `alice = "sha256:..."`) and JSON in the environment
(`BOT_WIDGET_ORIGINS='["https://shop.example.com"]'`). Relative paths are relative to the
directory the command runs in (`make run` runs in the repository). An invalid value stops any
`bot` command with the field and the rule it broke.

Defaults are shown as you would write them in `bot.toml`; "none" means unset, and the
description says what is used then.
"""

CLI_INTRO = """\
Every command of `.venv/bin/bot`, with the text its `--help` prints. A command that prints a
result takes `--json` and then prints JSON instead, for scripts. The settings
([settings.md](settings.md)) give every value that is not on the command line; an option given
here wins over them.
"""


def settings_reference() -> str:
    """docs/settings.md: every field of `Settings` with its variable, type, default and help."""
    from bot.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    lines = [
        "# Settings reference",
        "",
        GENERATED.format(source="the `Settings` class in `bot/settings.py`"),
        "",
        SETTINGS_INTRO,
        "| setting | environment variable | type | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        kind = _type_name(field.annotation) + _constraints(field.metadata)
        cells = [
            f"`{name}`",
            f"`{prefix}{name.upper()}`",
            kind,
            _default_of(field),
            " ".join((field.description or "").split()),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    derived = [
        (name, " ".join((member.__doc__ or "").split()))
        for name, member in vars(Settings).items()
        if isinstance(member, property) and not name.startswith("_")
    ]
    if derived:
        lines += [
            "",
            "## Derived values",
            "",
            "Read-only, computed from the settings above.",
            "",
            "| name | what it is |",
            "|---|---|",
        ]
        lines += [f"| `{name}` | {_cell(doc)} |" for name, doc in derived]
    return "\n".join(lines) + "\n"


def cli_reference(app: Any = None) -> str:
    """docs/cli.md: the --help text of `bot` and of every command under it, in order."""
    import typer

    if app is None:
        from bot.cli import app
    root = typer.main.get_command(app)  # a fresh command tree: changing it changes nothing else
    sections: list[tuple[str, str]] = []

    def walk(command: Any, name: str, parent: Any) -> None:
        command.rich_markup_mode = None  # click's plain help: no panels, colours or terminal size
        ctx = command.context_class(
            command,
            info_name=name,
            parent=parent,
            terminal_width=HELP_WIDTH,
            max_content_width=HELP_WIDTH,
            color=False,
        )
        sections.append((ctx.command_path, command.get_help(ctx)))
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, sub_name, ctx)

    walk(root, "bot", None)
    lines = [
        "# CLI reference",
        "",
        GENERATED.format(source="the `bot` command's `--help`"),
        "",
        CLI_INTRO,
    ]
    lines += [f"- [`{path}`](#{_anchor(path)})" for path, _ in sections]
    for path, text in sections:
        body = "\n".join(line.rstrip() for line in _machine_independent(text).splitlines())
        lines += ["", f"## `{path}`", "", "```text", body.strip("\n"), "```"]
    return "\n".join(lines) + "\n"


def references() -> dict[str, str]:
    """File name under docs/ -> the text it should hold."""
    return {"settings.md": settings_reference(), "cli.md": cli_reference()}


def stale_references(docs_dir: Path = DOCS_DIR) -> list[Path]:
    """The reference files under docs_dir that differ from what the code says (or are missing)."""
    stale = []
    for name, text in references().items():
        path = docs_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def write_references(docs_dir: Path = DOCS_DIR) -> list[Path]:
    """Write the reference files that changed; the paths written."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in references().items():
        path = docs_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def _type_name(annotation: Any) -> str:
    """A type as a reader of bot.toml thinks of it: `int`, `str or none`, `"onnx" or "torch"`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or none" if type(None) in args else "")
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(metadata: list[Any]) -> str:
    """The field's limits, e.g. ` (1 to 65535)`, ` (> 0)`, ` (matching ^[a-z]+$)`."""
    low = high = None
    parts = []
    for item in metadata:
        if getattr(item, "ge", None) is not None:
            low = f"{item.ge}"
        if getattr(item, "gt", None) is not None:
            parts.append(f"> {item.gt}")
        if getattr(item, "le", None) is not None:
            high = f"{item.le}"
        if getattr(item, "lt", None) is not None:
            parts.append(f"< {item.lt}")
        if getattr(item, "pattern", None) is not None:
            parts.append(f"matching `{item.pattern}`")
    if low is not None and high is not None:
        parts.insert(0, f"{low} to {high}")
    elif low is not None:
        parts.insert(0, f"≥ {low}")
    elif high is not None:
        parts.insert(0, f"≤ {high}")
    return f" ({', '.join(parts)})" if parts else ""


def _default_of(field: Any) -> str:
    """The default as TOML would spell it, with paths under the repository made relative."""
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "none"
    return f"`{_toml(value)}`"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return json.dumps(_machine_independent(str(value)))
    if isinstance(value, str):
        return json.dumps(_machine_independent(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _machine_independent(text: str) -> str:
    """Paths of this checkout and this user written as the same text on every machine."""
    text = text.replace(str(ROOT) + "/", "").replace(str(ROOT), ".")
    home = str(Path.home())
    return text.replace(home, "~") if len(home) > 1 else text


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")
