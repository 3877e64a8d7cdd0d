"""The Rasa model: named by a hash of what training reads, trained only when that changed."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from bot.stack.env import rasa_env
from bot.stack.paths import RASA_BIN, ROOT
from bot.stack.plan import StackError

RASA_INPUTS = ("config.yml", "domain.yml", "data")


def model_fingerprint(root: Path = ROOT) -> str:
    """A hash of everything training reads: the config, the domain and the training data."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for name in RASA_INPUTS:
        path = root / name
        files.extend(sorted(p for p in path.rglob("*.yml")) if path.is_dir() else [path])
    for file in files:
        digest.update(
            file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes() + b"\0"
        )
    return digest.hexdigest()[:16]


def model_path(root: Path = ROOT) -> Path:
    """Where the model for the current data lives (it may not exist yet)."""
    return root / "models" / f"tier0-{model_fingerprint(root)}.tar.gz"


def ensure_model(root: Path = ROOT, log: Path | None = None) -> tuple[Path, bool]:
    """Train unless a model for exactly this data exists; returns (path, trained_now)."""
    target = model_path(root)
    if target.exists():
        return target, False
    log = log or root / "models" / "train.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        result = subprocess.run(
            [
                str(RASA_BIN),
                "train",
                "--fixed-model-name",
                target.name.removesuffix(".tar.gz"),
                "--out",
                str(target.parent),
            ],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=rasa_env(),
            check=False,
        )
    if result.returncode != 0 or not target.exists():
        raise StackError(f"rasa train failed (exit {result.returncode}); see {log}")
    for old in target.parent.glob("tier0-*.tar.gz"):
        if old != target:
            old.unlink()
    return target, True
