"""Rasa-side checks of the fence around rasa_plugins/speedups.py: versions, switches, undo."""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

from rasa_plugins import patches, speedups
from tests.rasa_side import run_check

_MISSING = object()


def _current() -> list[Any]:
    """What each attribute the patches replace holds now (as stored in its class or module)."""
    return [
        vars(item.owner).get(item.attribute, _MISSING)
        for patch in speedups.PATCHES
        for item in patch.replaces
    ]


def check_names(*expected: str) -> None:
    """The patches are those settings' rasa_speedups_off can name, in the same order."""
    assert expected == speedups.NAMES, speedups.NAMES


def check_all_installed_then_undone() -> None:
    """On the versions installed here every patch goes in; undo puts back exactly Rasa's own."""
    shipped = _current()
    assert speedups.install() == list(speedups.NAMES)
    assert all(now is not before for now, before in zip(_current(), shipped, strict=True))
    speedups.undo()
    assert all(now is before for now, before in zip(_current(), shipped, strict=True))
    assert speedups.installed() == []


def check_switched_off(*names: str) -> None:
    """Patches named off stay out, with a log line each; the others go in."""
    records = _logged(lambda: speedups.install(names))
    try:
        assert speedups.installed() == [n for n in speedups.NAMES if n not in names]
        for name in names:
            assert f"speedup {name} not installed: switched off" in records
    finally:
        speedups.undo()


def check_other_version(library: str, found: str, *skipped: str) -> None:
    """With another version of a library installed, the patches written for it stay out, with
    a log line saying which version they were written for and which was found, and the
    attributes they would replace are Rasa's own."""
    shipped = dict(zip(_replaced_names(), _current(), strict=True))
    real = importlib.metadata.version

    def version(name: str) -> str:
        return found if name == library else real(name)

    importlib.metadata.version = version
    try:
        records = _logged(speedups.install)
    finally:
        importlib.metadata.version = real
    try:
        assert skipped, "name the patches that must stay out"
        assert speedups.installed() == [n for n in speedups.NAMES if n not in skipped], records
        for patch in speedups.PATCHES:
            if patch.name in skipped:
                wanted = next(r for r in patch.requires if r.startswith(library))
                line = f"speedup {patch.name} not installed: written for {wanted}, found {found}"
                assert line in records, records
                for item in patch.replaces:
                    now = vars(item.owner).get(item.attribute, _MISSING)
                    assert now is shipped[(patch.name, item.attribute)]
    finally:
        speedups.undo()


def _replaced_names() -> list[tuple[str, str]]:
    return [(patch.name, item.attribute) for patch in speedups.PATCHES for item in patch.replaces]


def _logged(action: Any) -> str:
    """The log lines of rasa_plugins.patches while action runs."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Collect()
    patches.logger.addHandler(handler)
    patches.logger.setLevel(logging.INFO)
    try:
        action()
    finally:
        patches.logger.removeHandler(handler)
    return "\n".join(lines)


if __name__ == "__main__":
    run_check(globals())
