"""rasa_plugins/speedups.py changes how much CPU Rasa spends, never what it does.

Rasa is in .venv-rasa, so the checks run there, as a script, and report back.
"""

from __future__ import annotations

import json
import subprocess

from bot.stack import RASA_PYTHON, ROOT, rasa_env

SCRIPT = r"""
import json
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.utils.common import all_subclasses

rasa_own = {cls.type_name: Event.resolve_by_type(cls.type_name) for cls in all_subclasses(Event)}
from rasa_plugins import speedups
speedups.install()
speedups.install()  # twice is the same as once
report = {
    "same": all(Event.resolve_by_type(n) is c for n, c in rasa_own.items()),
    "again": all(Event.resolve_by_type(n) is c for n, c in rasa_own.items()),
    "default": Event.resolve_by_type("no-such-event", UserUttered) is UserUttered,
    "topic": Event.resolve_by_type("topic") is None,
    "names": len(rasa_own),
}
try:
    Event.resolve_by_type("no-such-event")
    report["error"] = None
except ValueError as exc:
    report["error"] = str(exc)
event = Event.from_parameters({"event": "user", "text": "hi", "parse_data": {}})
report["parsed"] = type(event).__name__
print(json.dumps(report))
"""


def test_event_classes_are_found_as_rasa_finds_them() -> None:
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", SCRIPT],
        cwd=ROOT,
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["names"] > 20
    assert report["same"] and report["again"]
    assert report["default"] and report["topic"]
    assert report["error"] == "Unknown event name 'no-such-event'."
    assert report["parsed"] == "UserUttered"
