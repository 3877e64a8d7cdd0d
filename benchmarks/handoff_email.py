"""A handoff turn with its email queued is as fast as one without: p50/p95 of the turn that
hands off ("I want to talk to a person"), with handoff_email_to and agent notices on and off.

With email on, the ticket's emails (the handoff to the team, an agents' notice) are written to
the outbox in the ticket's own transaction; no mail server is contacted during the turn (smtp_url
points at a closed port and no mail worker runs). Starts its own action server and Rasa server
for each setting, one after the other. Writes benchmarks/results/handoff_email.json.

    .venv/bin/python benchmarks/handoff_email.py --handoffs 60
"""

from __future__ import annotations

import argparse
import json
import os
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
    free_port,
    own_stack_settings,
    start_action_server,
    start_rasa,
    wait_all,
)
from bot.tokens import internal_token  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(model: Path, handoffs: int, email: bool) -> dict:
    """Handoff-turn latencies on a fresh stack, with the ticket's emails queued or not."""
    folder = Path(tempfile.mkdtemp(prefix="bench-mail-"))
    fields = {}
    if email:
        fields = {
            "smtp_url": f"smtp+insecure://127.0.0.1:{free_port()}",  # nothing listens there
            "handoff_email_to": "help@desk.example",
            "agent_notify_emails": ["kim@shop.example"],
        }
    settings = own_stack_settings(folder, **fields)
    token = internal_token(settings, "rasa")
    servers = [start_action_server(settings, folder), start_rasa(settings, model, folder)]
    latencies: list[float] = []
    try:
        wait_all(servers)
        url = servers[1].url + "/webhooks/rest/webhook"
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
            for n in range(handoffs + 2):  # the first two warm the caches
                sender = f"bench-handoff-{n}"
                client.post(url, json={"sender": sender, "message": QUESTIONS[n % len(QUESTIONS)]})
                started = time.perf_counter()
                response = client.post(
                    url, json={"sender": sender, "message": "I want to talk to a person"}
                )
                elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                said = response.json()
                outcomes = [m["custom"].get("outcome") for m in said if "custom" in m]
                assert "handoff" in outcomes, said
                if n >= 2:
                    latencies.append(elapsed)
        queued = 0
        if email:
            from bot.handoff.db import create_db_engine
            from bot.mail.outbox import Outbox

            engine = create_db_engine(settings.queue_url)
            queued = Outbox(engine).counts()["queued"]
            engine.dispose()
    finally:
        for server in servers:
            server.stop()
    return {
        "email": email,
        "handoffs": len(latencies),
        "emails_queued": queued,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handoffs", type=int, default=60)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "handoff_email.json"
    )
    args = parser.parse_args()
    model, _ = ensure_model()
    runs = [measure(model, args.handoffs, email) for email in (False, True)]
    result = {
        "runs": runs,
        "command": "python benchmarks/handoff_email.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
