"""Rasa 3.6 doing the same work for less CPU: five patches, each fenced by rasa_plugins.patches
(the versions it was written for, a switch of its own, an undo). `PATCHES` lists them:

- `action_reply_check`: Rasa calls `jsonschema.validate` for every action's reply
  (`RemoteAction._validate_action_result`), which first checks the *schema itself* against the
  JSON-Schema meta-schema and builds a new validator, every time. Here the validator is built
  and the schema checked once; a reply is first checked one event shape at a time
  (`_fast_check`: the same replies pass, see its docstring) instead of against all 23 shapes of
  the schema's `oneOf`; only a reply that fails that goes through the full schema, which
  raises the error `jsonschema.validate` raises, with Rasa's own message added.
- `event_lookup`: `Event.resolve_by_type` turns a stored event's type name ("user", "slot", ...)
  into its class by walking the whole tree of Event subclasses, for every event of every tracker
  read and every action reply. Here a name found once is remembered; a name not found walks the
  tree again as before (a class imported later is still found), and unknown names still fall
  back to `default` or raise Rasa's error.
- `action_sessions`: `EndpointConfig.request` (how Rasa calls the action server) opens a new
  aiohttp session with `EndpointConfig.session()`, and so a new TCP connection, for every call.
  Here `session()` hands out, for each endpoint, one session per event loop that keeps its
  connections between calls (for KEEP_ALIVE_SECONDS, under what the action server or a proxy
  keeps, so a connection the other end is about to close is not reused; aiohttp never sends a
  request twice), with no cap on connections and no cookies, like a session per call. Rasa's
  own request() is unchanged: its headers, token, timeout, errors and reply. The sessions close
  after Rasa's own resources when the server stops (`rasa.core.run.close_resources`).
- `sequential_graph`: Rasa's model graph runs with `rasa_plugins.graph_runner.
  SequentialGraphRunner` instead of `DaskGraphRunner` (see there). Rasa 3.6 has no setting for
  its graph runner; the class `MessageProcessor` loads models with is replaced.
- `model_frozen`: once the model is loaded (`rasa.core.run.load_agent_on_start`), the objects
  alive then (the TensorFlow model, the domain, Rasa's modules) are left out of Python's
  garbage collection (`gc.freeze()`), so that collections of the oldest generation do not walk
  them all and stop the server; what Rasa makes afterwards (trackers, events) is collected as
  before. Loading another model into a running server would leave the
  first one's reference cycles in memory; `bot up` starts Rasa again for a new model instead.

Nothing else about Rasa changes. `install()` runs in `rasa_plugins.serve` before Rasa starts
(settings: rasa_speedups, rasa_speedups_off); what each saves is in benchmarks/README.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Iterable
from typing import Any

import aiohttp
import rasa.core.processor
import rasa.core.run
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.utils.endpoints import EndpointConfig

from bot.heap import freeze_loaded
from rasa_plugins import patches
from rasa_plugins.graph_runner import SequentialGraphRunner

# Connections to an endpoint stay open this long between calls: less than any server or proxy
# in between keeps an idle one (the action server, Sanic, 120 s; uvicorn 5 s), so a connection
# is never reused as the other end closes it. Under load a connection is reused within it.
KEEP_ALIVE_SECONDS = 4.0

logger = logging.getLogger(__name__)

_rasa_resolve_by_type = Event.resolve_by_type
_rasa_close_resources = rasa.core.run.close_resources
_rasa_load_agent_on_start = rasa.core.run.load_agent_on_start
_sessions: weakref.WeakSet[aiohttp.ClientSession] = weakref.WeakSet()
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


def _session(endpoint: EndpointConfig) -> aiohttp.ClientSession:
    """The endpoint's session for the running event loop, made on first use as Rasa's session()
    makes it (a closed one, or one of another loop, is replaced)."""
    loop = asyncio.get_running_loop()
    session: aiohttp.ClientSession | None = getattr(endpoint, "_tier0_session", None)
    if session is None or session.closed or session._loop is not loop:
        auth = None
        if endpoint.basic_auth:
            auth = aiohttp.BasicAuth(
                endpoint.basic_auth["username"], endpoint.basic_auth["password"]
            )
        # with connections kept between calls; as with a session per call: no cap on
        # connections, no cookies carried from one call to the next
        session = aiohttp.ClientSession(
            headers=endpoint.headers,
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEP_ALIVE_SECONDS),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        endpoint._tier0_session = session  # type: ignore[attr-defined]
        _sessions.add(session)
    return session


async def _close_resources(app: Any, loop: Any) -> None:
    """Rasa's close_resources (after the server stops), then the endpoints' kept sessions."""
    await _rasa_close_resources(app, loop)
    running = asyncio.get_running_loop()
    for session in list(_sessions):
        if not session.closed and session._loop is running:
            await session.close()


async def _load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
    """Rasa's load_agent_on_start, then the loaded objects left out of garbage collection."""
    agent = await _rasa_load_agent_on_start(*args, **kwargs)
    freeze_loaded("the model")
    return agent


class _KeptSession:
    """What `async with endpoint.session()` enters: the endpoint's kept session, left open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc_info: object) -> None:
        return None  # kept for the next call; closed by _close_resources


def _kept_session(self: EndpointConfig) -> _KeptSession:
    """EndpointConfig.session for Rasa's `async with self.session() as session` (its request()
    and its model-server pull, the only callers): the kept session instead of a new one."""
    return _KeptSession(_session(self))


PATCHES = (
    patches.Patch(
        "action_reply_check",
        ("rasa==3.6.21",),
        (patches.Replace(RemoteAction, "_validate_action_result", _validate_action_result),),
    ),
    patches.Patch(
        "event_lookup",
        ("rasa==3.6.21",),
        (patches.Replace(Event, "resolve_by_type", staticmethod(_resolve_by_type)),),
    ),
    patches.Patch(
        "action_sessions",
        ("rasa==3.6.21", "aiohttp==3.9.*"),
        (
            patches.Replace(EndpointConfig, "session", _kept_session),
            # registered when the server starts, so in place before it starts
            patches.Replace(rasa.core.run, "close_resources", _close_resources),
        ),
    ),
    patches.Patch(
        "sequential_graph",
        ("rasa==3.6.21",),
        (patches.Replace(rasa.core.processor, "DaskGraphRunner", SequentialGraphRunner),),
    ),
    patches.Patch(
        "model_frozen",
        ("rasa==3.6.21",),
        (patches.Replace(rasa.core.run, "load_agent_on_start", _load_agent_on_start),),
    ),
)
NAMES = tuple(patch.name for patch in PATCHES)


def install(switched_off: Iterable[str] = ()) -> list[str]:
    """Put in place every patch that fits the installed libraries and is not switched off
    (idempotent); the names of those in place. The log names each one left out, and why."""
    return patches.install(PATCHES, switched_off)


def undo() -> None:
    """Rasa as shipped again: every patch taken out."""
    patches.undo(PATCHES)


def installed() -> list[str]:
    """The names of the patches in place now."""
    return [patch.name for patch in PATCHES if patch.installed]
