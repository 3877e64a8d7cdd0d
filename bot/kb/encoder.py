"""The question encoder of the live bot: the same MiniLM, run by ONNX Runtime instead of torch.

Profiling a turn under load (benchmarks/README.md, "Where a turn's CPU goes") put most of the
action server's CPU in the embedding of the customer's question by torch. ONNX Runtime runs the
same network, exported from the same weights, for less CPU, and the action server does not load
torch at all (less memory per worker; the figures are in benchmarks/README.md).

sentence-transformers has an ONNX backend, but it needs `optimum`, whose ONNX exporter pins
transformers 4 (we run 5), so the export is done here with torch's own exporter and the two
steps sentence-transformers adds after the network (mean pooling over the attention mask, L2
normalisation, as the model's `modules.json` says) are done with numpy.

- `export(model_name, folder)` runs at build time, never in a request: it loads the model with
  sentence-transformers, exports the transformer to `model.onnx`, copies its tokenizer, and
  checks the ONNX encoder against sentence-transformers on probe texts (short, long past the
  model's 256 tokens, a padded batch): it is written only if every vector agrees within
  MAX_DIFFERENCE, so retrieval is unchanged. The folder is named after a fingerprint of the
  model's files: a changed model gets a new export, never a stale one.
- `ensure(model_name, encoder_dir)` finds that folder or makes it, in a child process (torch is
  never imported into the caller), under a file lock (several workers may start at once).
- `OnnxEncoder(folder)` loads it with onnxruntime and `tokenizers`; `encode` / `encode_query`
  behave as `Embedder`'s do. `load_query_encoder` is what the action server uses: the ONNX
  encoder, or sentence-transformers (with the reason in the log) when it cannot be made.

`python -m bot.kb.encoder MODEL FOLDER` is the child's entry point.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bot.kb.embedder import ModelNotAvailable, canonical_model_name, resolve_model_path

if TYPE_CHECKING:
    import numpy as np

    from bot.kb.embedder import Embedder
    from bot.kb.search import QueryEncoder

logger = logging.getLogger(__name__)

FORMAT = 1
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST = "encoder.json"
MAX_DIFFERENCE = 1e-4  # largest difference allowed in any vector component (unit vectors)
EXPORT_TIMEOUT_SECONDS = 600
# besides every file of the model's folder, the fingerprint covers the libraries that run it on
# either side: an upgrade of any of them gets a new export, checked again
LIBRARIES = ("sentence-transformers", "transformers", "tokenizers", "torch", "onnxruntime")
PROBES = [
    "hi",
    "Where is my order?",
    "how do I return a pair of shoes I bought last week, the box is damaged",
    "Can I change the delivery address after I placed my order? I typed the wrong street.",
    "  Où est ma commande ? L'adresse était fausse 🙂  ",  # accents, emoji, outer spaces
    "配送状况 order #100-9246\tplease",
    "refund " * 300,  # past the model's 256 tokens: truncated the same way
]


class EncoderUnavailable(RuntimeError):
    """The ONNX encoder cannot be made or loaded; the message says why."""


def fingerprint(model_name: str) -> str:
    """A short hash of the model's files (weights, tokenizer, configuration) and of the versions
    of the libraries that run it."""
    from importlib.metadata import PackageNotFoundError, version

    root = Path(resolve_model_path(model_name))
    if not root.is_dir():
        raise ModelNotAvailable(f"embedding model {model_name!r} is not a local folder")
    digest = hashlib.sha256(f"{FORMAT}\0{canonical_model_name(model_name)}".encode())
    for library in LIBRARIES:
        try:
            digest.update(f"\0{library}={version(library)}".encode())
        except PackageNotFoundError:
            digest.update(f"\0{library}=-".encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"\0{path.relative_to(root).as_posix()}\0".encode())
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def folder_for(model_name: str, encoder_dir: Path) -> Path:
    """Where the export of this model (as it is on this machine) lives."""
    name = canonical_model_name(model_name).replace("/", "--")
    return encoder_dir / f"{name}-{fingerprint(model_name)}"


def is_complete(folder: Path) -> bool:
    """True when the folder holds a checked export."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return (
        manifest.get("format") == FORMAT
        and manifest.get("checked") is True
        and (folder / MODEL_FILE).is_file()
        and (folder / TOKENIZER_FILE).is_file()
    )


