"""Where a turn's CPU goes: CPU milliseconds per turn in each process, through the widget's path.

Starts the whole bot as `bot up` does (action server, Rasa, web app) on free ports, plays the
same conversations sequentially through the chat gateway (`POST /api/chat/{id}/messages`, as the
widget sends them, plus one widget poll per turn), and reads each process's CPU time (user +
system, children included) from /proc before and after. CPU time, unlike latency, hardly moves
when the machine is shared. Variants compare settings, e.g. torch's thread count:

    .venv/bin/python benchmarks/turn_cpu.py --turns 300 --variant action_torch_threads=1 \
        --variant action_torch_threads=2

Writes benchmarks/results/turn_cpu.json.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402
from benchmarks.load import tree  # noqa: E402
from benchmarks.turn_latency import conversations  # noqa: E402
from bot.stack import ensure_model, own_stack_settings, start_stack, wait_all  # noqa: E402
from bot.store.demo import DemoStore  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants, living ones."""
    total = 0.0
    for member in tree(pid):
        with contextlib.suppress(psutil.Error):  # a worker may end between listing and reading
            times = psutil.Process(member).cpu_times()
            total += times.user + times.system
    return total


def play(url: str, scripts: list[list[str]], turns: int) -> tuple[int, list[float]]:
    """Send turns (cycling through the scripts), one poll after each; the turns' latencies."""
    sent, latencies = 0, []
    with httpx.Client(base_url=url, timeout=60) as http:
        while sent < turns:
            for script in scripts:
                conversation = f"bench-{uuid.uuid4().hex[:16]}"
                cursor = 0.0
                for text in script:
                    started = time.perf_counter()
                    response = http.post(
                        f"/api/chat/{conversation}/messages",
                        params={"after": cursor},
                        json={"text": text},
                    )
                    latencies.append(time.perf_counter() - started)
                    response.raise_for_status()
                    cursor = response.json()["cursor"]
                    http.get(f"/api/chat/{conversation}", params={"after": cursor})
                    sent += 1
                    if sent >= turns:
                        return sent, latencies
    return sent, latencies


def measure(variant: dict, turns: int, index: Path, model: Path) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bot-cpu-"))
    settings = own_stack_settings(folder, index_dir=index, **variant)
    servers = start_stack(settings, model, folder)
    try:
        wait_all(servers)
        store = DemoStore(folder / "var" / "demo_store.db")
        scripts = conversations(store)
        web = next(s for s in servers if s.name == "web app").url
        play(web, scripts, 20)  # warm-up: the model and index are loaded, caches filled
        time.sleep(2)
        before = {s.name: cpu_seconds(s.process.pid) for s in servers}
        started = time.perf_counter()
        sent, latencies = play(web, scripts, turns)
        wall = time.perf_counter() - started
        after = {s.name: cpu_seconds(s.process.pid) for s in servers}
    finally:
        for server in reversed(servers):
            server.stop()
    per_turn = {name: round((after[name] - before[name]) * 1000 / sent, 1) for name in before}
    latencies.sort()
    return {
        "variant": variant,
        "turns": sent,
        "cpu_ms_per_turn": per_turn,
        "cpu_ms_per_turn_total": round(sum(per_turn.values()), 1),
        "turn_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "turn_p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
        "wall_s": round(wall, 1),
    }


def parse_variant(text: str) -> dict:
    """'name=value,name=value' into settings fields (ints where they look like ints)."""
    fields = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        fields[name.strip()] = int(value) if value.strip().isdigit() else value.strip()
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--variant", action="append", default=[], help="settings, name=value")
    parser.add_argument("--index", type=Path, default=ROOT / "index")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/turn_cpu.json")
    args = parser.parse_args()
    model, _ = ensure_model()
    variants = [parse_variant(v) for v in args.variant] or [{}]
    results = [measure(v, args.turns, args.index, model) for v in variants]
    for r in results:
        parts = ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_turn"].items())
        print(  # noqa: T201
            f"{r['variant'] or 'defaults'}: {r['cpu_ms_per_turn_total']} ms CPU per turn "
            f"({parts}); turn p50 {r['turn_p50_ms']} ms, p95 {r['turn_p95_ms']} ms"
        )
    command = "python benchmarks/turn_cpu.py --turns {} {}".format(
        args.turns, " ".join(f"--variant {v}" for v in args.variant)
    ).strip()
    save({"results": results}, command, args.out)


if __name__ == "__main__":
    main()
