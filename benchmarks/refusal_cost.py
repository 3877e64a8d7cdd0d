"""What one refused request costs the web app: CPU per 429 inside the ASGI app (its middleware, the
route, the limit), without HTTP parsing, and with --profile where that time goes (cProfile).

The app is built as `bot serve` builds it (database counter, in a temporary folder); one address
opens a conversation (201), and every later request of it is refused from the worker's memory of
the refusal (bot.web.limits.RateLimits), as an abusive script's are:

    .venv/bin/python benchmarks/refusal_cost.py                  # 3,000 refusals
    .venv/bin/python benchmarks/refusal_cost.py --profile        # and the top of the profile

HAProxy's refusal, for comparison, is measured by benchmarks/load.py --edge (its CPU per window).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.stack import own_stack_settings  # noqa: E402
from bot.web.app import create_app  # noqa: E402

PATH = "/api/chat/conversations"


async def refused(app, path: str = PATH) -> int:
    """One POST through the whole ASGI app; its status."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"shop"), (b"content-length", b"0")],
        "client": ("192.0.2.1", 50000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"]


async def measure(requests: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="refusal-cost-") as folder:
        settings = own_stack_settings(Path(folder), conversations_per_hour_per_address=1)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            statuses = [await refused(app), await refused(app)]
            if statuses != [201, 429]:
                raise SystemExit(f"expected 201 then 429, got {statuses}")
            started = time.process_time()
            for _ in range(requests):
                await refused(app)
            cpu = time.process_time() - started
            print(f"{cpu / requests * 1000:.3f} ms of CPU per refusal ({requests} refusals)")
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(requests):
                    await refused(app)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="Refusals timed (3000).")
    parser.add_argument("--profile", action="store_true", help="Print where the time goes.")
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.profile))


if __name__ == "__main__":
    main()
