"""Turn latency under load (Locust, 1/10/50 concurrent conversations) and the servers' peak RSS.

Starts its own action server, Rasa server and web app the way `make run` does, runs
benchmarks/locustfile.py headless at each user count, then reads each server's peak resident
memory (VmHWM) from /proc. Writes benchmarks/results/load.json.

    .venv/bin/python benchmarks/load.py --seconds 60
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from bot.stack import (  # noqa: E402
    ensure_model,
    own_stack_settings,
    start_action_server,
    start_rasa,
    start_web,
    wait_all,
)
from bot.store.demo import DemoStore  # noqa: E402
from bot.tokens import internal_token  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size of a process and its children (Rasa forks none; uvicorn none)."""
    total = 0
    for task in [pid, *_children(pid)]:
        status = Path(f"/proc/{task}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
        total += kb
    return round(total / 1024, 1)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def run_locust(host: str, users: int, seconds: int, env: dict, folder: Path) -> dict:
    prefix = folder / f"users{users}"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "locust"),
            "-f", str(ROOT / "benchmarks" / "locustfile.py"),
            "--headless", "--host", host,
            "-u", str(users), "-r", str(max(1, users // 5)),
            "-t", f"{seconds}s", "--csv", str(prefix), "--only-summary",
        ],
        env={**os.environ, **env},
        check=False,
        capture_output=True,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "turn")
    return {
        "users": users,
        "turns": int(row["Request Count"]),
        "errors": int(row["Failure Count"]),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
        "turns_per_s": round(float(row["Requests/s"]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="Per user count.")
    parser.add_argument("--users", default="1,10,50")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/load.json")
    args = parser.parse_args()

    model, _ = ensure_model()
    folder = Path(tempfile.mkdtemp(prefix="bot-load-"))
    settings = own_stack_settings(folder, index_dir=args.index)
    servers = {
        "action_server": start_action_server(settings, folder),
        "rasa_server": start_rasa(settings, model, folder),
        "web_app": start_web(settings, folder),
    }
    try:
        wait_all(list(servers.values()))
        store = DemoStore(folder / "var" / "demo_store.db")
        number, email = store.sample("shipped")
        load_env = {
            "LOAD_ORDER": f"{number} {email}",
            "LOAD_CUSTOMER": store.customer_emails(1)[0],
            "LOAD_TOKEN": internal_token(settings, "rasa"),
        }
        rasa_url = servers["rasa_server"].url
        run_locust(rasa_url, 2, 10, load_env, folder)  # warm-up, not reported
        levels = [
            run_locust(rasa_url, int(u), args.seconds, load_env, folder)
            for u in args.users.split(",")
        ]
        rss = {name: peak_rss_mb(s.process.pid) for name, s in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    result = {
        "levels": levels,
        "peak_rss_mb": rss,
        "think_time_s": [0.5, 1.5],
        "seconds_per_level": args.seconds,
    }
    save(result, f"python benchmarks/load.py --seconds {args.seconds}", args.out)


if __name__ == "__main__":
    main()
