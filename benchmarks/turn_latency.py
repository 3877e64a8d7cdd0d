"""Per-turn latency through Rasa's REST channel: p50/p95 over KB questions and flows.

Starts its own Rasa server and action server (the same way `make run` does) unless --bot-url
points at a running one. Writes benchmarks/results/turn_latency.json.

    .venv/bin/python benchmarks/turn_latency.py --turns 240
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import QUESTIONS  # noqa: E402
from bot.stack import (  # noqa: E402
    ensure_model,
    own_stack_settings,
    start_action_server,
    start_rasa,
    wait_all,
)
from bot.store.demo import DemoStore  # noqa: E402
from bot.tokens import internal_token  # noqa: E402


def conversations(store: DemoStore) -> list[list[str]]:
    """A mix of single questions, password resets and order tracking, a few turns each."""
    number, email = store.sample("shipped")
    customer = store.customer_emails(1)[0]
    mixes = []
    for i, question in enumerate(QUESTIONS):
        mixes.append(["hi", question, "thanks"])
        if i % 3 == 0:
            mixes.append([f"where is my order {number}?", email])
        if i % 4 == 0:
            mixes.append(["I forgot my password", customer])
    return mixes


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(url: str, store: DemoStore, turns: int, token: str) -> dict:
    latencies: list[float] = []
    errors = 0
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        n = 0
        while len(latencies) + errors < turns:
            for conversation in conversations(store):
                sender = f"bench-conv-{n}"
                n += 1
                for text in conversation:
                    started = time.perf_counter()
                    try:
                        response = client.post(
                            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
                        )
                        response.raise_for_status()
                        latencies.append((time.perf_counter() - started) * 1000)
                    except httpx.HTTPError:
                        errors += 1
    return {
        "turns": len(latencies),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=240)
    parser.add_argument("--bot-url", help="a running Rasa server (default: start one)")
    parser.add_argument(
        "--data-dir", type=Path, help="its data dir (the demo store and Rasa's token)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "turn_latency.json"
    )
    args = parser.parse_args()
    servers = []
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    data_dir = args.data_dir or folder / "var"
    url = args.bot_url
    settings = own_stack_settings(folder, data_dir=data_dir)
    token = internal_token(settings, "rasa")
    if url is None:
        model, _ = ensure_model()
        servers = [start_action_server(settings, folder), start_rasa(settings, model, folder)]
        wait_all(servers)
        url = servers[1].url
    try:
        store = DemoStore(data_dir / "demo_store.db")
        for text in ("hi", QUESTIONS[0]):  # warm caches; not measured
            httpx.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": "bench-warm", "message": text},
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
        result = run(url, store, args.turns, token)
    finally:
        for server in servers:
            server.stop()
    result.update(
        {
            "command": "python benchmarks/turn_latency.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
            "concurrency": 1,
            "target_p95_ms": 150,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
