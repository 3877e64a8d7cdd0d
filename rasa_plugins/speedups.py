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

`EndpointConfig.request` (how Rasa calls the action server) opens a new aiohttp session with
`EndpointConfig.session()`, and so a new TCP connection, for every call, and closes it after one
reply. Here `session()` hands out, for each endpoint, one session per event loop that keeps its
connections between calls (for KEEP_ALIVE_SECONDS, under what the action server or a proxy
keeps, so a connection the other end is about to close is not reused; aiohttp never sends a
request twice), with no cap on connections and no cookies, like a session per call. Rasa's own
request() is unchanged: its headers, token, timeout, errors and reply. The sessions close after
Rasa's own resources when the server stops.

DIET (`RasaModel._rasa_predict`) calls its prediction through a `tf.function` made with a fixed
input signature, so it has exactly one traced function; every call still goes through
TensorFlow's dispatch (matching the call to a trace, converting each input by the signature),
about a millisecond per message. Here, once that function is traced, it is called directly:
each input converted to a tensor of its spec's dtype and checked against the spec, as
TensorFlow's dispatch does, then handed to the traced function (`_call_flat`), so the same
inputs give the same outputs; inputs it does not take go the usual way.

A new tracker's slot copies and the joining of a message's sparse features are made with fewer
steps by `rasa_plugins.copies` (see there).

Rasa's model graph runs with `rasa_plugins.graph_runner.SequentialGraphRunner` instead of
`DaskGraphRunner` (see there).

Once the model is loaded, the objects alive then (the TensorFlow model, the domain, Rasa's
modules: about 640,000 objects) are left out of Python's garbage collection (`gc.freeze()`).
Under load, each collection of the oldest generation walked them all and stopped the server for
0.3-0.6 s; what Rasa makes afterwards (trackers, events) is collected as before. Loading another
model into a running server would leave the first one's reference cycles in memory; `bot up`
starts Rasa again for a new model instead.

Nothing else about Rasa changes. `install()` runs in `rasa_plugins.serve` before Rasa starts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Iterable
from typing import Any

import aiohttp
import numpy as np
import rasa.core.processor
import rasa.core.run
import tensorflow as tf
from jsonschema import ValidationError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.shared.constants import DIAGNOSTIC_DATA, DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.utils.endpoints import EndpointConfig
from rasa.utils.tensorflow import models

from bot.heap import freeze_loaded
from rasa_plugins import copies, patches
from rasa_plugins.graph_runner import SequentialGraphRunner

# Connections to an endpoint stay open this long between calls: less than any server or proxy
# in between keeps an idle one (the action server, Sanic, 120 s; uvicorn 5 s), so a connection
# is never reused as the other end closes it. Under load a connection is reused within it.
KEEP_ALIVE_SECONDS = 4.0

logger = logging.getLogger(__name__)

_rasa_resolve_by_type = Event.resolve_by_type
_rasa_predict = models.RasaModel._rasa_predict
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


def _signature_inputs(signature: Any, batch_in: Any) -> list[Any] | None:
    """DIET's inputs as its traced function takes them, converted as TensorFlow converts them
    for a call (`cast_inputs_to_signature`: each array to a tensor of its spec's dtype, then
    checked against the spec); None when they are not one array or tensor per spec."""
    specs = signature[0] if signature and len(signature) == 1 else None
    if not isinstance(batch_in, (tuple, list)) or specs is None or len(batch_in) != len(specs):
        return None
    inputs = []
    for value, spec in zip(batch_in, specs, strict=True):
        if tf.is_tensor(value):
            tensor = value
        elif isinstance(value, np.ndarray):
            tensor = tf.convert_to_tensor(value, dtype_hint=spec.dtype)
        else:
            return None
        if not spec.is_compatible_with(tensor):
            return None
        inputs.append(tensor)
    return inputs


def _predict(self: models.RasaModel, batch_in: Any) -> dict[str, Any]:
    """RasaModel._rasa_predict of Rasa 3.6 calling its one traced function directly."""
    step = self._tf_predict_step
    if step is None or self._run_eagerly or not self.prepared_for_prediction:
        return _rasa_predict(self, batch_in)  # the first call traces the function
    concrete = self.__dict__.get("_tier0_concrete")
    if concrete is None:
        concrete = step.get_concrete_function()  # the only one: the signature is fixed
        object.__setattr__(self, "_tier0_concrete", concrete)  # not a tracked Keras attribute
    self._training = False
    try:
        inputs = _signature_inputs(step.input_signature, batch_in)
        if inputs is None:
            raw = concrete(batch_in)
        else:
            raw = concrete._call_flat(inputs, concrete.captured_inputs)
    except (TypeError, ValueError):  # an input the signature would have converted
        return _rasa_predict(self, batch_in)
    outputs = models.tf_utils.sync_to_numpy_or_python_type(raw)
    if DIAGNOSTIC_DATA in outputs:
        outputs[DIAGNOSTIC_DATA] = self._empty_lists_to_none_in_dict(outputs[DIAGNOSTIC_DATA])
    return outputs


PATCHES = (
    patches.Patch(
        "action_reply_check",
        "an action server's reply checked by a schema validator built once, one event shape at "
        "a time",
        ("rasa==3.6.21",),
        (patches.Replace(RemoteAction, "_validate_action_result", _validate_action_result),),
    ),
    patches.Patch(
        "event_lookup",
        "an event's class found by its type name once, then remembered",
        ("rasa==3.6.21",),
        (patches.Replace(Event, "resolve_by_type", staticmethod(_resolve_by_type)),),
    ),
    patches.Patch(
        "action_sessions",
        "one aiohttp session per endpoint and event loop, its connections kept between calls",
        ("rasa==3.6.21", "aiohttp==3.9.*"),
        (
            patches.Replace(EndpointConfig, "session", _kept_session),
            # registered when the server starts, so in place before it starts
            patches.Replace(rasa.core.run, "close_resources", _close_resources),
        ),
    ),
    patches.Patch(
        "sequential_graph",
        "the model graph run node after node by rasa_plugins.graph_runner, not by dask",
        ("rasa==3.6.21",),
        (patches.Replace(rasa.core.processor, "DaskGraphRunner", SequentialGraphRunner),),
    ),
    patches.Patch(
        "model_frozen",
        "the objects alive once the model is loaded left out of garbage collection",
        ("rasa==3.6.21",),
        (patches.Replace(rasa.core.run, "load_agent_on_start", _load_agent_on_start),),
    ),
    patches.Patch(
        "diet_direct_call",
        "DIET's one traced function called with its converted inputs (TensorFlow's _call_flat)",
        ("rasa==3.6.21", "tensorflow==2.12.*"),
        (patches.Replace(models.RasaModel, "_rasa_predict", _predict),),
    ),
    *copies.PATCHES,
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
