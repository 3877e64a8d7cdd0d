"""The widget's poll: its cost at 10 and at 200 turns, through the gateway and the old way.

Starts the action server, Rasa and the web app on free ports, holds two conversations through the
chat gateway (10 and 200 customer turns), then times the poll the widget makes every few seconds
(`GET /api/chat/{id}?after=<cursor>`), and, for comparison, what the gateway used to do on every
poll: read the whole tracker from Rasa's API (`GET /conversations/{id}/tracker`).

    .venv/bin/python benchmarks/poll_cost.py [--polls 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import QUESTIONS, save  # noqa: E402
from bot.rasa_auth import RasaAuth  # noqa: E402
from bot.stack import (  # noqa: E402
    ensure_model,
    own_stack_settings,
    start_action_server,
    start_rasa,
    start_web,
    wait_all,
)
from bot.tokens import internal_token  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def hold(client: httpx.Client, web: str, conversation: str, turns: int) -> float:
    """A conversation of `turns` customer messages; the widget's cursor after the last one."""
    cursor = 0.0
    for n in range(turns):
        text = "hi" if n % 4 == 0 else QUESTIONS[n % len(QUESTIONS)]
        reply = client.post(
            f"{web}/api/chat/{conversation}/messages", params={"after": cursor}, json={"text": text}
        )
        reply.raise_for_status()
        cursor = reply.json()["cursor"]
    return cursor


def timed(
    client: httpx.Client, url: str, params: dict, polls: int, auth: RasaAuth | None = None
) -> dict:
    """p50 / p95 / mean in ms of `polls` GETs, and the size of the last answer."""
    times, size = [], 0
    for _ in range(polls):
        started = time.perf_counter()
        response = client.get(url, params=params, auth=auth)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        size = len(response.content)
    return {
        "p50_ms": round(percentile(times, 50), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "mean_ms": round(statistics.fmean(times), 2),
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--lengths", default="10,200", help="turns per conversation")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/poll_cost.json")
    args = parser.parse_args()

    model, _ = ensure_model()
    folder = Path(tempfile.mkdtemp(prefix="bot-poll-"))
    settings = own_stack_settings(folder, index_dir=args.index)
    servers = [
        start_action_server(settings, folder),
        start_rasa(settings, model, folder),
        start_web(settings, folder),
    ]
    results = {}
    try:
        wait_all(servers)
        web, rasa = servers[2].url, servers[1].url
        token = internal_token(settings, "rasa")
        with httpx.Client(timeout=60) as client:
            for turns in (int(n) for n in args.lengths.split(",")):
                conversation = f"bench-poll-{turns}"
                cursor = hold(client, web, conversation, turns)
                results[f"{turns}_turns"] = {
                    "gateway_poll_with_cursor": timed(
                        client, f"{web}/api/chat/{conversation}", {"after": cursor}, args.polls
                    ),
                    "gateway_first_load": timed(
                        client, f"{web}/api/chat/{conversation}", {}, max(args.polls // 10, 5)
                    ),
                    "old_way_full_tracker_from_rasa": timed(
                        client,
                        f"{rasa}/conversations/{conversation}/tracker",
                        {"include_events": "ALL"},
                        args.polls,
                        auth=RasaAuth(token),
                    ),
                }
    finally:
        for server in reversed(servers):
            server.stop()
    save(
        {"polls": args.polls, "results": results},
        "python benchmarks/poll_cost.py " + " ".join(sys.argv[1:]),
        args.out,
    )


if __name__ == "__main__":
    main()
