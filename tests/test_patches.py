"""The fence around patches of other people's code (rasa_plugins/patches.py), on a toy library:
versions checked, switches obeyed, every replacement undone exactly."""

from __future__ import annotations

import logging

import pytest

from rasa_plugins.patches import Patch, Replace, install, undo


class Base:
    def inherited(self) -> str:
        return "base"


class Library(Base):
    @staticmethod
    def lookup(name: str) -> str:
        return f"library {name}"


def faster_lookup(name: str) -> str:
    return f"patched {name}"


def make_patch(requires: tuple[str, ...] = ("toylib==1.2.*",)) -> Patch:
    return Patch(
        "toy",
        requires,
        (
            Replace(Library, "lookup", staticmethod(faster_lookup)),
            Replace(Library, "inherited", lambda self: "patched"),
        ),
    )


def versions(found: dict[str, str]):
    def version(name: str) -> str:
        from importlib.metadata import PackageNotFoundError

        if name not in found:
            raise PackageNotFoundError(name)
        return found[name]

    return version


def test_a_patch_goes_in_on_its_versions_and_undo_restores_the_library() -> None:
    patch = make_patch()
    assert install([patch], version=versions({"toylib": "1.2.7"})) == ["toy"]
    assert Library.lookup("x") == "patched x" and Library().inherited() == "patched"
    install([patch], version=versions({"toylib": "1.2.7"}))  # twice is once
    undo([patch])
    assert Library.lookup("x") == "library x"
    assert isinstance(vars(Library)["lookup"], staticmethod)  # stored as it was
    assert "inherited" not in vars(Library) and Library().inherited() == "base"
    assert not patch.installed


@pytest.mark.parametrize(
    ("found", "why"),
    [
        ({"toylib": "1.3.0"}, "written for toylib==1.2.*, found 1.3.0"),
        ({}, "written for toylib==1.2.*, toylib is not installed"),
    ],
)
def test_on_other_versions_a_patch_stays_out_and_the_log_says_why(
    found: dict[str, str], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    patch = make_patch()
    with caplog.at_level(logging.INFO, logger="rasa_plugins.patches"):
        assert install([patch], version=versions(found)) == []
    assert f"speedup toy not installed: {why}" in caplog.messages
    assert Library.lookup("x") == "library x"


def test_a_patch_switched_off_stays_out(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="rasa_plugins.patches"):
        assert install([make_patch()], ["toy"], versions({"toylib": "1.2.0"})) == []
    assert "speedup toy not installed: switched off" in caplog.messages
    with pytest.raises(ValueError, match=r"no speedup named nope \(known: toy\)"):
        install([make_patch()], ["nope"], versions({"toylib": "1.2.0"}))
