"""Fenced patches of other people's code: each says which library versions it was written for,
is put in place only on those, can be switched off by name, and can be taken out again.

This is what OpenTelemetry's instrumentors do for the libraries they wrap. A `Patch` replaces
attributes of a library's classes or modules (`Replace`) and declares requirements such as
`rasa==3.6.21`; `install` checks them against the installed distributions
(`importlib.metadata`) and puts in place only the patches whose requirements hold and that are
not switched off, logging one line for each patch it leaves out, with the reason:

    speedup action_sessions not installed: written for aiohttp==3.9.*, found 3.10.0

`undo` restores exactly what was there before (tests use it to compare with the library as
shipped). Only the standard library and `packaging` are imported here, so the fence itself is
tested without Rasa.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement

logger = logging.getLogger(__name__)

_MISSING = object()


@dataclass(frozen=True)
class Replace:
    """One attribute of a class or module, and what is put in its place."""

    owner: Any
    attribute: str
    replacement: Any


@dataclass(eq=False)
class Patch:
    """A named change to other people's code, fenced by the versions it was written for."""

    name: str
    requires: tuple[str, ...]
    replaces: tuple[Replace, ...]
    _saved: list[tuple[Replace, Any]] = field(default_factory=list, repr=False)

    def mismatch(self, version: Callable[[str], str] | None = None) -> str | None:
        """Why this patch does not fit the installed libraries, or None when it does."""
        version = version or importlib.metadata.version
        for text in self.requires:
            requirement = Requirement(text)
            try:
                found = version(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                return f"written for {text}, {requirement.name} is not installed"
            if not requirement.specifier.contains(found, prereleases=True):
                return f"written for {text}, found {found}"
        return None

    @property
    def installed(self) -> bool:
        return bool(self._saved)

    def apply(self) -> None:
        """Put the replacements in place (nothing happens when they already are)."""
        if self._saved:
            return
        for item in self.replaces:
            # a class's own attribute as stored (a staticmethod stays one); absent if inherited
            namespace = vars(item.owner)
            self._saved.append((item, namespace.get(item.attribute, _MISSING)))
            setattr(item.owner, item.attribute, item.replacement)

    def undo(self) -> None:
        """Put back what the replacements replaced (nothing happens when not installed)."""
        while self._saved:
            item, original = self._saved.pop()
            if original is _MISSING:
                delattr(item.owner, item.attribute)
            else:
                setattr(item.owner, item.attribute, original)


def install(
    patches: Iterable[Patch],
    switched_off: Iterable[str] = (),
    version: Callable[[str], str] | None = None,
) -> list[str]:
    """Put in place each patch that fits the installed libraries and is not switched off; the
    names of those now in place. Each one left out is logged with the reason."""
    patches = list(patches)
    off = set(switched_off)
    unknown = off - {patch.name for patch in patches}
    if unknown:
        known = ", ".join(patch.name for patch in patches)
        raise ValueError(f"no speedup named {', '.join(sorted(unknown))} (known: {known})")
    done = []
    for patch in patches:
        if patch.name in off:
            logger.info(f"speedup {patch.name} not installed: switched off")
            continue
        problem = patch.mismatch(version)
        if problem is not None:
            logger.warning(f"speedup {patch.name} not installed: {problem}")
            continue
        patch.apply()
        done.append(patch.name)
    logger.info(f"speedups installed: {', '.join(done) or 'none'}")
    return done


def undo(patches: Iterable[Patch]) -> None:
    """Take every patch out again, the last installed first."""
    for patch in reversed(list(patches)):
        patch.undo()
