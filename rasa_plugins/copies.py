"""Rasa 3.6 making the same objects with fewer steps: a new tracker's slots, and a message's
sparse features joined side by side.

Every `DialogueStateTracker` Rasa makes copies each of the domain's slots with `copy.copy`
(23 slots here): the tracker read for a turn, and again for each replay of the conversation
that turns it into states for the policies, for a form's checks and for each copy of a
tracker. `copy.copy` of a plain object goes through `__reduce_ex__` and `copyreg`, about 2 µs
per slot, most of a new tracker's 58 µs. `copy_slot` makes the same shallow copy directly (a new
instance of the slot's class with the same attribute dictionary contents): 25 µs a tracker. A
slot class that customises copying (see `_plain`) or has slot names is still copied with
`copy.copy`.

Each message's sparse features (the regex, lexical and two count-vector featurisers) are joined
into one matrix with `scipy.sparse.hstack`, which goes through `bmat`'s general path for any
grid of blocks (an object array of blocks, each block converted again): 120 µs a join, a few
joins a message. `hstack_coo` joins two COO matrices as `bmat` does (the same dtype, index
dtype, entry order and shape: the first matrix's entries, then the second's with its columns
shifted) in 40 µs, and hands anything else to `scipy.sparse.hstack`.

`install()` runs from `rasa_plugins.speedups.install()`.
"""

from __future__ import annotations

import copy
import copyreg
from typing import Any

import numpy as np
import scipy.sparse
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.features import Features
from scipy.sparse import coo_matrix
from scipy.sparse._sputils import get_index_dtype, upcast

from rasa_plugins import patches

_rasa_tracker_init = DialogueStateTracker.__init__
_rasa_combine_sparse = Features._combine_sparse_features
_COPY_HOOKS = ("__copy__", "__setstate__", "__getnewargs__", "__getnewargs_ex__")


_plain_classes: dict[type, bool] = {}


def _plain(cls: type) -> bool:
    """True when copy.copy of an instance of cls makes a new instance and updates its __dict__
    with the original's: no copy hooks (`__copy__`, `__setstate__`, `__getstate__`,
    `__getnewargs__`, `__getnewargs_ex__`, a copyreg entry), object's reduction, and no slot
    names (copyreg's)."""
    plain = _plain_classes.get(cls)
    if plain is None:
        plain = _plain_classes[cls] = (
            not any(hasattr(cls, hook) for hook in _COPY_HOOKS)
            and getattr(cls, "__getstate__", None) is getattr(object, "__getstate__", None)
            and cls not in copyreg.dispatch_table
            and cls.__reduce_ex__ is object.__reduce_ex__
            and cls.__reduce__ is object.__reduce__
            and not copyreg._slotnames(cls)  # type: ignore[attr-defined]
        )
    return plain


def copy_slot(slot: Any) -> Any:
    """copy.copy(slot), without copy's generic machinery for a plain object."""
    cls = type(slot)
    if not _plain(cls) or not hasattr(slot, "__dict__"):
        return copy.copy(slot)
    new = cls.__new__(cls)
    new.__dict__.update(slot.__dict__)
    return new


def _tracker_init(
    self: DialogueStateTracker,
    sender_id: str,
    slots: Any,
    max_event_history: int | None = None,
    sender_source: str | None = None,
    is_rule_tracker: bool = False,
) -> None:
    """DialogueStateTracker.__init__, its slots copied by copy_slot and reset as Rasa does."""
    _rasa_tracker_init(self, sender_id, None, max_event_history, sender_source, is_rule_tracker)
    if slots is not None:
        self.slots = {slot.name: copy_slot(slot) for slot in slots}
        self._reset_slots()


def hstack_coo(left: Any, right: Any) -> Any:
    """scipy.sparse.hstack([left, right]) for two COO matrices of as many rows, made directly."""
    if type(left) is not coo_matrix or type(right) is not coo_matrix:
        return scipy.sparse.hstack([left, right])
    rows, left_columns = left.shape
    if right.shape[0] != rows:
        return scipy.sparse.hstack([left, right])  # scipy's own error
    shape = (rows, left_columns + right.shape[1])
    index_dtype = get_index_dtype(maxval=max(shape))
    dtype = upcast(left.dtype, right.dtype)
    split = left.nnz
    data = np.empty(split + right.nnz, dtype=dtype)
    row = np.empty(split + right.nnz, dtype=index_dtype)
    col = np.empty(split + right.nnz, dtype=index_dtype)
    data[:split], data[split:] = left.data, right.data
    row[:split], row[split:] = left.row, right.row
    col[:split] = left.col
    np.add(right.col, left_columns, out=col[split:], dtype=index_dtype)
    return coo_matrix((data, (row, col)), shape=shape)


def _combine_sparse_features(self: Features, additional_features: Features) -> None:
    """Features._combine_sparse_features with hstack_coo (the same check and error first)."""
    if self.features.shape[0] != additional_features.features.shape[0]:
        return _rasa_combine_sparse(self, additional_features)
    self.features = hstack_coo(self.features, additional_features.features)
    self._cached_fingerprint = None
    return None


PATCHES = (
    patches.Patch(
        "slot_copies",
        "a new tracker's slots copied directly instead of by copy.copy",
        ("rasa==3.6.21",),
        (patches.Replace(DialogueStateTracker, "__init__", _tracker_init),),
    ),
    patches.Patch(
        "coo_join",
        "two COO feature matrices joined directly instead of by scipy.sparse.hstack",
        ("rasa==3.6.21", "scipy==1.10.*"),
        (patches.Replace(Features, "_combine_sparse_features", _combine_sparse_features),),
    ),
)
