"""What the benchmark scripts share: the customer questions they ask and how results are saved."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path

# Store questions a customer might open with (our own wording).
QUESTIONS = [
    "how long do refunds take?",
    "do you ship to canada",
    "what payment methods do you accept",
    "my promo code isn't working",
    "how do i return an item",
    "can i change my delivery address",
    "is there a fee to cancel",
    "how do i delete my account",
    "do gift cards expire",
    "what are your opening hours",
    "my package arrived damaged",
    "how long is the warranty",
]


def save(result: dict, command: str, out: Path) -> dict:
    """Add the command, machine and time to a result, write it as JSON and print it."""
    result = {
        **result,
        "command": command,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result
