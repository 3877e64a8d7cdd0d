"""`bot docs`: write the settings and CLI references in docs/ from the code, or check them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.commands.common import JsonOption, fail, out, print_json


def docs(
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 when a reference is out of date."),
    ] = False,
    docs_dir: Annotated[
        Path | None,
        typer.Option("--docs", help="Folder of the references (default: the repository's docs/)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Render docs/settings.md and docs/cli.md from the Settings class and the commands' help."""
    from bot.reference import DOCS_DIR, references, stale_references, write_references

    folder = docs_dir or DOCS_DIR
    names = [folder / name for name in references()]
    changed = stale_references(folder) if check else write_references(folder)
    if as_json:
        key = "out_of_date" if check else "written"
        print_json({"files": [str(p) for p in names], key: [str(p) for p in changed]})
    else:
        for path in names:
            state = ("out of date" if check else "written") if path in changed else "up to date"
            out.print(f"{path}: {state}", markup=False)
    if check and changed:
        raise fail(f"{', '.join(str(p) for p in changed)} out of date: run `make docs`")
