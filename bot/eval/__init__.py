"""Measuring the bot on data nobody here wrote: retrieval, routing, out-of-scope, calibration."""

from pathlib import Path

# Public datasets live beside the project (see ../shared/eval-data/README.md).
EVAL_DATA = Path("../shared/eval-data")
