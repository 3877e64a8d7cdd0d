"""Per-turn latency through Rasa's REST channel: p50/p95 over KB questions and flows.

Starts its own Rasa server and action server (the same way `make run` does) unless --bot-url
points at a running one. Writes benchmarks/results/turn_latency.json.

    .venv/bin/python benchmarks/turn_latency.py --turns 240
    .venv/bin/python benchmarks/turn_latency.py --questions products --turns 210

`--questions products`: conversations of "hi", a product question of tests/catalog_questions.yml
and "thanks", answered from the synced catalogue (`bot catalog sync` first); the answer turns
(the product questions) are reported on their own too, and the results go to
results/turn_latency_products.json.
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
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import QUESTIONS  # noqa: E402
from bot.rasa_auth import RasaAuth  # noqa: E402
from bot.stack import (  # noqa: E402
    ensure_model,
    own_stack_settings,
    start_action_server,
    start_rasa,
    wait_all,
)
from bot.store.demo import DemoStore  # noqa: E402
from bot.tokens import internal_token  # noqa: E402

PRODUCT_QUESTIONS = [
    case["question"]
    for case in yaml.safe_load((ROOT / "tests" / "catalog_questions.yml").read_text())
]


def product_conversations(store: DemoStore) -> list[list[str]]:
    """A greeting, one product question, thanks: the question is the answer turn."""
    return [["hi", question, "thanks"] for question in PRODUCT_QUESTIONS]


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


def summary(latencies: list[float]) -> dict:
    """p50/p95/p99 and the mean of some turns, in ms."""
    return {
        "turns": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
    }


def run(url: str, store: DemoStore, turns: int, token: str, products: bool = False) -> dict:
    latencies: list[float] = []
    answers: list[float] = []  # the product questions' turns (with --questions products)
    errors = 0
    mix = product_conversations if products else conversations
    # Rasa takes a JWT signed with the token (bot.rasa_auth), not the token itself
    with httpx.Client(timeout=30, auth=RasaAuth(token)) as client:
        n = 0
        while len(latencies) + errors < turns:
            for conversation in mix(store):
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
                        if products and text in PRODUCT_QUESTIONS:
                            answers.append(latencies[-1])
                    except httpx.HTTPError as exc:
                        if not errors:
                            print(f"first error: {exc!r}", file=sys.stderr)
                        errors += 1
                if len(latencies) + errors >= turns:
                    break
    result = {**summary(latencies), "errors": errors}
    if products:
        result["product_answer_turns"] = summary(answers)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=240)
    parser.add_argument(
        "--questions",
        choices=("kb", "products"),
        default="kb",
        help="kb: articles and flows; products: the product questions (the catalogue's answers)",
    )
    parser.add_argument("--bot-url", help="a running Rasa server (default: start one)")
    parser.add_argument(
        "--data-dir", type=Path, help="its data dir (the demo store and Rasa's token)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    products = args.questions == "products"
    name = "turn_latency_products.json" if products else "turn_latency.json"
    args.out = args.out or ROOT / "benchmarks" / "results" / name
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
        warm = ("hi", QUESTIONS[0], PRODUCT_QUESTIONS[-1])
        for text in warm:  # warm caches; not measured
            httpx.post(
                f"{url}/webhooks/rest/webhook",
                json={"sender": "bench-warm", "message": text},
                auth=RasaAuth(token),
                timeout=60,
            )
        result = run(url, store, args.turns, token, products)
    finally:
        for server in servers:
            server.stop()
    result.update(
        {
            "command": "python benchmarks/turn_latency.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
            "concurrency": 1,
            "target_p95_ms": 80 if products else 150,
            "load_average": list(__import__("os").getloadavg()),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
