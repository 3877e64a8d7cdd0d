"""Rasa 3.6 doing the same work for less CPU: the action server's reply checked by a compiled
schema, and an event's class found by its type name without walking every class each time.

Profiling a turn (benchmarks/README.md, "Where a turn's CPU goes") showed more than half of the
Rasa server's CPU in `RemoteAction._validate_action_result`: Rasa calls `jsonschema.validate`
for every action's reply, and that function first checks the *schema itself* against the
JSON-Schema meta-schema and builds a new validator, every time. Here the validator is built and
the schema checked once; each reply is then validated exactly as `jsonschema.validate` does
(the same schema, the best-matching error raised, Rasa's own message added). A reply is first
checked one event shape at a time (`_fast_check`: the same replies pass, see its docstring),
since trying each event against all 23 shapes of the schema's `oneOf` cost 1.6 ms per reply;
only a reply that fails that goes through the full schema, for Rasa's own error.

`Event.resolve_by_type` turns a stored event's type name ("user", "slot", ...) into its class
by walking the whole tree of Event subclasses (with `inspect.isabstract` on each), for every
event of every tracker read and every action reply. Here a name found once is remembered; a
name not found walks the tree again as before (a class imported later is still found), and
unknown names still fall back to `default` or raise Rasa's error.

Nothing else about Rasa changes. `install()` runs in `rasa_plugins.serve` before Rasa starts.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event

_rasa_resolve_by_type = Event.resolve_by_type
_event_classes: dict[str, type[Event]] = {}


@functools.lru_cache(maxsize=1)
def _response_validator() -> Any:
    """The validator of an action server's reply, made once (schema checked once)."""
    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@functools.lru_cache(maxsize=1)
def _fast_check() -> Any:
    """A check that accepts exactly the replies the full schema accepts, or None.

    The schema says each event is an object with an `event` name and exactly one of 23 shapes
    (`oneOf`), each fixing the name with `const`. With the names all different, at most the
    shape of the event's own name can fit, so "exactly one fits" is "the shape of its name
    fits": one shape checked per event instead of all of them. None (always the full check) if
    the schema is not of that form.
    """
    schema = RemoteAction.action_response_format_spec()
    try:
        items = schema["properties"]["events"]["items"]
        names = [shape["properties"]["event"]["const"] for shape in items["oneOf"]]
    except (KeyError, TypeError):
        return None
    if len(set(names)) != len(names) or "event" not in items.get("required", ()):
        return None
    cls = validator_for(schema)
    outer = {**schema, "properties": {**schema["properties"], "events": {"type": "array"}}}
    item = {key: value for key, value in items.items() if key != "oneOf"}
    shapes = {name: cls(shape) for name, shape in zip(names, items["oneOf"], strict=True)}
    outer_validator, item_validator = cls(outer), cls(item)

    def valid(result: Any) -> bool:
        if not outer_validator.is_valid(result):
            return False
        for event in (result.get("events") or []) if isinstance(result, dict) else []:
            if not item_validator.is_valid(event):
                return False
            shape = shapes.get(event.get("event")) if isinstance(event.get("event"), str) else None
            if shape is None or not shape.is_valid(event):
                return False
        return True

    return valid


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """RemoteAction._validate_action_result of Rasa 3.6, with the validator built once and a
    reply that fits checked one event shape at a time; one that does not fit gets Rasa's
    error from the full schema."""
    fast = _fast_check()
    if fast is not None and fast(result):
        return True
    error = best_match(_response_validator().iter_errors(result))
    if error is None:
        return True
    if isinstance(error, ValidationError):
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
    raise error


def _resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """Event.resolve_by_type of Rasa 3.6, remembering the classes it found."""
    found = _event_classes.get(type_name)
    if found is None:
        found = _rasa_resolve_by_type(type_name, default)  # Rasa's walk, default and errors
        if found is not None and found is not default:
            _event_classes[type_name] = found
    return found


def install() -> None:
    """Put the faster check and lookup in place (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign]