def ensure(model_name: str, encoder_dir: Path) -> Path:
    """The checked ONNX export of the model, made first (in a child process) if missing."""
    folder = folder_for(model_name, encoder_dir)
    if is_complete(folder):
        return folder
    encoder_dir.mkdir(parents=True, exist_ok=True)
    with _locked(encoder_dir / ".export.lock"):
        if is_complete(folder):  # another worker made it while this one waited
            return folder
        for left in encoder_dir.glob(".export-*"):  # an export that was killed half-way
            shutil.rmtree(left, ignore_errors=True)
        command = [sys.executable, "-m", "bot.kb.encoder", model_name, str(folder)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired as exc:
            raise EncoderUnavailable(
                f"exporting {model_name} to ONNX took over {EXPORT_TIMEOUT_SECONDS} s"
            ) from exc
        if done.returncode != 0 or not is_complete(folder):
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise EncoderUnavailable(f"exporting {model_name} to ONNX failed: {reason}")
        prefix = folder.name.rsplit("-", 1)[0] + "-"
        for older in encoder_dir.glob(f"{prefix}*"):  # exports of the model as it was before
            if older != folder and len(older.name) == len(folder.name):
                shutil.rmtree(older, ignore_errors=True)
    return folder


def export(model_name: str, folder: Path) -> dict:
    """Export the model's transformer to ONNX in `folder`, checked against sentence-transformers.

    Written to a temporary sibling and renamed, so a crash leaves no half export behind.
    """
    import numpy as np
    import torch

    from bot.kb.embedder import Embedder

    torch.set_num_threads(1)
    embedder = Embedder(model_name)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        _export_network(embedder, staging / MODEL_FILE)
        shutil.copyfile(
            Path(resolve_model_path(model_name)) / TOKENIZER_FILE, staging / TOKENIZER_FILE
        )
        encoder = OnnxEncoder(staging, max_tokens=embedder.max_tokens, threads=1)
        expected = embedder.encode(PROBES)
        one_by_one = np.vstack([encoder.encode_query(text) for text in PROBES])
        batched = encoder.encode(PROBES)
        difference = float(
            max(np.abs(expected - one_by_one).max(), np.abs(expected - batched).max())
        )
        if difference > MAX_DIFFERENCE:
            raise EncoderUnavailable(
                f"the ONNX export of {model_name} differs from sentence-transformers by "
                f"{difference:.2e} (allowed {MAX_DIFFERENCE:.0e}); keeping torch"
            )
        manifest = {
            "format": FORMAT,
            "model": canonical_model_name(model_name),
            "fingerprint": folder.name.rsplit("-", 1)[-1],
            "dimension": embedder.dimension,
            "max_tokens": embedder.max_tokens,
            "pooling": "mean",
            "normalize": True,
            "checked": True,
            "max_difference": difference,
            "probes": len(PROBES),
            "exported_with": {"torch": torch.__version__, "onnxruntime": _ort_version()},
            "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from servers run by another user
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


class OnnxEncoder:
    """Texts to L2-normalised float32 vectors with the exported network (no torch): the
    customers' questions, and the articles a live save embeds (`load_live_embedder`)."""

    def __init__(self, folder: Path, max_tokens: int | None = None, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - both are dependencies
            raise EncoderUnavailable(f"onnxruntime or tokenizers is missing: {exc}") from exc
        manifest_path = folder / MANIFEST
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        self.folder = folder
        self.max_tokens = int(max_tokens or manifest.get("max_tokens") or 256)
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        # the file's own settings (128, fixed padding) are not what sentence-transformers uses
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self.name = canonical_model_name(manifest.get("model") or folder.name.rsplit("-", 1)[0])
        # counts tokens as the chunker needs them: the whole text, no special tokens (the
        # model's own tokenizer's `tokenize`, which Embedder.count_tokens uses)
        self._counter = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._counter.no_padding()
        self._counter.no_truncation()
        self.dimension = int(manifest.get("dimension") or self.encode(["probe"]).shape[1])

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for this text, special tokens excluded (as Embedder's)."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def encode(
        self,
        texts: list[str],
        batch_size: int = 32,
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed texts as `Embedder.encode` does: truncated, mean-pooled, unit length.

        Like sentence-transformers, the texts are batched in order of length (each batch pads
        to similar lengths) and the vectors returned in the texts' order; on_progress gets
        the number done after each batch."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([str(text) for text in texts])
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        vectors: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            part = self._batch([encodings[i] for i in rows])
            if vectors is None:
                vectors = np.zeros((len(texts), part.shape[1]), dtype=np.float32)
            vectors[rows] = part
            if on_progress is not None:
                on_progress(len(rows))
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one question as a (1, dimension) array."""
        return self.encode([text])

    def _batch(self, encodings: list) -> np.ndarray:
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        (states,) = self.session.run(
            None,
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)


def load_query_encoder(model_name: str, encoder_dir: Path, threads: int = 1) -> QueryEncoder:
    """The ONNX encoder of the model (exported first if needed); sentence-transformers on torch,
    with the reason logged, if it cannot be made here."""
    try:
        return OnnxEncoder(ensure(model_name, encoder_dir), threads=threads)
    except Exception as exc:  # noqa: BLE001 - any failure here leaves questions to torch
        logger.warning(
            f"question encoder: using sentence-transformers on torch instead of ONNX: {exc}"
        )
        from bot.kb.embedder import Embedder

        return Embedder(model_name)


def load_live_embedder(model_name: str, encoder_dir: Path, onnx: bool = True) -> Embedder:
    """What embeds a saved article's chunks and phrasings in the live indexer (bot.kb.live):
    the ONNX encoder on one thread (exported first if needed), else sentence-transformers on
    one torch thread, with the reason logged.

    One thread: a save embeds a handful of texts, and two torch threads on a busy machine
    spend more time waiting for each other than computing (0.5 CPU-s and 1 s for an
    article's two phrasings at load 7, against 11 ms on one; benchmarks/README.md, "One save's
    embedding"). ONNX Runtime takes half torch's CPU for the same vectors (within
    MAX_DIFFERENCE, as a text embedded in another batch differs) and does not load torch."""
    if onnx:
        try:
            return OnnxEncoder(ensure(model_name, encoder_dir), threads=1)  # type: ignore[return-value]
        except Exception as exc:  # noqa: BLE001 - any failure here leaves the saves to torch
            logger.warning(f"kb_watch: embedding with sentence-transformers on torch: {exc}")
    from bot.kb.embedder import Embedder

    return Embedder(model_name, threads=1)


def _export_network(embedder: Embedder, path: Path) -> None:
    """torch's TorchScript exporter over the transformer, batch and length left dynamic."""
    import torch

    network = embedder.model[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
            return self.network(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    inputs = (sample, (sample > 0).long(), torch.zeros_like(sample))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it keeps dynamic
        torch.onnx.export(
            LastHiddenState().eval(),
            inputs,
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]
            },
            opset_version=17,
            dynamo=False,
        )


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> None:
    """`python -m bot.kb.encoder MODEL FOLDER`: export and check (run by `ensure`)."""
    if len(sys.argv) != 3:
        sys.exit("usage: python -m bot.kb.encoder MODEL FOLDER")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = Path(sys.argv[2])
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        manifest = export(sys.argv[1], folder)
    except (EncoderUnavailable, ModelNotAvailable) as exc:
        sys.exit(str(exc))
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
